"""Bridge networks with real namespaces: addresses, routes, reachability, isolation, modes."""

from __future__ import annotations

import os
import secrets

import pytest
from netsupport import free_subnets, ns_run, unique_name
from pyroute2 import IPRoute

from dockyard.errors import Conflict, Forbidden, InvalidParameter, NotFound
from dockyard.network.service import NetworkService


def cid() -> str:
    return secrets.token_hex(32)


def test_default_bridge_exists_with_docker_shape(service):
    bridge = service.inspect("bridge")
    assert bridge["Driver"] == "bridge" and bridge["Scope"] == "local"
    assert bridge["Options"]["com.docker.network.bridge.default_bridge"] == "true"
    name = bridge["Options"]["com.docker.network.bridge.name"]
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=name)[0]
        addrs = [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=2)]
    assert addrs == [bridge["IPAM"]["Config"][0]["Gateway"]]
    names = [n["Name"] for n in service.list()]
    assert {"bridge", "host", "none"} <= set(names)
    assert service.inspect("host")["Driver"] == "host"
    assert service.inspect("none")["Driver"] == "null"


def test_two_containers_reach_each_other(service):
    subnet = free_subnets(1)[0]
    net = unique_name("net")
    service.create(net, subnet=subnet)
    a, b = cid(), cid()
    pa, pb = service.sandbox_create(a), service.sandbox_create(b)
    ea = service.connect(net, a, "alpha", aliases=["web"])
    eb = service.connect(net, b, "beta")
    assert ea.ifname == "eth0" and ea.host_ifname.startswith("veth") and len(ea.host_ifname) == 11
    assert ea.mac_address == "02:42:" + ":".join(f"{int(x):02x}" for x in ea.ip_address.split("."))
    ns_run(pb, "ping", "-c1", "-W2", ea.ip_address, check=True)
    ns_run(pa, "ping", "-c1", "-W2", eb.ip_address, check=True)
    route = ns_run(pa, "ip", "route", check=True).stdout
    assert f"default via {ea.gateway} dev eth0" in route
    links = ns_run(pa, "ip", "-o", "link", check=True).stdout
    assert ea.mac_address in links and "lo:" in links
    info = service.inspect(net)
    assert info["Containers"][a]["IPv4Address"] == f"{ea.ip_address}/24"
    assert info["Containers"][b]["Name"] == "beta"
    settings = service.endpoint_settings(a)
    assert settings["Networks"][net]["IPAddress"] == ea.ip_address
    assert settings["Networks"][net]["DNSNames"] == ["alpha", "web", a[:12]]
    assert settings["SandboxKey"] == pa


def test_second_network_and_disconnect_while_running(service):
    s1, s2 = free_subnets(2)
    n1, n2 = unique_name("n1"), unique_name("n2")
    service.create(n1, subnet=s1)
    service.create(n2, subnet=s2)
    a = cid()
    path = service.sandbox_create(a)
    e1 = service.connect(n1, a, "multi")
    e2 = service.connect(
        n2, a, "multi", ipv4_address=s2.replace("0/24", "77"), mac_address="02:42:de:ad:be:ef"
    )
    assert e2.mac_address == "02:42:de:ad:be:ef"
    assert "02:42:de:ad:be:ef" in ns_run(path, "ip", "-o", "link").stdout
    assert (e1.ifname, e2.ifname) == ("eth0", "eth1")
    assert e2.ip_address.endswith(".77")
    route = ns_run(path, "ip", "route", check=True).stdout
    assert route.count("default") == 1 and f"via {e1.gateway}" in route
    service.disconnect(n1, a)
    route = ns_run(path, "ip", "route", check=True).stdout
    assert "eth0" not in ns_run(path, "ip", "-o", "link").stdout
    assert f"default via {e2.gateway}" in route  # the default route moved to the other network
    with IPRoute() as ipr:
        assert not ipr.link_lookup(ifname=e1.host_ifname)
    with pytest.raises(Forbidden, match="is not connected to network"):
        service.disconnect(n1, a)


