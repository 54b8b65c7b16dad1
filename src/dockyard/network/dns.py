"""The embedded DNS server of user-defined networks (container names, aliases, short ids).

Docker writes `nameserver 127.0.0.11` into each container's resolv.conf and, inside the
container's namespace, redirects 127.0.0.11:53 with iptables to a socket the daemon holds there.
We skip the iptables step: the daemon creates UDP and TCP sockets *inside* the container's
namespace, bound to 127.0.0.11:53 (the thread that creates the namespace makes them; after a
restart a helper thread joins the namespace with setns, makes them and leaves; a socket stays
in the namespace it was made in) and serves them from one thread of the daemon. Each socket
belongs to one container, so a query says by where it arrives who asks, and the answer is the
address on the networks that container shares with the target. TCP (length-prefixed
messages, RFC 1035 4.2.2) is served too, for clients that retry truncated answers over it.
Names we do not know are forwarded, from the daemon's own namespace, to the host's resolvers
(or the container's `--dns` servers), so localhost resolvers of the host work too. No
per-container iptables, no extra process; after a daemon restart the service re-creates the
sockets of the live containers (`NetworkService.reconcile`).
"""

from __future__ import annotations

import logging
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from dnslib import PTR, QTYPE, RCODE, RR, A, DNSRecord

from dockyard.network import netns

log = logging.getLogger(__name__)

EMBEDDED_ADDRESS = "127.0.0.11"
TTL = 600
FORWARD_TIMEOUT = 2.0

# lookup(container_id, name) -> addresses (rotated for round robin), or None: not ours;
# for "d.c.b.a.in-addr.arpa" names the answers are host names (reverse lookups)
Lookup = Callable[[str, str], "list[str] | None"]
# forwarders(container_id) -> ["ip" or "ip:port", ...]
Forwarders = Callable[[str], "list[str]"]


def _split_server(server: str) -> tuple[str, int]:
    host, sep, port = server.rpartition(":")
    if sep and host and "." in host:
        return host, int(port)
    return server, 53


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def _forward_tcp(data: bytes, host: str, port: int, timeout: float) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(struct.pack("!H", len(data)) + data)
        (size,) = struct.unpack("!H", _recv_exactly(s, 2))
        return _recv_exactly(s, size)


def forward_query(
    data: bytes, servers: list[str], timeout: float = FORWARD_TIMEOUT, tcp: bool = False
) -> bytes | None:
    """Ask each upstream server in turn; the first answer wins. Over UDP; a truncated answer
    is asked again over TCP when the client itself asked over TCP (`tcp`)."""
    for server in servers:
        host, port = _split_server(server)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.sendto(data, (host, port))
                reply, _ = s.recvfrom(65535)
            if tcp and len(reply) > 2 and reply[2] & 0x02:  # TC bit
                reply = _forward_tcp(data, host, port, timeout)
            return reply
        except (OSError, struct.error):
            continue
    return None


