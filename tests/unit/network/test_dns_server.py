"""The embedded DNS server's logic over sockets on 127.0.0.1 (no namespaces, no root)."""

from __future__ import annotations

import socket
import threading

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from dockyard.network.dns import DnsServer, forward_query


def udp_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def dns_sockets() -> tuple[socket.socket, socket.socket]:
    """A UDP and a listening TCP socket on the same port of 127.0.0.1."""
    while True:
        udp = udp_socket()
        tcp = socket.socket()
        try:
            tcp.bind(("127.0.0.1", udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen()
        return udp, tcp


def ask_tcp(port: int, name: str) -> DNSRecord:
    return DNSRecord.parse(DNSRecord.question(name).send("127.0.0.1", port, tcp=True, timeout=5))


def ask(port: int, name: str, qtype: str = "A") -> DNSRecord:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(DNSRecord.question(name, qtype).pack(), ("127.0.0.1", port))
        return DNSRecord.parse(s.recvfrom(4096)[0])


@pytest.fixture
def upstream():
    sock = udp_socket()

    def serve():
        while True:
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                return
            q = DNSRecord.parse(data)
            reply = q.reply()
            if str(q.q.qname) == "outside.test.":
                reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("192.0.2.77"), ttl=30))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            try:
                sock.sendto(reply.pack(), peer)
            except OSError:  # closed by the fixture meanwhile
                return

    threading.Thread(target=serve, daemon=True).start()
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def server(upstream):
    records = {("c1", "web"): ["10.0.0.2", "10.0.0.3"], ("c1", "db"): ["10.0.0.9"]}
    calls = {"n": 0}

    def lookup(cid: str, name: str):
        found = records.get((cid, name))
        if found is None:
            return None
        calls["n"] += 1
        shift = calls["n"] % len(found)
        return found[shift:] + found[:shift]

    srv = DnsServer(lookup, lambda cid: [upstream])
    socks = dns_sockets()
    port = socks[0].getsockname()[1]
    srv.listen("c1", "", socks)
    yield srv, port
    srv.close()


def test_answers_known_names_round_robin(server):
    _srv, port = server
    first = [str(rr.rdata) for rr in ask(port, "web").rr]
    second = [str(rr.rdata) for rr in ask(port, "WEB.").rr]
    assert sorted(first) == sorted(second) == ["10.0.0.2", "10.0.0.3"]
    assert first[0] != second[0]
    assert [str(rr.rdata) for rr in ask(port, "db").rr] == ["10.0.0.9"]
    aaaa = ask(port, "db", "AAAA")
    assert aaaa.header.rcode == RCODE.NOERROR and not aaaa.rr


def test_tcp_queries(server):
    _srv, port = server
    assert [str(rr.rdata) for rr in ask_tcp(port, "db").rr] == ["10.0.0.9"]
    assert [str(rr.rdata) for rr in ask_tcp(port, "outside.test").rr] == ["192.0.2.77"]


def test_forwards_unknown_names(server):
    _srv, port = server
    assert [str(rr.rdata) for rr in ask(port, "outside.test").rr] == ["192.0.2.77"]
    assert ask(port, "nowhere.test").header.rcode == RCODE.NXDOMAIN


def test_unreachable_upstream_gives_servfail():
    dead = udp_socket()
    dead_port = dead.getsockname()[1]
    dead.close()
    srv = DnsServer(lambda cid, name: None, lambda cid: [f"127.0.0.1:{dead_port}"])
    socks = dns_sockets()
    srv.listen("x", "", socks)
    try:
        assert ask(socks[0].getsockname()[1], "any.test").header.rcode == RCODE.SERVFAIL
    finally:
        srv.close()
    assert forward_query(b"junk", []) is None


def test_unlisten_stops_answers(server):
    srv, port = server
    assert srv.listening() == ["c1"]
    srv.unlisten("c1")
    assert srv.listening() == []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(DNSRecord.question("web").pack(), ("127.0.0.1", port))
        with pytest.raises(OSError):
            s.recvfrom(4096)