def test_isolation_between_networks(service):
    s1, s2 = free_subnets(2)
    n1, n2 = unique_name("i1"), unique_name("i2")
    service.create(n1, subnet=s1)
    service.create(n2, subnet=s2)
    a, b, c = cid(), cid(), cid()
    pa = service.sandbox_create(a)
    service.sandbox_create(b)
    service.sandbox_create(c)
    service.connect(n1, a, "a")
    eb = service.connect(n1, b, "b")
    ec = service.connect(n2, c, "c")
    ns_run(pa, "ping", "-c1", "-W2", eb.ip_address, check=True)
    assert ns_run(pa, "ping", "-c1", "-W1", ec.ip_address).returncode != 0


def test_internal_network_has_no_route_out(service):
    s1, s2 = free_subnets(2)
    internal, other = unique_name("in"), unique_name("ot")
    service.create(internal, subnet=s1, internal=True)
    service.create(other, subnet=s2)
    a, b, c = cid(), cid(), cid()
    pa = service.sandbox_create(a)
    service.sandbox_create(b)
    service.sandbox_create(c)
    service.connect(internal, a, "a")
    eb = service.connect(internal, b, "b")
    ec = service.connect(other, c, "c")
    assert service.inspect(internal)["Internal"] is True
    route = ns_run(pa, "ip", "route", check=True).stdout
    assert "default" not in route
    # no route: the kernel refuses without sending a packet
    assert ns_run(pa, "ip", "route", "get", "192.0.2.200").returncode != 0
    ns_run(pa, "ping", "-c1", "-W2", eb.ip_address, check=True)
    assert ns_run(pa, "ping", "-c1", "-W1", ec.ip_address).returncode != 0


def test_network_modes_none_and_container(service):
    a, b = cid(), cid()
    path = service.sandbox_create(a)
    service.connect("none", a, "lonely")
    links = ns_run(path, "ip", "-o", "link", check=True).stdout.splitlines()
    assert len(links) == 1 and "lo:" in links[0] and "UP" in links[0]
    assert service.endpoint_settings(a)["Networks"]["none"]["IPAddress"] == ""
    # container:ID shares the namespace path
    assert service.sandbox_path(a) == path
    assert service.sandbox_path(b) is None
    with pytest.raises(Forbidden):
        service.connect("bridge", a, "lonely")
    h = cid()
    service.connect("host", h, "hosty")
    assert list(service.endpoint_settings(h)["Networks"]) == ["host"]
    with pytest.raises(Forbidden, match="host network"):
        service.connect("bridge", h, "hosty")


def test_default_bridge_rejects_aliases_and_static_ip(service):
    a = cid()
    service.sandbox_create(a)
    with pytest.raises(InvalidParameter, match="network-scoped alias"):
        service.connect("bridge", a, "x", aliases=["y"])
    with pytest.raises(InvalidParameter, match="supported on user defined networks only"):
        service.connect("bridge", a, "x", ipv4_address="10.1.2.3")
    pooled = unique_name("pool")
    service.create(pooled)
    with pytest.raises(InvalidParameter, match="user configured subnets"):
        service.connect(pooled, a, "x", ipv4_address="10.1.2.3")
    ep = service.connect("bridge", a, "x")
    settings = service.endpoint_settings(a)
    assert (
        settings["IPAddress"] == ep.ip_address
        and settings["Networks"]["bridge"]["DNSNames"] is None
    )
    with pytest.raises(Forbidden, match="already exists in network bridge"):
        service.connect("bridge", a, "x")


