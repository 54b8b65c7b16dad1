"""The embedded DNS server, queried from inside namespaces with busybox nslookup and wget."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys

from netsupport import (
    UPSTREAM_ADDRESS,
    UPSTREAM_NAME,
    free_subnets,
    ns_run,
    remove_leftovers,
    unique_name,
)


def cid() -> str:
    return secrets.token_hex(32)


# busybox-static's wget crashes in static glibc's resolver, so the client is Python's urllib
# (glibc getaddrinfo reading the bind-mounted resolv.conf), retried while httpd starts.
FETCH = (
    "import time, urllib.request\n"
    "for i in range(25):\n"
    "    try:\n"
    '        print(urllib.request.urlopen("http://site/", timeout=2).read().decode(), end="")\n'
    "        break\n"
    "    except OSError:\n"
    "        time.sleep(0.2)\n"
)


def lookup(path: str, name: str) -> list[str]:
    """Addresses busybox nslookup gets from 127.0.0.11 inside the namespace."""
    res = ns_run(path, "nslookup", "-type=a", name, "127.0.0.11")
    out = res.stdout.split("Name:", 1)
    if len(out) < 2:
        return []
    return re.findall(r"Address:\s*([0-9.]+)", out[1])


def test_names_aliases_short_ids_and_forwarding(service, upstream):
    net = unique_name("dn")
    service.create(net, subnet=free_subnets(1)[0])
    a, b = cid(), cid()
    pa, pb = service.sandbox_create(a), service.sandbox_create(b)
    ea = service.connect(net, a, "alpha", aliases=["web"])
    eb = service.connect(net, b, "beta", aliases=["db"])
    assert lookup(pb, "alpha") == [ea.ip_address]
    assert lookup(pb, "web") == [ea.ip_address]
    assert lookup(pb, a[:12]) == [ea.ip_address]
    assert lookup(pa, "db") == [eb.ip_address]
    assert lookup(pa, f"beta.{net}") == [eb.ip_address]
    assert lookup(pa, UPSTREAM_NAME) == [UPSTREAM_ADDRESS]
    assert UPSTREAM_NAME in upstream.queries
    assert lookup(pa, "nosuch.dockyard.test") == []
    # over TCP too (a client retrying a truncated answer)
    tcp = subprocess.run(
        [
            "nsenter",
            f"--net={pa}",
            sys.executable,
            "-c",
            "from dnslib import DNSRecord; import sys; "
            "r = DNSRecord.parse(DNSRecord.question('db').send('127.0.0.11', 53, tcp=True, "
            "timeout=5)); print(r.rr[0].rdata)",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert tcp.stdout.strip() == eb.ip_address, tcp.stderr
    reverse = ns_run(pa, "nslookup", eb.ip_address, "127.0.0.11").stdout
    assert f"beta.{net}" in reverse
    # records go with the endpoint
    service.disconnect(net, b)
    assert lookup(pa, "db") == []


def test_round_robin_over_one_alias(service):
    net = unique_name("rr")
    service.create(net, subnet=free_subnets(1)[0])
    client = cid()
    pc = service.sandbox_create(client)
    service.connect(net, client, "client")
    addresses = set()
    for i in range(2):
        x = cid()
        service.sandbox_create(x)
        addresses.add(service.connect(net, x, f"replica{i}", aliases=["svc"]).ip_address)
    firsts = set()
    for _ in range(4):
        answer = lookup(pc, "svc")
        assert set(answer) == addresses
        firsts.add(answer[0])
    assert firsts == addresses


def test_answer_is_the_address_on_the_shared_network(service):
    s1, s2 = free_subnets(2)
    n1, n2 = unique_name("sa"), unique_name("sb")
    service.create(n1, subnet=s1)
    service.create(n2, subnet=s2)
    multi, left, right = cid(), cid(), cid()
    service.sandbox_create(multi)
    pl, pr = service.sandbox_create(left), service.sandbox_create(right)
    e1 = service.connect(n1, multi, "multi")
    e2 = service.connect(n2, multi, "multi")
    service.connect(n1, left, "left")
    service.connect(n2, right, "right")
    assert lookup(pl, "multi") == [e1.ip_address]
    assert lookup(pr, "multi") == [e2.ip_address]
    assert lookup(pl, "right") == []  # not on a shared network: forwarded, unknown upstream


def test_wget_by_name_with_written_resolv_conf(service, tmp_path):
    net = unique_name("wg")
    service.create(net, subnet=free_subnets(1)[0])
    server, client = cid(), cid()
    ps, pc = service.sandbox_create(server), service.sandbox_create(client)
    service.connect(net, server, "webserver", aliases=["site"])
    service.connect(net, client, "client")
    resolv = tmp_path / "resolv.conf"
    service.write_resolv_conf(client, str(resolv), dns_search=["."])
    assert resolv.read_text().splitlines()[1:] == ["nameserver 127.0.0.11", "options ndots:0"]
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("served by name\n")
    httpd = subprocess.Popen(
        ["nsenter", f"--net={ps}", "/bin/busybox", "httpd", "-f", "-p", "80", "-h", str(www)]
    )
    try:
        script = f"mount --bind {resolv} /etc/resolv.conf && exec {sys.executable} -c '{FETCH}'"
        res = subprocess.run(
            [
                "nsenter",
                f"--net={pc}",
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "/bin/sh",
                "-c",
                script,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert res.stdout == "served by name\n", res.stderr
    finally:
        httpd.kill()
        httpd.wait()


def test_forwards_to_the_hosts_resolvers(tmp_path):
    """Without configured forwarders the embedded DNS asks the nameservers of the host's
    resolv.conf (from the daemon's namespace, so a local one on 127.0.0.1 works, as Docker's)."""
    import pytest
    from netsupport import FakeUpstream, make_service

    try:
        upstream = FakeUpstream(53)
    except OSError:
        pytest.skip("127.0.0.1:53 is taken on this host")
    (tmp_path / "host-resolv.conf").write_text("nameserver 127.0.0.1\n")
    bridge = unique_name("dyt")
    default_subnet, pool = free_subnets(2, 24)
    service = make_service(tmp_path, None, bridge, default_subnet, pool)
    try:
        net = unique_name("hr")
        service.create(net, subnet=free_subnets(1)[0])
        a = cid()
        path = service.sandbox_create(a)
        service.connect(net, a, "asker")
        assert lookup(path, UPSTREAM_NAME) == [UPSTREAM_ADDRESS]
        assert UPSTREAM_NAME in upstream.queries
    finally:
        service.destroy_all()
        upstream.close()
        remove_leftovers(bridge)
