"""`docker network connect/disconnect` through a real daemon and the real docker CLI.

A running container connected to a second network gets eth1, DNS names and /etc/hosts lines
there, and loses them on disconnect; a created one records the network and is attached at its
start; host/none/container: modes get Docker's errors; `docker rm -f` leaves no endpoint, and
connections survive a `kill -9` of the daemon. Every network has its own bridge name and a
random /24 from 10.201.0.0/16 upwards; traffic stays between the test's own containers.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import subprocess
import time

import pytest
from netsupport import free_subnets

from daemon_fixture import running_daemon

ENDPOINT_FIELDS = {
    "IPAMConfig",
    "Links",
    "Aliases",
    "MacAddress",
    "DriverOpts",
    "NetworkID",
    "EndpointID",
    "Gateway",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "DNSNames",
}


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r


def fails(r: subprocess.CompletedProcess, message: str) -> None:
    assert r.returncode != 0, (r.args, r.stdout)
    assert message in r.stderr, (r.args, r.stderr)


class Env:
    """The module's daemon plus the networks and containers a test made (removed after it)."""

    def __init__(self, daemon) -> None:
        self.d = daemon
        self.networks: list[tuple[str, str]] = []  # (name, bridge)
        self.containers: list[str] = []

    def docker(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.d.docker(*args, **kwargs)

    def network(self, prefix: str) -> tuple[str, str, str]:
        """A new bridge network: (name, subnet, bridge name)."""
        (subnet,) = free_subnets(1)
        name = f"{prefix}-{secrets.token_hex(3)}"
        bridge = f"dyc{secrets.token_hex(4)}"
        self.networks.append((name, bridge))
        ok(
            self.docker(
                "network",
                "create",
                "--subnet",
                subnet,
                "-o",
                f"com.docker.network.bridge.name={bridge}",
                name,
            )
        )
        return name, subnet, bridge

    def run(self, name: str, *args: str) -> str:
        self.containers.append(name)
        return ok(self.docker("run", "-d", "--name", name, *args)).stdout.strip()

    def create(self, name: str, *args: str) -> str:
        self.containers.append(name)
        return ok(self.docker("create", "--name", name, *args)).stdout.strip()

    def inspect(self, what: str, *args: str) -> dict:
        return json.loads(ok(self.docker(*args, "inspect", what)).stdout)[0]

    def cleanup(self) -> None:
        if self.containers:
            self.docker("rm", "-f", *self.containers)
        for name, bridge in self.networks:
            self.docker("network", "rm", name)
            subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        self.containers.clear()
        self.networks.clear()


@pytest.fixture(scope="module")
def daemon(busybox_rootfs):
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        yield d


@pytest.fixture
def env(daemon):
    e = Env(daemon)
    try:
        yield e
    finally:
        e.cleanup()


def addresses(env: Env, container: str) -> dict[str, str]:
    """interface -> IPv4 address/prefix, from `ip -o -4 addr` inside the container."""
    out = ok(env.docker("exec", container, "ip", "-o", "-4", "addr")).stdout
    result = {}
    for line in out.splitlines():
        fields = line.split()
        result[fields[1]] = fields[3]
    return result


def bridge_ports(bridge: str) -> list[str]:
    try:
        return sorted(os.listdir(f"/sys/class/net/{bridge}/brif"))
    except FileNotFoundError:
        return []


def network_events(env: Env, since: str, container_id: str) -> set[str]:
    """ "action network-name" of the network events about one container since `since`."""
    out = ok(
        env.docker(
            "events",
            "--since",
            since,
            "--until",
            str(int(time.time()) + 1),
            "--filter",
            "type=network",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}}",
        )
    ).stdout
    return {
        line.rsplit(" ", 1)[0] for line in out.splitlines() if line.endswith(" " + container_id)
    }


def ping(env: Env, container: str, target: str) -> subprocess.CompletedProcess:
    return env.docker("exec", container, "ping", "-c1", "-W2", target)


