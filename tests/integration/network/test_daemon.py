"""Networking through the real daemon and the real docker CLI (issue 5, acceptance 2 and 3)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
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


def _sandbox_record(daemon, cid: str) -> dict | None:
    path = os.path.join(daemon.data_root, "network", "sandboxes", f"{cid}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def test_kill9_keeps_live_containers_and_cleans_up_after_gone_ones(daemon):
    """After a kill -9 of the daemon, a container that died meanwhile leaves nothing (veth,
    netns file, lease, DNAT rule, DNS record); a running one keeps its address and port."""
    subnet = f"10.{random.randint(201, 250)}.{random.randint(0, 255)}.0/24"
    assert daemon.docker("network", "create", "--subnet", subnet, "k9net").returncode == 0
    keep_port, gone_port = free_port(), free_port()
    while gone_port == keep_port:
        gone_port = free_port()
    keeper = daemon.docker(
        "run", "-d", "--name", "keeper", "--network", "k9net", "-p", f"{keep_port}:80",
        "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
    )  # fmt: skip
    assert keeper.returncode == 0, keeper.stderr
    victim = daemon.docker(
        "run", "-d", "--name", "victim", "--network", "k9net", "--network-alias", "vic",
        "-p", f"{gone_port}:80", "busybox", "sleep", "600",
    )  # fmt: skip
    assert victim.returncode == 0, victim.stderr
    keeper_id, victim_id = keeper.stdout.strip(), victim.stdout.strip()

    def address(name: str) -> str:
        fmt = '{{(index .NetworkSettings.Networks "k9net").IPAddress}}'
        return daemon.docker("inspect", "-f", fmt, name).stdout.strip()

    keeper_ip, victim_ip = address("keeper"), address("victim")
    assert keeper_ip and victim_ip
    look = daemon.docker("exec", "keeper", "nslookup", "vic", "127.0.0.11")
    assert victim_ip in look.stdout, look.stdout + look.stderr
    record = _sandbox_record(daemon, victim_id)
    (endpoint,) = record["Endpoints"].values()
    victim_veth, victim_ns = endpoint["HostIfName"], record["NetnsPath"]
    assert _link_exists(victim_veth) and os.path.exists(victim_ns)
    victim_pid = int(daemon.docker("inspect", "-f", "{{.State.Pid}}", "victim").stdout)
    assert get(f"http://127.0.0.1:{keep_port}/hostname") == keeper_id[:12] + "\n"

    daemon.kill9()
    os.kill(victim_pid, signal.SIGKILL)  # the victim dies while no daemon watches
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{victim_pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    daemon.start()

    # the running container keeps its address, its published port and its DNS name
    assert address("keeper") == keeper_ip
    assert get(f"http://127.0.0.1:{keep_port}/hostname") == keeper_id[:12] + "\n"
    assert f"0.0.0.0:{keep_port}->80/tcp" in daemon.docker("ps").stdout
    # the gone one: no veth, netns file, sandbox record, DNAT rule, DNS record or lease
    status = daemon.docker("inspect", "-f", "{{.State.Status}}", "victim").stdout.strip()
    assert status == "exited"
    assert not _link_exists(victim_veth)
    assert not os.path.exists(victim_ns)
    assert _sandbox_record(daemon, victim_id) is None
    dnat = firewall.list_rules("nat", firewall.PORTS)
    assert not [r for r in dnat if f"--dport {gone_port} " in r]
    assert [r for r in dnat if f"--dport {keep_port} " in r]
    look = daemon.docker("exec", "keeper", "nslookup", "vic", "127.0.0.11")
    assert victim_ip not in look.stdout
    (net,) = json.loads(daemon.docker("network", "inspect", "k9net").stdout)
    assert list(net["Containers"]) == [keeper_id]
    again = daemon.docker(
        "run", "-d", "--name", "again", "--network", "k9net", "--ip", victim_ip,
        "busybox", "sleep", "60",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr  # the victim's address was released
    for name in ("again", "victim", "keeper"):
        assert daemon.docker("rm", "-f", name).returncode == 0
    assert daemon.docker("network", "rm", "k9net").returncode == 0


def test_fixture_cleanup_leaves_no_bridge_veth_or_rule(busybox_rootfs):
    """A test that stops before its `network rm` / `rm -f` leaves nothing: the daemon fixture
    kills the containers' processes and removes the user networks' bridges, veths, netns files
    and every rule naming them."""
    subnet = f"10.{random.randint(201, 250)}.{random.randint(0, 255)}.0/24"
    procs: list[int] = []
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        assert d.docker("network", "create", "--subnet", subnet, "leaky").returncode == 0
        bridge = "br-" + d.docker("network", "inspect", "-f", "{{.Id}}", "leaky").stdout[:12]
        run = d.docker(
            "run", "-d", "--network", "leaky", "-p", f"{free_port()}:80", "busybox", "sleep", "60"
        )
        assert run.returncode == 0, run.stderr
        pid = int(d.docker("inspect", "-f", "{{.State.Pid}}", run.stdout.strip()).stdout)
        procs.append(pid)
        with open(f"/proc/{pid}/net/dev") as f:  # the peer of the container's eth0
            assert "eth0" in f.read()
        veths = os.listdir(f"/sys/class/net/{bridge}/brif")
        default_bridge, default_subnet = d.bridge, d.bip.rsplit(".", 1)[0] + ".0/24"
        assert veths
    deadline = time.monotonic() + 5  # the container's processes are killed too
    while os.path.exists(f"/proc/{procs[0]}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{procs[0]}")
    names = {bridge, default_bridge, *veths}
    assert not [n for n in names if os.path.exists(f"/sys/class/net/{n}")]
    rules = _all_rules()
    for needle in (bridge, default_bridge, subnet, default_subnet):
        assert needle not in rules, needle


def _all_rules() -> str:
    return subprocess.run(["iptables-save"], capture_output=True, text=True).stdout


def _dnat_rules_into(prefix: str) -> list[str]:
    return [r for r in firewall.list_rules("nat", firewall.PORTS) if f" {prefix}" in r]


def test_fifty_containers_leave_nothing_behind(daemon):
    """Acceptance 5 through the daemon: 50 containers on a user network (every fifth with a
    published port), removed: no veth, bridge port, netns file, sandbox record, lease, DNAT
    rule or DNS record stays."""
    subnet = f"10.{random.randint(201, 250)}.{random.randint(0, 255)}.0/24"
    prefix = subnet.rsplit(".", 1)[0] + "."
    assert daemon.docker("network", "create", "--subnet", subnet, "fifty").returncode == 0
    net_id = daemon.docker("network", "inspect", "-f", "{{.Id}}", "fifty").stdout.strip()
    bridge = "br-" + net_id[:12]
    netns_dir = os.path.join(daemon.exec_root, "netns")
    sandboxes = os.path.join(daemon.data_root, "network", "sandboxes")

    def state() -> tuple:
        return (
            sorted(os.listdir(f"/sys/class/net/{bridge}/brif")),
            sorted(os.listdir(netns_dir)),
            sorted(os.listdir(sandboxes)),
            _dnat_rules_into(prefix),
        )

    before = state()
    ids = []
    for i in range(50):
        publish = ["-p", "127.0.0.1::80"] if i % 5 == 0 else []
        r = daemon.docker(
            "run", "-d", "--name", f"c{i}", "--network", "fifty", "--network-alias", "many",
            *publish, "busybox", "sleep", "300",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        ids.append(r.stdout.strip())
    ports, namespaces, records, dnat = state()
    assert len(ports) == len(before[0]) + 50 and len(namespaces) == len(before[1]) + 50
    assert len(records) == len(before[2]) + 50 and len(dnat) == len(before[3]) + 10
    look = daemon.docker(
        "run", "--rm", "--network", "fifty", "busybox", "nslookup", "c49", "127.0.0.11"
    )
    assert prefix in look.stdout.split("Name:")[-1], look.stdout
    rm = daemon.docker("rm", "-f", *ids, timeout=120)
    assert rm.returncode == 0, rm.stderr
    deadline = time.monotonic() + 10  # veths of removed containers go off the request's path
    while state() != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state() == before
    (net,) = json.loads(daemon.docker("network", "inspect", "fifty").stdout)
    assert net["Containers"] == {}
    look = daemon.docker(
        "run", "--rm", "--network", "fifty", "busybox", "sh", "-c",
        "nslookup c49 127.0.0.11; nslookup many 127.0.0.11; ip -o -4 addr show eth0",
    )  # fmt: skip
    assert prefix not in look.stdout.split("eth0")[0].split("Name:")[-1], look.stdout
    assert f"inet {prefix}2/24" in look.stdout  # the leases are free again: .2 first
    deadline = time.monotonic() + 10
    while state() != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state() == before
    assert daemon.docker("network", "rm", "fifty").returncode == 0