def test_bad_input_gives_docker_errors_and_leaves_nothing(service):
    s1, s2 = free_subnets(2)
    name = unique_name("bad")
    service.create(name, subnet=s1, labels={"a": "b"})
    before = {n["Id"] for n in service.list()}
    with IPRoute() as ipr:
        links_before = {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    with pytest.raises(Forbidden, match="Pool overlaps with other one on this address space"):
        service.create(unique_name("ov"), subnet=s1)
    with pytest.raises(InvalidParameter, match="no matching subnet for gateway 10.0.0.1"):
        service.create(unique_name("gw"), subnet=s2, gateway="10.0.0.1")
    with pytest.raises(InvalidParameter, match="no matching subnet for ip-range"):
        service.create(unique_name("rg"), subnet=s2, ip_range="10.0.0.0/28")
    with pytest.raises(Conflict, match=f"network with name {name} already exists"):
        service.create(name, subnet=s2)
    with pytest.raises(NotFound, match='plugin "overlay" not found'):
        service.create(unique_name("ov"), driver="overlay")
    with pytest.raises(NotFound, match="network nosuchnet not found"):
        service.inspect("nosuchnet")
    with pytest.raises(Forbidden, match="pre-defined network"):
        service.remove("bridge")
    a = cid()
    service.sandbox_create(a)
    ep = service.connect(name, a, "holder")
    with pytest.raises(Forbidden, match=f"network {name} has active endpoints"):
        service.remove(name)
    b = cid()
    service.sandbox_create(b)
    with pytest.raises(Conflict, match="Address already in use"):
        service.connect(name, b, "other", ipv4_address=ep.ip_address)
    assert b not in service.inspect(name)["Containers"]
    assert {n["Id"] for n in service.list()} == before
    with IPRoute() as ipr:
        links_after = {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    assert links_after - links_before == {ep.host_ifname}
    service.disconnect(name, a)
    service.remove(name)
    with pytest.raises(NotFound):
        service.inspect(name)


def test_user_network_gets_pool_subnet_and_ip_range(service):
    first = service.create(unique_name("p1"))
    second = service.create(unique_name("p2"))
    c1 = service.inspect(first["Id"])["IPAM"]["Config"][0]
    c2 = service.inspect(second["Id"])["IPAM"]["Config"][0]
    assert c1["Subnet"] != c2["Subnet"] and c1["Gateway"].endswith(".1")
    s = free_subnets(1)[0]
    ranged = unique_name("rng")
    base = s.rsplit(".", 1)[0]
    service.create(ranged, subnet=s, ip_range=f"{base}.128/25", gateway=f"{base}.254")
    a = cid()
    service.sandbox_create(a)
    ep = service.connect(ranged, a, "r")
    assert ep.ip_address == f"{base}.129" and ep.gateway == f"{base}.254"
    filtered = service.list({"name": [ranged]})
    assert [n["Name"] for n in filtered] == [ranged]
    unused = {service.inspect(first["Id"])["Name"], service.inspect(second["Id"])["Name"]}
    assert set(service.prune()["NetworksDeleted"]) == unused
    assert ranged in [n["Name"] for n in service.list()]  # in use: not pruned


def test_bridge_name_option(service):
    bridge = unique_name("dyo")
    service.create(
        unique_name("opt"),
        subnet=free_subnets(1)[0],
        options={"com.docker.network.bridge.name": bridge},
    )
    with IPRoute() as ipr:
        assert ipr.link_lookup(ifname=bridge)
    assert os.path.exists(f"/sys/class/net/{bridge}/bridge")


def test_calls_from_many_threads(service):
    """The daemon calls from worker threads: pyroute2 work must stay on the service's thread."""
    from concurrent.futures import ThreadPoolExecutor

    net = unique_name("thr")
    service.create(net, subnet=free_subnets(1)[0])
    ids = [cid() for _ in range(8)]

    def setup(x: str) -> str:
        service.sandbox_create(x)
        return service.connect(net, x, "t" + x[:6]).ip_address

    with ThreadPoolExecutor(4) as pool:
        addresses = list(pool.map(setup, ids))
        assert len(set(addresses)) == 8
        list(pool.map(service.sandbox_remove, ids))
    assert service.inspect(net)["Containers"] == {}


def test_etc_files_for_a_container(service, tmp_path):
    net = unique_name("etc")
    service.create(net, subnet=free_subnets(1)[0])
    a, b = cid(), cid()
    service.sandbox_create(a)
    service.sandbox_create(b)
    ea = service.connect(net, a, "web")
    eb = service.connect("bridge", b, "plain")
    service.write_hosts(a, str(tmp_path / "hosts-a"), "webhost", extra_hosts=["gw:host-gateway"])
    hosts = (tmp_path / "hosts-a").read_text()
    assert hosts.startswith("127.0.0.1\tlocalhost\n")
    assert f"{ea.ip_address}\twebhost\n" in hosts
    assert f"{service.inspect('bridge')['IPAM']['Config'][0]['Gateway']}\tgw\n" in hosts
    service.write_resolv_conf(a, str(tmp_path / "resolv-a"), dns_options=["timeout:1"])
    assert "nameserver 127.0.0.11\n" in (tmp_path / "resolv-a").read_text()
    # the default bridge gets the host's resolv.conf without localhost servers: the fixture's
    # host file has only 127.0.0.53, so Docker's fallback servers are written
    service.write_resolv_conf(b, str(tmp_path / "resolv-b"))
    text = (tmp_path / "resolv-b").read_text()
    assert "127.0.0.53" not in text and "nameserver 8.8.8.8" in text
    assert "search example.test" in text
    service.write_hostname(str(tmp_path / "hostname"), "webhost")
    assert (tmp_path / "hostname").read_text() == "webhost\n"
    assert eb.ip_address in service.inspect("bridge")["Containers"][b]["IPv4Address"]


def test_bridge_name_of_a_non_bridge_link_is_refused(service):
    with pytest.raises(Conflict, match="cannot use lo as a bridge"):
        service.create(
            unique_name("lo"),
            subnet=free_subnets(1)[0],
            options={"com.docker.network.bridge.name": "lo"},
        )
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname="lo")[0]
        addrs = [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=2)]
    assert addrs == ["127.0.0.1"]