class DnsServer:
    """Serves each container namespace's DNS sockets from a single selector thread.

    Local answers are made on that thread; forwarded queries and TCP connections are handled
    by a small thread pool.
    """

    def __init__(self, lookup: Lookup, forwarders: Forwarders) -> None:
        self._lookup = lookup
        self._forwarders = forwarders
        self._selector = selectors.DefaultSelector()
        self._sockets: dict[str, netns.DnsSockets] = {}
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns")
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="embedded-dns", daemon=True)
        self._thread.start()

    def listen(
        self, container_id: str, netns_path: str, socks: netns.DnsSockets | None = None
    ) -> None:
        """Serve 127.0.0.11:53 (udp and tcp) inside the container's namespace (idempotent).

        `socks` are sockets already bound there (made with the namespace); without them they
        are made by joining the namespace.
        """
        with self._lock:
            if container_id in self._sockets:
                for sock in socks or ():
                    sock.close()
                return
            if socks is None:
                socks = netns.in_netns(netns_path, netns.dns_sockets)
            udp, tcp = socks
            for sock, kind in ((udp, "udp"), (tcp, "tcp")):
                sock.setblocking(False)
                self._selector.register(sock, selectors.EVENT_READ, (container_id, kind))
            self._sockets[container_id] = socks
        self._wake_w.send(b"x")

    def unlisten(self, container_id: str) -> None:
        with self._lock:
            socks = self._sockets.pop(container_id, None)
            if socks is None:
                return
            for sock in socks:
                self._selector.unregister(sock)
                sock.close()
        self._wake_w.send(b"x")

    def listening(self) -> list[str]:
        with self._lock:
            return list(self._sockets)

    def close(self) -> None:
        self._closed = True
        self._wake_w.send(b"x")
        self._thread.join(timeout=5)
        with self._lock:
            for socks in self._sockets.values():
                for sock in socks:
                    sock.close()
            self._sockets.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _serve(self) -> None:
        while not self._closed:
            for key, _ in self._selector.select(timeout=1.0):
                if key.data is None:
                    try:
                        self._wake_r.recv(4096)
                    except OSError:
                        pass
                    continue
                container_id, kind = key.data
                try:
                    if kind == "tcp":
                        conn, _peer = key.fileobj.accept()
                        self._pool.submit(self._serve_tcp, conn, container_id)
                        continue
                    data, peer = key.fileobj.recvfrom(65535)
                except OSError:
                    continue
                try:
                    self._handle_udp(key.fileobj, container_id, data, peer)
                except Exception:  # a bad packet must not stop the server
                    log.exception("embedded DNS: cannot handle a query")

    def _local_answer(
        self, container_id: str, data: bytes
    ) -> tuple[DNSRecord | None, bytes | None]:
        """(query, packed reply), reply None when the name is not ours (forward it)."""
        try:
            query = DNSRecord.parse(data)
        except Exception:
            return None, None
        if not query.questions:
            return None, None
        question = query.questions[0]
        name = str(question.qname).rstrip(".").lower()
        reverse = name.endswith(".in-addr.arpa")
        rtype, make = (QTYPE.PTR, PTR) if reverse else (QTYPE.A, A)
        answers = self._lookup(container_id, name)
        if answers is None:
            return query, None
        reply = query.reply()
        if question.qtype in (rtype, QTYPE.ANY):
            for answer in answers:
                reply.add_answer(RR(question.qname, rtype, rdata=make(answer), ttl=TTL))
        return query, reply.pack()

    def _forwarded(self, container_id: str, data: bytes, query: DNSRecord, tcp: bool) -> bytes:
        answer = forward_query(data, self._forwarders(container_id), tcp=tcp)
        if answer is None:
            reply = query.reply()
            reply.header.rcode = RCODE.SERVFAIL
            answer = reply.pack()
        return answer

    def _handle_udp(self, sock: socket.socket, container_id: str, data: bytes, peer) -> None:
        query, answer = self._local_answer(container_id, data)
        if query is None:
            return
        if answer is None:
            self._pool.submit(self._forward_udp, sock, container_id, data, query, peer)
            return
        self._send(sock, answer, peer)

    def _forward_udp(self, sock, container_id, data, query, peer) -> None:
        self._send(sock, self._forwarded(container_id, data, query, tcp=False), peer)

    def _serve_tcp(self, conn: socket.socket, container_id: str) -> None:
        """Length-prefixed queries on one connection until the client closes it."""
        with conn:
            conn.setblocking(True)
            conn.settimeout(10)
            try:
                while True:
                    (size,) = struct.unpack("!H", _recv_exactly(conn, 2))
                    data = _recv_exactly(conn, size)
                    query, answer = self._local_answer(container_id, data)
                    if query is None:
                        return
                    if answer is None:
                        answer = self._forwarded(container_id, data, query, tcp=True)
                    conn.sendall(struct.pack("!H", len(answer)) + answer)
            except (OSError, ConnectionError, struct.error):
                return

    @staticmethod
    def _send(sock: socket.socket, payload: bytes, peer) -> None:
        try:
            sock.sendto(payload, peer)
        except OSError:
            pass
