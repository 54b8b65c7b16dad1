"""ContainerNetworking: setup/teardown from container records, as the containers service calls."""

from __future__ import annotations

import secrets

import pytest
from netsupport import free_subnets, ns_run, unique_name
from pyroute2 import IPRoute

from dockyard.errors import Conflict
from dockyard.network import firewall
from dockyard.network.cleanup import remove_network_state
from dockyard.network.containers import ContainerNetworking


def record(tmp_path, name: str, mode: str = "bridge", **host_config) -> dict:
    cdir = tmp_path / name
    cdir.mkdir()
    return {
        "Name": "/" + name,
        "Config": {"Hostname": name + "-host", "ExposedPorts": {"80/tcp": {}, "53/udp": {}}},
        "HostConfig": {"NetworkMode": mode, **host_config},
        "NetworkingConfig": {},
        "HostsPath": str(cdir / "hosts"),
        "ResolvConfPath": str(cdir / "resolv.conf"),
        "HostnamePath": str(cdir / "hostname"),
    }


def test_bridge_container_with_ports_and_files(service, tmp_path):
    net = ContainerNetworking(service)
    cid = secrets.token_hex(32)
    rec = record(
        tmp_path,
        "web",
        PortBindings={"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
        ExtraHosts=["db:10.0.0.5"],
        Dns=["10.0.0.53"],
    )
    result = net.setup(cid, rec)
    path = result["netns_path"]
    settings = result["NetworkSettings"]
    assert settings["SandboxKey"] == path and settings["IPAddress"]
    assert settings["Networks"]["bridge"]["IPAddress"] == settings["IPAddress"]
    assert settings["Ports"]["53/udp"] is None
    published = settings["Ports"]["80/tcp"][0]
    assert result["Ports"] == [
        {"PrivatePort": 53, "Type": "udp"},
        {
            "IP": "127.0.0.1",
            "PrivatePort": 80,
            "PublicPort": int(published["HostPort"]),
            "Type": "tcp",
        },
    ]
    hosts = open(rec["HostsPath"]).read()
    assert "10.0.0.5\tdb\n" in hosts and f"{settings['IPAddress']}\tweb-host\n" in hosts
    assert open(rec["ResolvConfPath"]).read().splitlines()[1] == "nameserver 10.0.0.53"
    assert open(rec["HostnamePath"]).read() == "web-host\n"
    assert "eth0" in (net.stats(cid) or {})
    # container:web shares the namespace
    other = secrets.token_hex(32)
    joined = net.setup(other, record(tmp_path, "side", mode="container:web"))
    assert joined["netns_path"] == path
    net.teardown(other, None)
    net.teardown(cid, rec)
    assert service.endpoint_settings(cid)["Networks"] == {}
    assert not [
        r
        for r in firewall.list_rules("nat", firewall.PORTS)
        if f"--dport {published['HostPort']} " in r
    ]
    with pytest.raises(Conflict, match="non running container"):
        net.setup(secrets.token_hex(32), record(tmp_path, "late", mode="container:web"))


def test_user_networks_aliases_and_connect_while_running(service, tmp_path):
    net = ContainerNetworking(service)
    s1, s2 = free_subnets(2)
    n1, n2 = unique_name("cn"), unique_name("co")
    service.create(n1, subnet=s1)
    service.create(n2, subnet=s2)
    cid = secrets.token_hex(32)
    rec = record(tmp_path, "api", mode=n1)
    rec["NetworkingConfig"] = {
        "EndpointsConfig": {n1: {"Aliases": ["backend"], "IPAMConfig": {"IPv4Address": ""}}}
    }
    result = net.setup(cid, rec)
    assert result["NetworkSettings"]["Networks"][n1]["Aliases"] == ["backend"]
    assert "nameserver 127.0.0.11" in open(rec["ResolvConfPath"]).read()
    static = s2.rsplit(".", 1)[0] + ".50"
    after = net.connect(n2, cid, rec, {"Aliases": ["b2"], "IPAMConfig": {"IPv4Address": static}})
    assert after["NetworkSettings"]["Networks"][n2]["IPAddress"] == static
    assert f"{static}\tapi-host" in open(rec["HostsPath"]).read()
    assert "eth1" in ns_run(result["netns_path"], "ip", "-o", "link").stdout
    after = net.disconnect(n2, cid, rec)
    assert n2 not in after["NetworkSettings"]["Networks"]
    net.teardown(cid, rec)


def test_none_and_host_modes(service, tmp_path):
    net = ContainerNetworking(service)
    none_id, host_id = secrets.token_hex(32), secrets.token_hex(32)
    res = net.setup(none_id, record(tmp_path, "quiet", mode="none"))
    assert list(res["NetworkSettings"]["Networks"]) == ["none"]
    assert len(ns_run(res["netns_path"], "ip", "-o", "link").stdout.splitlines()) == 1
    res = net.setup(host_id, record(tmp_path, "hosty", mode="host"))
    assert res["netns_path"] is None and list(res["NetworkSettings"]["Networks"]) == ["host"]
    net.teardown(none_id)
    net.teardown(host_id)


def test_remove_network_state_without_a_service(service_factory, tmp_path):
    svc = service_factory()
    user = unique_name("gone")
    svc.create(user, subnet=free_subnets(1)[0])
    bridge = "br-" + svc.inspect(user)["Id"][:12]
    default_bridge = svc.inspect("bridge")["Options"]["com.docker.network.bridge.name"]
    cid = secrets.token_hex(32)
    svc.sandbox_create(cid)
    ep = svc.connect(user, cid, "x")
    svc.close()  # the daemon is gone; a fixture cleans up after it
    remove_network_state(svc.root, svc.exec_root)
    with IPRoute() as ipr:
        for name in (bridge, default_bridge, ep.host_ifname):
            assert not ipr.link_lookup(ifname=name)
    assert not [r for r in firewall.list_rules("nat", firewall.POSTROUTING) if bridge in r]
    import os

    assert os.listdir(svc.netns_dir) == []