def test_running_container_connect_and_disconnect(env):
    n1, s1, _ = env.network("one")
    n2, s2, br2 = env.network("two")
    since = str(int(time.time()) - 1)
    env.run("cj-a", "--network", n1, "busybox", "sleep", "300")
    b_id = env.run(
        "cj-b", "--network", n2, "--network-alias", "bee", "-h", "bhost", "busybox", "sleep", "300"
    )
    assert set(addresses(env, "cj-a")) == {"lo", "eth0"}

    ok(env.docker("network", "connect", "--alias", "ay", n2, "cj-a"))
    addrs = addresses(env, "cj-a")
    assert set(addrs) == {"lo", "eth0", "eth1"}
    eth1 = ipaddress.ip_interface(addrs["eth1"])
    assert eth1.network == ipaddress.ip_network(s2)
    assert ipaddress.ip_interface(addrs["eth0"]).network == ipaddress.ip_network(s1)
    assert len(bridge_ports(br2)) == 2

    # names on the new network, both ways; /etc/hosts lists the new address
    assert "1 packets received" in ok(ping(env, "cj-a", "bee")).stdout
    assert "1 packets received" in ok(ping(env, "cj-a", "cj-b")).stdout
    assert "1 packets received" in ok(ping(env, "cj-a", "bhost")).stdout  # Docker 25+
    assert "1 packets received" in ok(ping(env, "cj-b", "ay")).stdout
    hosts = ok(env.docker("exec", "cj-a", "cat", "/etc/hosts")).stdout
    assert str(eth1.ip) in hosts

    # inspect: Docker's field names, on both sides
    a = env.inspect("cj-a")
    nets = a["NetworkSettings"]["Networks"]
    assert set(nets) == {n1, n2}
    for ep in nets.values():
        assert ENDPOINT_FIELDS <= set(ep)
        assert ep["EndpointID"] and ep["NetworkID"] and ep["MacAddress"]
    assert nets[n2]["IPAddress"] == str(eth1.ip) and nets[n2]["IPPrefixLen"] == 24
    assert nets[n2]["Aliases"] == ["ay"]
    assert nets[n2]["Gateway"] == str(next(ipaddress.ip_network(s2).hosts()))
    assert "ay" in nets[n2]["DNSNames"] and "cj-a" in nets[n2]["DNSNames"]
    net2 = env.inspect(n2, "network")
    assert net2["Containers"][a["Id"]]["IPv4Address"] == f"{eth1.ip}/24"
    assert net2["Containers"][a["Id"]]["Name"] == "cj-a"

    # errors in Docker's words
    fails(
        env.docker("network", "connect", n2, "cj-a"),
        f"endpoint with name cj-a already exists in network {n2}",
    )
    fails(env.docker("network", "connect", "nosuch-net", "cj-a"), "network nosuch-net not found")

    ok(env.docker("network", "disconnect", n2, "cj-a"))
    assert set(addresses(env, "cj-a")) == {"lo", "eth0"}
    assert len(bridge_ports(br2)) == 1
    assert str(eth1.ip) not in ok(env.docker("exec", "cj-a", "cat", "/etc/hosts")).stdout
    assert ping(env, "cj-b", "ay").returncode != 0  # the alias went with the endpoint
    b_ip = env.inspect("cj-b")["NetworkSettings"]["Networks"][n2]["IPAddress"]
    assert ping(env, "cj-a", b_ip).returncode != 0  # no route to the other network now
    assert set(env.inspect("cj-a")["NetworkSettings"]["Networks"]) == {n1}
    assert a["Id"] not in env.inspect(n2, "network")["Containers"]
    assert b_id in env.inspect(n2, "network")["Containers"]
    fails(
        env.docker("network", "disconnect", n2, "cj-a"),
        f"container {a['Id']} is not connected to network {n2}",
    )

    events = ok(
        env.docker(
            "events",
            "--since",
            since,
            "--until",
            str(int(time.time()) + 1),
            "--filter",
            "type=network",
            "--filter",
            f"network={n2}",
            "--format",
            "{{.Action}} {{.Actor.Attributes.container}}",
        )
    ).stdout.splitlines()
    assert f"connect {a['Id']}" in events and f"disconnect {a['Id']}" in events


