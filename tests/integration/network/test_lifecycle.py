"""Nothing is left behind: 50 endpoints come and go; reconcile after a simulated crash."""

from __future__ import annotations

import os
import secrets
import socket
import time
import urllib.request

from netsupport import count_state, free_subnets, ns_run, unique_name
from pyroute2 import IPRoute

from dockyard.network import firewall
from dockyard.network.ports import PortBinding


def cid() -> str:
    return secrets.token_hex(32)


def free_host_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fifty_endpoints_leave_nothing_behind(service):
    subnet = free_subnets(1)[0]
    net = unique_name("fifty")
    service.create(net, subnet=subnet)
    default_subnet = service.inspect("bridge")["IPAM"]["Config"][0]["Subnet"]
    subnets = [subnet, default_subnet]
    before = count_state(service, subnets)
    ids = [cid() for _ in range(50)]
    host_ifnames = []
    started = time.perf_counter()
    for i, x in enumerate(ids):
        service.sandbox_create(x)
        publish = [PortBinding(80, "tcp", "127.0.0.1")] if i % 10 == 0 else []
        ep = service.connect(net, x, f"c{i}", aliases=["many"], publish=publish)
        host_ifnames.append(ep.host_ifname)
    elapsed = time.perf_counter() - started
    during = count_state(service, subnets)
    assert len(during["bridge_ports"]) == len(before["bridge_ports"]) + 50
    assert len(during["netns"]) == len(before["netns"]) + 50
    assert len(during["rules"]) == len(before["rules"]) + 5 * 3  # DNAT, accept and hairpin per port
    assert len(during["dns_listeners"]) == 50
    assert len(service.inspect(net)["Containers"]) == 50
    for x in ids:
        service.sandbox_remove(x)
    service.wait_idle()  # veths of removed containers are deleted off the caller's path
    after = count_state(service, subnets)
    assert after == before
    with IPRoute() as ipr:
        assert not [n for n in host_ifnames if ipr.link_lookup(ifname=n)]
    assert elapsed < 50 * 0.1, f"{elapsed / 50 * 1000:.1f} ms per endpoint"


def test_reconcile_after_simulated_crash(service_factory, tmp_path):
    first = service_factory()
    net = unique_name("rc")
    first.create(net, subnet=free_subnets(1)[0])
    live, gone = cid(), cid()
    live_path = first.sandbox_create(live)
    gone_path = first.sandbox_create(gone)
    live_port, gone_port = free_host_port(), free_host_port()
    live_ep = first.connect(
        net, live, "survivor", publish=[PortBinding(80, "tcp", "", live_port, live_port)]
    )
    gone_ep = first.connect(
        net, gone, "victim", publish=[PortBinding(80, "tcp", "", gone_port, gone_port)]
    )
    # a crash mid-connect: a veth on the bridge and a netns file that no record knows
    stray_ns = os.path.join(first.netns_dir, "stray")
    from dockyard.network import netns

    nl_sock, _ = netns.create_netns(stray_ns)
    nl_sock.close()
    with IPRoute() as ipr:
        bridge = first.inspect(net)["Options"].get("com.docker.network.bridge.name") or (
            "br-" + first.inspect(net)["Id"][:12]
        )
        ipr.link("add", ifname="vethstray0", kind="veth", peer={"ifname": "vethstray1"})
        ipr.link(
            "set",
            index=ipr.link_lookup(ifname="vethstray0")[0],
            master=ipr.link_lookup(ifname=bridge)[0],
        )
    # ...and port rules into our subnet that no record holds
    stray_ip = live_ep.ip_address.rsplit(".", 1)[0] + ".200"
    stray_rules = firewall.port_rules(bridge, "tcp", "", 40999, stray_ip, 80)
    firewall.add_rules(stray_rules)
    first.close()  # the daemon dies: nothing is torn down

    second = service_factory()
    removed = second.reconcile([live])
    assert removed == {"sandboxes": 1, "netns": 1, "veths": 1, "rules": 3}
    assert not [r for r in stray_rules if firewall.has_rule(r)]
    assert not os.path.exists(gone_path) and not os.path.exists(stray_ns)
    with IPRoute() as ipr:
        assert not ipr.link_lookup(ifname=gone_ep.host_ifname)
        assert not ipr.link_lookup(ifname="vethstray0")
        assert ipr.link_lookup(ifname=live_ep.host_ifname)
    dnat = firewall.list_rules("nat", firewall.PORTS)
    assert not [r for r in dnat if f"--dport {gone_port} " in r]
    assert [r for r in dnat if f"--dport {live_port} " in r]
    assert list(second.inspect(net)["Containers"]) == [live]
    # the live container keeps its address, port and DNS
    assert second.endpoint_settings(live)["Networks"][net]["IPAddress"] == live_ep.ip_address
    res = ns_run(live_path, "nslookup", "-type=a", "survivor", "127.0.0.11")
    assert live_ep.ip_address in res.stdout
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("still here\n")
    import subprocess

    httpd = subprocess.Popen(
        ["nsenter", f"--net={live_path}", "/bin/busybox", "httpd", "-f", "-p", "80", "-h", str(www)]
    )
    try:
        body = ""
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{live_port}/", timeout=2) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body == "still here\n"
    finally:
        httpd.kill()
        httpd.wait()
    # the freed address is leased again
    again = cid()
    second.sandbox_create(again)
    assert second.connect(net, again, "again").ip_address == gone_ep.ip_address


def test_start_removes_rules_orphaned_by_vanished_daemons(service_factory):
    ghost = unique_name("dyg")
    ghost_net = free_subnets(1)[0]
    ghost_ip = ghost_net.rsplit(".", 1)[0] + ".9"
    orphans = firewall.network_rules(ghost, ghost_net, internal=False) + firewall.port_rules(
        ghost, "tcp", "", 40998, ghost_ip, 80
    )
    firewall.add_rules(orphans)
    try:
        service_factory()
        assert not [r for r in orphans if firewall.has_rule(r)]
    finally:
        firewall.delete_rules(orphans)