def _bridge_addresses(name: str) -> list[str]:
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=name)[0]
        return [
            f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ipr.get_addr(index=index, family=2)
        ]


def test_existing_default_bridge_keeps_its_address(tmp_path):
    """Daemons on new data roots adopt the address the default bridge has (as dockerd adopts
    docker0's) and never stack a second one on it; a --bip that differs is refused."""
    from netsupport import make_service, remove_leftovers

    bridge = unique_name("dya")
    subnet, pool = free_subnets(2, 24)
    gateway = subnet.rsplit(".", 1)[0] + ".1/24"
    with IPRoute() as ipr:
        ipr.link("add", ifname=bridge, kind="bridge")
        ipr.addr(
            "add",
            index=ipr.link_lookup(ifname=bridge)[0],
            address=gateway.split("/")[0],
            prefixlen=24,
        )
    services = []
    try:
        for n in range(3):
            svc = NetworkService(
                str(tmp_path / f"root{n}"),
                str(tmp_path / f"exec{n}"),
                default_bridge_name=bridge,
                default_address_pools=[{"base": pool, "size": 24}],
                host_resolv_conf=str(tmp_path / "resolv.conf"),
            )
            services.append(svc)
            config = svc.inspect("bridge")["IPAM"]["Config"][0]
            assert (config["Subnet"], config["Gateway"]) == (subnet, gateway.split("/")[0])
            assert _bridge_addresses(bridge) == [gateway]
        other = free_subnets(1, 24)[0]
        with pytest.raises(InvalidParameter, match=r"bridge IPv4 \(.*\) does not match"):
            services.append(
                make_service(
                    tmp_path / "mismatch", None, bridge, other.rsplit(".", 1)[0] + ".1/24", pool
                )
            )
        assert _bridge_addresses(bridge) == [gateway]
    finally:
        for svc in services:
            svc.close()
        remove_leftovers(bridge)
