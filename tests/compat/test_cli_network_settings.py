"""Issue 5 through the real docker CLI: a container's /etc files and DNS options, published
ports (`-p 80`, `-P`, `/udp`) seen by `docker port`, ps and inspect and reached on 127.0.0.1 and
on the host's own non-loopback address, masquerade rules, forwarding of unknown names.

Test traffic goes to 127.0.0.1, to this machine's own addresses (local traffic) and into the
containers' namespaces only.
"""

from __future__ import annotations

import ipaddress
import json
import random
import socket
import subprocess
import time
import urllib.request

import pytest
from dnslib import QTYPE, RR, A, DNSRecord

from daemon_fixture import DOCKER, running_daemon
from dockyard.network import netns
from support import ENGINE_API_SPEC

UPSTREAM_NAME = "upstream.dockyard.test"
UPSTREAM_ADDRESS = "10.254.254.253"


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


def ok(r):
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r


def get(url: str, attempts: int = 50) -> str:
    error: Exception | None = None
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError as e:
            error = e
            time.sleep(0.1)
    raise AssertionError(f"{url}: {error}")


def own_address() -> str | None:
    """An IPv4 address of this machine on a non-loopback, non-container interface (eth0's)."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        addr = line.split()[3].split("/")[0]
        if not ipaddress.ip_address(addr).is_loopback:
            return addr
    return None


def subnet() -> str:
    return f"10.{random.randint(201, 250)}.{random.randint(0, 255)}.0/24"


def host_resolv_without_localhost() -> list[str]:
    with open("/etc/resolv.conf") as f:
        lines = [line.rstrip("\n") for line in f]
    return [
        line
        for line in lines
        if not (
            line.split()[:1] == ["nameserver"]
            and ipaddress.ip_address(line.split()[1].split("%")[0]).is_loopback
        )
    ]


def test_etc_files_on_the_default_bridge(d):
    gateway = d.bip.split("/")[0]
    script = (
        "hostname; echo ==; cat /etc/hostname; echo ==; cat /etc/hosts; echo ==; "
        "cat /etc/resolv.conf; echo ==; ip -o -4 addr show eth0"
    )
    r = ok(d.docker("run", "-d", "--name", "plain", "busybox", "sh", "-c", script))
    cid = r.stdout.strip()
    try:
        ok(d.docker("wait", cid))
        out = ok(d.docker("logs", cid)).stdout
    finally:
        d.docker("rm", "-f", cid)
    hostname, etc_hostname, hosts, resolv, addr = out.split("==\n")
    assert hostname == etc_hostname == cid[:12] + "\n"
    ip = addr.split()[3].split("/")[0]
    assert f"{ip}\t{cid[:12]}" in hosts.splitlines()
    assert "127.0.0.1\tlocalhost" in hosts.splitlines()
    # the host's resolv.conf, localhost nameservers dropped (Docker's rule on the default bridge)
    got = [line for line in resolv.splitlines() if line.strip()]
    want = [line for line in host_resolv_without_localhost() if line.strip()]
    if any(line.startswith("nameserver") for line in want):
        assert [x for x in got if x.startswith("nameserver")] == [
            x for x in want if x.startswith("nameserver")
        ]

    r = ok(
        d.docker(
            "run",
            "--rm",
            "--hostname",
            "hh.example",
            "--add-host",
            "extra.test:10.201.9.9",
            "--add-host",
            "gw.test:host-gateway",
            "--dns",
            "10.201.9.53",
            "--dns-search",
            "s1.test",
            "--dns-option",
            "ndots:3",
            "busybox",
            "sh",
            "-c",
            script,
        )
    )
    hostname, etc_hostname, hosts, resolv, addr = r.stdout.split("==\n")
    assert hostname == etc_hostname == "hh.example\n"
    ip = addr.split()[3].split("/")[0]
    lines = hosts.splitlines()
    assert "10.201.9.9\textra.test" in lines
    assert f"{gateway}\tgw.test" in lines  # host-gateway: the default bridge's gateway
    assert any(line.split()[0] == ip and "hh.example" in line.split()[1:] for line in lines)
    assert [x for x in resolv.splitlines() if x.startswith("nameserver")] == [
        "nameserver 10.201.9.53"
    ]
    assert "search s1.test" in resolv.splitlines()
    assert "options ndots:3" in resolv.splitlines()


def test_user_network_resolv_conf_and_forwarding(d):
    """On a user network the container asks 127.0.0.11; names it does not know go to the
    container's --dns servers, asked from the daemon's side (a fake one on 127.0.0.1:53)."""
    net = "setnet"
    ok(d.docker("network", "create", "--subnet", subnet(), net))
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        try:
            upstream.bind(("127.0.0.1", 53))
        except OSError:
            pytest.skip("127.0.0.1:53 is taken on this host")
        upstream.settimeout(20)
        run = subprocess.Popen(
            [
                DOCKER,
                "run",
                "--rm",
                "--network",
                net,
                "--dns",
                "127.0.0.1",
                "--dns-search",
                "s2.test",
                "busybox",
                "sh",
                "-c",
                f"cat /etc/resolv.conf; echo ==; nslookup -type=a {UPSTREAM_NAME}",
            ],
            env=d.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            data, peer = upstream.recvfrom(4096)
            query = DNSRecord.parse(data)
            assert str(query.q.qname).rstrip(".") == UPSTREAM_NAME
            reply = query.reply()
            reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(UPSTREAM_ADDRESS), ttl=60))
            upstream.sendto(reply.pack(), peer)
            out, err = run.communicate(timeout=30)
        finally:
            run.kill()
            run.wait()
        resolv, answer = out.split("==\n")
        assert [x for x in resolv.splitlines() if x.startswith("nameserver")] == [
            "nameserver 127.0.0.11"
        ]
        assert "search s2.test" in resolv.splitlines()
        assert UPSTREAM_ADDRESS in answer, out + err
    finally:
        upstream.close()
        d.docker("network", "rm", net)


def test_published_ports_random_publish_all_and_udp(d):
    lo, hi = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    web = ok(
        d.docker("run", "-d", "-p", "80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    ).stdout.strip()
    allp = ok(
        d.docker(
            "run", "-d", "--expose", "80", "-P", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"
        )
    ).stdout.strip()
    udp_port = random.randint(20000, 30000)
    udp = ok(
        d.docker("run", "-d", "-p", f"127.0.0.1:{udp_port}:5353/udp", "busybox", "sleep", "60")
    ).stdout.strip()
    try:
        mapped = ok(d.docker("port", web, "80")).stdout.split()
        assert len(mapped) == 1 and mapped[0].startswith("0.0.0.0:")
        port = int(mapped[0].split(":")[1])
        assert lo <= port <= hi  # a free port of the ephemeral range, as Docker picks
        assert get(f"http://127.0.0.1:{port}/hostname") == web[:12] + "\n"
        addr = own_address()
        if addr:  # this machine's own non-loopback address: local traffic
            assert get(f"http://{addr}:{port}/hostname") == web[:12] + "\n"
        (doc,) = json.loads(ok(d.docker("inspect", web)).stdout)
        assert doc["NetworkSettings"]["Ports"] == {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
        }
        assert doc["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": ""}]}
        ps = ok(d.docker("ps", "--no-trunc", "--format", "{{.ID}} {{.Ports}}")).stdout
        assert f"{web} 0.0.0.0:{port}->80/tcp" in ps.splitlines()

        (doc,) = json.loads(ok(d.docker("inspect", allp)).stdout)
        (binding,) = doc["NetworkSettings"]["Ports"]["80/tcp"]
        assert doc["HostConfig"]["PublishAllPorts"] is True
        assert get(f"http://127.0.0.1:{binding['HostPort']}/hostname") == allp[:12] + "\n"

        assert ok(d.docker("port", udp)).stdout.strip() == f"5353/udp -> 127.0.0.1:{udp_port}"
        assert f"127.0.0.1:{udp_port}->5353/udp" in ok(d.docker("ps")).stdout
        pid = ok(d.docker("inspect", "-f", "{{.State.Pid}}", udp)).stdout.strip()
        server = netns.netns_socket(f"/proc/{pid}/ns/net", socket.AF_INET, socket.SOCK_DGRAM)
        try:
            server.bind(("0.0.0.0", 5353))
            server.settimeout(5)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"ping-udp", ("127.0.0.1", udp_port))
            assert server.recvfrom(100)[0] == b"ping-udp"
        finally:
            server.close()
    finally:
        d.docker("rm", "-f", web, allp, udp)


def nat_rules() -> list[str]:
    return subprocess.run(
        ["iptables-save", "-t", "nat"], capture_output=True, text=True
    ).stdout.splitlines()


def test_masquerade_for_bridges_but_not_internal(d):
    outside, internal = subnet(), subnet()
    while internal == outside:
        internal = subnet()
    ok(d.docker("network", "create", "--subnet", outside, "masq-out"))
    ok(d.docker("network", "create", "--internal", "--subnet", internal, "masq-in"))
    try:
        rules = [r for r in nat_rules() if "MASQUERADE" in r]
        default = str(ipaddress.ip_interface(d.bip).network)
        assert any(f"-s {default} " in r for r in rules)
        assert any(f"-s {outside} " in r for r in rules)
        assert not any(internal in r for r in rules)
    finally:
        d.docker("network", "rm", "masq-out", "masq-in")
    rules = nat_rules()
    assert not any(outside in r for r in rules)


def test_containers_reach_each_other_by_name_and_alias_only_on_their_network(d):
    """Acceptance 1 with busybox containers: ping and a TCP request by name and by alias; a
    container on another network cannot reach them; an --internal network has no route out."""
    ok(d.docker("network", "create", "--subnet", subnet(), "reach1"))
    ok(d.docker("network", "create", "--subnet", subnet(), "reach2"))
    ok(d.docker("network", "create", "--internal", "--subnet", subnet(), "reachin"))
    try:
        srv = ok(
            d.docker(
                "run", "-d", "--name", "srv", "--network", "reach1", "--network-alias", "web",
                "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
            )
        ).stdout.strip()  # fmt: skip
        ok(d.docker("run", "-d", "--name", "cli", "--network", "reach1", "busybox", "sleep", "60"))
        request = 'printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" | nc -w 3 {} 80'
        for name in ("srv", "web"):
            r = ok(d.docker("exec", "cli", "ping", "-c1", "-W3", name))
            assert "1 packets received" in r.stdout
            r = ok(d.docker("exec", "cli", "sh", "-c", request.format(name)))
            assert r.stdout.endswith(srv[:12] + "\n"), r.stdout
        srv_ip = ok(
            d.docker("inspect", "-f", "{{.NetworkSettings.Networks.reach1.IPAddress}}", "srv")
        ).stdout.strip()
        other = d.docker(
            "run", "--rm", "--network", "reach2", "busybox", "sh", "-c",
            f"ping -c1 -W1 {srv_ip}; echo; {request.format(srv_ip)}",
        )  # fmt: skip
        assert "0 packets received" in other.stdout and srv[:12] not in other.stdout
        inside = ok(
            d.docker("run", "--rm", "--network", "reachin", "busybox", "ip", "route")
        ).stdout
        assert inside.strip() and "default" not in inside
    finally:
        d.docker("rm", "-f", "srv", "cli")
        d.docker("network", "rm", "reach1", "reach2", "reachin")


def test_bad_network_input_in_dockers_words_leaves_nothing(d):
    taken = subnet()
    ok(d.docker("network", "create", "--subnet", taken, "badin"))
    try:
        ls_before = ok(d.docker("network", "ls", "-q")).stdout
        r = d.docker("network", "create", "--subnet", taken, "badov")
        assert r.returncode == 1
        assert "Pool overlaps with other one on this address space" in r.stderr
        other = subnet()
        r = d.docker("network", "create", "--subnet", other, "--gateway", "10.200.0.1", "badgw")
        assert r.returncode == 1 and "no matching subnet for gateway 10.200.0.1" in r.stderr
        r = d.docker("network", "create", "--subnet", other, "badin")
        assert r.returncode == 1
        assert "network with name badin already exists" in r.stderr
        r = d.docker("run", "--rm", "-p", "80/icmp", "busybox", "true")
        assert r.returncode != 0 and "invalid proto: icmp" in r.stderr
        assert ok(d.docker("network", "ls", "-q")).stdout == ls_before
        # no bridge was made for the refused networks (other tests' links may come and go)
        addrs = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
        assert addrs.count("inet " + taken.rsplit(".", 1)[0] + ".") == 1
        assert "inet " + other.rsplit(".", 1)[0] + "." not in addrs
    finally:
        d.docker("network", "rm", "badin")


SPEC = ENGINE_API_SPEC


def _spec_properties(definition: str) -> set[str]:
    import yaml

    with open(SPEC) as f:
        spec = yaml.safe_load(f)
    return set(spec["definitions"][definition]["properties"])


def test_inspect_network_settings_have_dockers_field_names(d):
    ok(d.docker("network", "create", "--subnet", subnet(), "fields"))
    try:
        ok(
            d.docker(
                "run", "-d", "--name", "fielded", "--network", "fields", "--network-alias", "al",
                "-p", "127.0.0.1::80", "busybox", "sleep", "60",
            )
        )  # fmt: skip
        (doc,) = json.loads(ok(d.docker("inspect", "fielded")).stdout)
        settings = doc["NetworkSettings"]
        assert set(settings) == _spec_properties("NetworkSettings")
        endpoint = settings["Networks"]["fields"]
        assert set(endpoint) == _spec_properties("EndpointSettings")
        assert "al" in endpoint["Aliases"] and "fielded" in endpoint["DNSNames"]
        assert endpoint["IPAddress"].startswith(endpoint["Gateway"].rsplit(".", 1)[0] + ".")
        assert endpoint["IPPrefixLen"] == 24 and endpoint["MacAddress"]
        assert settings["SandboxKey"] and settings["Ports"]["80/tcp"][0]["HostIp"] == "127.0.0.1"
        (net,) = json.loads(ok(d.docker("network", "inspect", "fields")).stdout)
        assert set(net) >= {"Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM",
                            "Internal", "Attachable", "Ingress", "ConfigFrom", "ConfigOnly",
                            "Containers", "Options", "Labels"}  # fmt: skip
        (member,) = net["Containers"].values()
        assert set(member) == {"Name", "EndpointID", "MacAddress", "IPv4Address", "IPv6Address"}
        assert member["IPv4Address"] == endpoint["IPAddress"] + "/24"
    finally:
        d.docker("rm", "-f", "fielded")
        d.docker("network", "rm", "fields")
