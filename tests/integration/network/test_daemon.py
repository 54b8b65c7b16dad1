"""Networking through the real daemon and the real docker CLI (issue 5, acceptance 2 and 3)."""

from __future__ import annotations

import os
import socket
import time
import urllib.request

import pytest

from daemon_fixture import running_daemon  # tests/ is on sys.path (tests/conftest.py)
from dockyard.network import firewall
from dockyard.network.cleanup import remove_network_state


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, attempts: int = 40) -> str:
    error: Exception | None = None
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError as e:
            error = e
            time.sleep(0.2)
    raise AssertionError(f"{url}: {error}")


@pytest.fixture
def daemon(busybox_rootfs):
    with running_daemon() as d:
        try:
            d.import_busybox(busybox_rootfs)
            yield d
        finally:
            # containers first: their processes live in their own mount namespaces, where
            # the fixture's search for processes under its roots does not see them
            ids = d.docker("ps", "-aq").stdout.split()
            if ids:
                d.docker("rm", "-f", *ids)
            d.stop()
            remove_network_state(os.path.join(d.data_root, "network"), d.exec_root)


def test_published_port_survives_kill9_and_restart(daemon):
    port = free_port()
    run = daemon.docker(
        "run", "-d", "-p", f"{port}:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"
    )
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    hostname = get(f"http://127.0.0.1:{port}/hostname")
    assert hostname == cid[:12] + "\n"
    assert daemon.docker("port", cid).stdout.strip() == f"80/tcp -> 0.0.0.0:{port}"
    daemon.kill9()
    daemon.start()
    assert get(f"http://127.0.0.1:{port}/hostname") == hostname
    assert f"0.0.0.0:{port}->80/tcp" in daemon.docker("ps").stdout
    rm = daemon.docker("rm", "-f", cid)
    assert rm.returncode == 0, rm.stderr
    assert not [r for r in firewall.list_rules("nat", firewall.PORTS) if f"--dport {port} " in r]


def test_network_modes(daemon):
    bridge = daemon.docker("run", "--rm", "busybox", "ip", "-o", "-4", "addr")
    assert bridge.returncode == 0, bridge.stderr
    assert "eth0" in bridge.stdout
    none = daemon.docker("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in none.stdout.splitlines()] == ["lo"]
    host = daemon.docker("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link")
    assert daemon.bridge in host.stdout  # the host's interfaces, our bridge among them
    first = daemon.docker("run", "-d", "--name", "netowner", "busybox", "sleep", "60")
    assert first.returncode == 0, first.stderr
    try:
        owner_ip = daemon.docker(
            "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "netowner"
        ).stdout.strip()
        shared = daemon.docker(
            "run", "--rm", "--network", "container:netowner", "busybox", "ip", "-o", "-4", "addr"
        )
        assert owner_ip and owner_ip in shared.stdout, shared.stdout + shared.stderr
    finally:
        daemon.docker("rm", "-f", "netowner")
