"""Published ports: DNAT from 127.0.0.1 to a server in a namespace, conflicts, -P, udp."""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import time
import urllib.request

import pytest
from netsupport import free_subnets, ns_http_get, unique_name

from dockyard.errors import SystemError_
from dockyard.network import firewall, netns
from dockyard.network.ports import PortBinding, bindings_from_api, parse_port_specs


def cid() -> str:
    return secrets.token_hex(32)


def free_host_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def httpd_in(path: str, docroot: str, port: int = 80):
    """busybox httpd serving `docroot` inside the namespace at `path`."""
    proc = subprocess.Popen(
        ["nsenter", f"--net={path}", "/bin/busybox", "httpd", "-f", "-p", str(port), "-h", docroot]
    )
    try:
        deadline = time.time() + 5
        while time.time() < deadline:
            res = subprocess.run(
                ["nsenter", f"--net={path}", "/bin/busybox", "netstat", "-ltn"],
                capture_output=True,
                text=True,
            )
            if f":{port} " in res.stdout:
                break
            time.sleep(0.05)
        yield proc
    finally:
        proc.kill()
        proc.wait()


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


@pytest.fixture
def docroot(tmp_path):
    d = tmp_path / "www"
    d.mkdir()
    (d / "index.html").write_text("hello from the namespace\n")
    return str(d)


def test_published_port_reaches_server_from_loopback(service, docroot):
    net = unique_name("pp")
    service.create(net, subnet=free_subnets(1)[0])
    a = cid()
    path = service.sandbox_create(a)
    host_port = free_host_port()
    publish = bindings_from_api(parse_port_specs([f"{host_port}:80", "127.0.0.1::80"]))
    service.connect(net, a, "web", publish=publish, exposed=["80/tcp", "53/udp"])
    ports = service.endpoint_settings(a)["Ports"]
    assert ports["53/udp"] is None
    assert ports["80/tcp"][0] == {"HostIp": "0.0.0.0", "HostPort": str(host_port)}
    random_port = int(ports["80/tcp"][1]["HostPort"])
    assert ports["80/tcp"][1]["HostIp"] == "127.0.0.1" and random_port >= 1024
    gateway = service.inspect(net)["IPAM"]["Config"][0]["Gateway"]
    with httpd_in(path, docroot):
        assert fetch(f"http://127.0.0.1:{host_port}/") == "hello from the namespace\n"
        # another address of the host (the bridge's, which the test made) works too
        assert fetch(f"http://{gateway}:{host_port}/") == "hello from the namespace\n"
        assert fetch(f"http://127.0.0.1:{random_port}/") == "hello from the namespace\n"
    service.disconnect(net, a)
    assert not [
        r for r in firewall.list_rules("nat", firewall.PORTS) if f"--dport {host_port} " in r
    ]


def test_published_port_on_default_bridge_and_publish_all(service, docroot):
    a = cid()
    path = service.sandbox_create(a)
    service.connect("bridge", a, "pub", exposed=["80/tcp"], publish_all=True)
    port = int(service.endpoint_settings(a)["Ports"]["80/tcp"][0]["HostPort"])
    with httpd_in(path, docroot):
        assert "hello" in fetch(f"http://127.0.0.1:{port}/")


def test_udp_port(service):
    a = cid()
    path = service.sandbox_create(a)
    host_port = free_host_port()
    service.connect(
        "bridge", a, "udp", publish=[PortBinding(5353, "udp", "", host_port, host_port)]
    )
    server = netns.netns_socket(path, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        server.bind(("0.0.0.0", 5353))
        server.settimeout(5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"ping-udp", ("127.0.0.1", host_port))
        data, _peer = server.recvfrom(100)
        assert data == b"ping-udp"
    finally:
        server.close()


def test_port_conflicts_give_docker_error_and_leave_nothing(service):
    net = unique_name("pc")
    service.create(net, subnet=free_subnets(1)[0])
    a, b, c = cid(), cid(), cid()
    for x in (a, b, c):
        service.sandbox_create(x)
    port = free_host_port()
    service.connect(net, a, "first", publish=[PortBinding(80, "tcp", "", port, port)])
    rules_before = firewall.list_rules("nat", firewall.PORTS)
    with pytest.raises(
        SystemError_,
        match=r"^driver failed programming external connectivity on endpoint second \(\w+\): "
        f"Bind for 0.0.0.0:{port} failed: port is already allocated$",
    ):
        service.connect(net, b, "second", publish=[PortBinding(80, "tcp", "", port, port)])
    assert b not in service.inspect(net)["Containers"]
    assert firewall.list_rules("nat", firewall.PORTS) == rules_before
    # a port held by a host process
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        # Docker's words (before 28) when its proxy cannot listen on a port a host process holds
        with pytest.raises(
            SystemError_,
            match=r"^driver failed programming external connectivity on endpoint third \(\w+\): "
            f"Error starting userland proxy: listen tcp4 0.0.0.0:{taken}: "
            "bind: address already in use$",
        ):
            service.connect(net, c, "third", publish=[PortBinding(80, "tcp", "", taken, taken)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        taken = holder.getsockname()[1]
        binding = PortBinding(53, "udp", "127.0.0.1", taken, taken)
        with pytest.raises(
            SystemError_, match=f"listen udp4 127.0.0.1:{taken}: bind: address already in use$"
        ):
            service.connect(net, c, "third", publish=[binding])
    assert firewall.list_rules("nat", firewall.PORTS) == rules_before
    assert c not in service.inspect(net)["Containers"]
    assert service.endpoint_settings(c)["Networks"] == {}
    # the same port on udp is another port
    service.connect(net, c, "third", publish=[PortBinding(80, "udp", "", port, port)])


def test_hairpin_container_reaches_its_own_published_port(service, docroot):
    """Through the bridge gateway (a host address the test made): DNAT back to the sender."""
    net = unique_name("hp")
    service.create(net, subnet=free_subnets(1)[0])
    a, b = cid(), cid()
    pa, pb = service.sandbox_create(a), service.sandbox_create(b)
    port = free_host_port()
    ea = service.connect(net, a, "self", publish=[PortBinding(80, "tcp", "", port, port)])
    service.connect(net, b, "other")
    with httpd_in(pa, docroot):
        for path in (pa, pb):
            body = ns_http_get(path, f"http://{ea.gateway}:{port}/")
            assert body == "hello from the namespace\n"