def test_created_container_is_attached_at_start(env):
    n1, s1, _ = env.network("one")
    n2, s2, _ = env.network("two")
    env.run("cj-srv", "--network", n2, "busybox", "sleep", "300")
    fixed = str(ipaddress.ip_network(s2).network_address + 50)
    env.create("cj-c", "--network", n1, "busybox", "sleep", "300")
    ok(env.docker("network", "connect", "--alias", "cee", "--ip", fixed, n2, "cj-c"))
    ok(env.docker("network", "connect", n2, "cj-c"))  # already recorded: nothing to do

    nets = env.inspect("cj-c")["NetworkSettings"]["Networks"]
    assert set(nets) == {n1, n2}
    assert nets[n2]["IPAddress"] == "" and nets[n2]["EndpointID"] == ""
    assert nets[n2]["IPAMConfig"] == {"IPv4Address": fixed} and nets[n2]["Aliases"] == ["cee"]
    assert nets[n2]["NetworkID"] == env.inspect(n2, "network")["Id"]

    since = str(int(time.time()) - 1)
    c_id = env.inspect("cj-c")["Id"]
    ok(env.docker("start", "cj-c"))
    addrs = addresses(env, "cj-c")
    assert set(addrs) == {"lo", "eth0", "eth1"} and addrs["eth1"] == f"{fixed}/24"
    assert "1 packets received" in ok(ping(env, "cj-srv", "cee")).stdout
    assert env.inspect("cj-c")["NetworkSettings"]["Networks"][n2]["IPAddress"] == fixed

    # stopped: the networks stay without addresses; disconnecting the first one before the
    # next start leaves the container on the second only
    ok(env.docker("stop", "-t", "0", "cj-c"))
    events = network_events(env, since, c_id)
    assert {f"connect {n1}", f"connect {n2}", f"disconnect {n1}", f"disconnect {n2}"} <= events
    stopped = env.inspect("cj-c")["NetworkSettings"]
    assert set(stopped["Networks"]) == {n1, n2} and stopped["SandboxKey"] == ""
    assert all(ep["IPAddress"] == "" and ep["NetworkID"] for ep in stopped["Networks"].values())
    ok(env.docker("network", "disconnect", n1, "cj-c"))
    ok(env.docker("start", "cj-c"))
    addrs = addresses(env, "cj-c")
    assert set(addrs) == {"lo", "eth0"} and addrs["eth0"] == f"{fixed}/24"
    assert set(env.inspect("cj-c")["NetworkSettings"]["Networks"]) == {n2}

    # docker run --ip, on two networks; and an address outside the subnet
    other = str(ipaddress.ip_network(s2).network_address + 60)
    env.run("cj-d", "--network", n2, "--ip", other, "--network", n1, "busybox", "sleep", "300")
    addrs = addresses(env, "cj-d")
    assert addrs["eth0"] == f"{other}/24" and ipaddress.ip_interface(addrs["eth1"]).network == (
        ipaddress.ip_network(s1)
    )
    env.create("cj-e", "busybox", "true")
    fails(
        env.docker("network", "connect", "--ip", "10.200.0.9", n2, "cj-e"),
        "no configured subnet or ip-range contain the IP address 10.200.0.9",
    )
    fails(
        env.docker("network", "connect", "--alias", "x", "bridge", "cj-e"),
        "network-scoped alias is supported only for containers in user defined networks",
    )


def test_network_modes_refuse_connect(env):
    n1, _s1, _ = env.network("one")
    env.run("cj-host", "--network", "host", "busybox", "sleep", "300")
    env.run("cj-none", "--network", "none", "busybox", "sleep", "300")
    env.run("cj-br", "busybox", "sleep", "300")
    env.run("cj-shared", "--network", "container:cj-br", "busybox", "sleep", "300")
    host_msg = "container cannot be disconnected from host network or connected to host network"
    shared_msg = (
        "container sharing network namespace with another container or host cannot be "
        "connected to any other network"
    )
    fails(env.docker("network", "disconnect", "host", "cj-host"), host_msg)
    fails(env.docker("network", "connect", "host", "cj-br"), host_msg)
    fails(env.docker("network", "connect", n1, "cj-host"), shared_msg)
    fails(env.docker("network", "connect", n1, "cj-shared"), shared_msg)
    fails(
        env.docker("network", "connect", n1, "cj-none"),
        "container cannot be connected to multiple networks with one of the networks in "
        "private (none) mode",
    )
    assert set(addresses(env, "cj-none")) == {"lo"}


