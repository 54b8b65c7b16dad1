"""Helpers for network tests: private subnets, unique names, a fake DNS upstream, ns_run.

Every test gets its own bridge names (random suffix) and /24s from 10.201.0.0/16 upwards that
no host route uses; everything is torn down in the fixture's finally, even on failure.
"""

from __future__ import annotations

import ipaddress
import random
import secrets
import socket
import subprocess
import threading

from dnslib import QTYPE, RR, A, DNSRecord
from pyroute2 import IPRoute

from dockyard.network import firewall
from dockyard.network.service import NetworkService

UPSTREAM_NAME = "upstream.dockyard.test"
UPSTREAM_ADDRESS = "10.254.254.254"


def _host_routes() -> list[ipaddress.IPv4Network]:
    with IPRoute() as ipr:
        nets = []
        for r in ipr.get_routes(family=2):
            dst = r.get_attr("RTA_DST")
            if dst:
                nets.append(ipaddress.ip_network(f"{dst}/{r['dst_len']}", strict=False))
        return nets


def free_subnets(count: int, prefix: int = 24) -> list[str]:
    """`count` random 10.2xx.y.0/24 subnets that overlap no host route and each other."""
    routes = _host_routes()
    chosen: list[ipaddress.IPv4Network] = []
    while len(chosen) < count:
        net = ipaddress.ip_network(
            f"10.{random.randint(201, 250)}.{random.randint(0, 255)}.0/{prefix}", strict=False
        )
        if not any(net.overlaps(r) for r in routes + chosen):
            chosen.append(net)
    return [str(n) for n in chosen]


def unique_name(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


class FakeUpstream:
    """A DNS server on 127.0.0.1 that knows one name (the embedded DNS forwards to it)."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind(("127.0.0.1", port))
        except OSError:
            self.sock.close()
            raise
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.sock.settimeout(0.1)  # the thread looks at _stopping between waits
        self.queries: list[str] = []
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
                self.sock.sendto(self._answer(data), peer)
            except TimeoutError:
                continue
            except OSError:
                return

    def _answer(self, data: bytes) -> bytes:
        query = DNSRecord.parse(data)
        name = str(query.q.qname).rstrip(".")
        self.queries.append(name)
        reply = query.reply()
        if name == UPSTREAM_NAME and query.q.qtype == QTYPE.A:
            reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(UPSTREAM_ADDRESS), ttl=60))
        elif name != UPSTREAM_NAME:
            reply.header.rcode = 3  # NXDOMAIN
        return reply.pack()

    def close(self) -> None:
        # the thread ends first: a recvfrom blocked in the kernel would keep the socket (and
        # its port) alive after close()
        self._stopping.set()
        self.thread.join()
        self.sock.close()


def make_service(
    tmp_path, upstream_address: str | None, bridge: str, subnet: str, pool_base: str
) -> NetworkService:
    return NetworkService(
        str(tmp_path / "root"),
        str(tmp_path / "exec"),
        default_bridge_name=bridge,
        default_bridge_subnet=subnet,
        default_address_pools=[{"base": pool_base, "size": 24}],
        dns_forwarders=[upstream_address] if upstream_address else None,  # None: the host's
        host_resolv_conf=str(tmp_path / "host-resolv.conf"),
    )


def remove_leftovers(bridge: str) -> None:
    with IPRoute() as ipr:
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            if name == bridge:
                ipr.link("del", index=link["index"])


def ns_run(path: str, *argv: str, timeout: float = 10, check: bool = False):
    """Run a busybox applet inside the namespace at `path`."""
    res = subprocess.run(
        ["nsenter", f"--net={path}", "/bin/busybox", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and res.returncode != 0:
        raise AssertionError(f"{argv} failed: {res.stdout}{res.stderr}")
    return res


def count_state(service: NetworkService, subnets: list[str]) -> dict:
    """What a container could leave behind: veths on our bridges, namespaces, leases, rules."""
    import os

    nets = [ipaddress.ip_network(s) for s in subnets]
    with IPRoute() as ipr:
        bridges = {n["Bridge"] for n in service._bridge_networks()}
        index = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        ports = [
            link.get_attr("IFLA_IFNAME")
            for link in ipr.get_links()
            if index.get(link.get_attr("IFLA_MASTER")) in bridges
        ]
    rules = [
        line
        for table, chain in (
            ("nat", firewall.PORTS),
            ("nat", firewall.POSTROUTING),
            ("filter", firewall.PORTS),
        )
        for line in firewall.list_rules(table, chain)
        if any(str(n.network_address)[:-1] in line for n in nets)
    ]
    return {
        "bridge_ports": sorted(ports),
        "netns": sorted(os.listdir(service.netns_dir)),
        "leases": {k: sorted(map(str, a.leases)) for k, a in service._allocators.items()},
        "sandbox_records": sorted(os.listdir(service._store.sandboxes_dir)),
        "rules": sorted(rules),
        "dns_listeners": service._dns.listening(),
    }


def ns_http_get(path: str, url: str, timeout: float = 3) -> str:
    """GET `url` from inside the namespace at `path` (Python's urllib: busybox-static's wget
    crashes in static glibc's resolver code on this machine)."""
    import sys

    code = (
        "import sys, urllib.request\n"
        f"sys.stdout.write(urllib.request.urlopen({url!r}, timeout={timeout}).read().decode())\n"
    )
    res = subprocess.run(
        ["nsenter", f"--net={path}", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout + 10,
    )
    return res.stdout