def test_rm_force_removes_every_endpoint(env, daemon):
    n1, _s1, br1 = env.network("one")
    n2, _s2, br2 = env.network("two")
    cid = env.run("cj-gone", "--network", n1, "busybox", "sleep", "300")
    ok(env.docker("network", "connect", n2, "cj-gone"))
    assert len(bridge_ports(br1)) == 1 and len(bridge_ports(br2)) == 1
    netns_dir = os.path.join(daemon.exec_root, "netns")
    assert any(cid.startswith(n) for n in os.listdir(netns_dir))

    ok(env.docker("rm", "-f", "cj-gone"))
    deadline = time.monotonic() + 5
    while (bridge_ports(br1) or bridge_ports(br2)) and time.monotonic() < deadline:
        time.sleep(0.05)  # veths of removed containers are deleted off the request path
    assert bridge_ports(br1) == [] and bridge_ports(br2) == []
    assert not any(cid.startswith(n) for n in os.listdir(netns_dir))
    assert env.inspect(n1, "network")["Containers"] == {}
    assert env.inspect(n2, "network")["Containers"] == {}
    ok(env.docker("network", "rm", n1, n2))


def test_connections_survive_daemon_kill(env, daemon):
    n2, s2, _ = env.network("two")
    env.run("cj-live", "busybox", "sleep", "300")
    env.run("cj-peer", "--network", n2, "busybox", "sleep", "300")
    ok(env.docker("network", "connect", "--alias", "lively", n2, "cj-live"))
    env.create("cj-later", "busybox", "sleep", "300")
    ok(env.docker("network", "connect", n2, "cj-later"))
    before = env.inspect("cj-live")["NetworkSettings"]["Networks"][n2]

    daemon.kill9()
    daemon.start()

    after = env.inspect("cj-live")["NetworkSettings"]["Networks"][n2]
    assert after["IPAddress"] == before["IPAddress"] and after["EndpointID"] == before["EndpointID"]
    assert ipaddress.ip_interface(addresses(env, "cj-live")["eth1"]).network == (
        ipaddress.ip_network(s2)
    )
    assert "1 packets received" in ok(ping(env, "cj-peer", "lively")).stdout
    assert set(env.inspect("cj-later")["NetworkSettings"]["Networks"]) == {"bridge", n2}
    ok(env.docker("network", "disconnect", n2, "cj-live"))
    assert set(addresses(env, "cj-live")) == {"lo", "eth0"}
    ok(env.docker("start", "cj-later"))
    assert set(addresses(env, "cj-later")) == {"lo", "eth0", "eth1"}


def test_disconnected_from_every_network_before_start(env):
    n1, s1, _ = env.network("one")
    env.create("cj-bare", "busybox", "sleep", "300")
    ok(env.docker("network", "disconnect", "bridge", "cj-bare"))
    assert env.inspect("cj-bare")["NetworkSettings"]["Networks"] == {}
    ok(env.docker("start", "cj-bare"))
    assert set(addresses(env, "cj-bare")) == {"lo"}
    for _ in range(2):  # connect, disconnect, and again
        ok(env.docker("network", "connect", n1, "cj-bare"))
        addrs = addresses(env, "cj-bare")
        assert ipaddress.ip_interface(addrs["eth0"]).network == ipaddress.ip_network(s1)
        ok(env.docker("network", "disconnect", n1, "cj-bare"))
        assert set(addresses(env, "cj-bare")) == {"lo"}
    ok(env.docker("network", "connect", "bridge", "cj-bare"))
    assert set(addresses(env, "cj-bare")) == {"lo", "eth0"}


def test_unknown_network_is_reported_at_start(env):
    env.containers.append("cj-nonet")
    r = env.docker("run", "--name", "cj-nonet", "--network", "no-such-net", "busybox", "true")
    fails(r, "network no-such-net not found")
    assert "Unable to find image" not in r.stderr  # not a 404 at create: no pull attempt
