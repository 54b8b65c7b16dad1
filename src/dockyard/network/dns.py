"""The embedded DNS server of user-defined networks (container names, aliases, short ids).

Docker writes `nameserver 127.0.0.11` into each container's resolv.conf and, inside the
container's namespace, redirects 127.0.0.11:53 with iptables to a socket the daemon holds there.
We skip the iptables step: the daemon creates a UDP socket *inside* the container's namespace
(a helper thread joins the namespace with setns, creates and binds the socket to
127.0.0.11:53, and leaves; the socket stays in that namespace) and serves it from one thread
of the daemon. Each socket belongs to one container, so a query says by where it arrives who
asks, and the answer is the address on the networks that container shares with the target.
Names we do not know are forwarded, from the daemon's own namespace, to the host's resolvers
(or the container's `--dns` servers), so localhost resolvers of the host work too. No
per-container iptables, no extra process; after a daemon restart the service re-creates the
sockets of the live containers (`NetworkService.reconcile`).
"""

from __future__ import annotations

import logging
import selectors
import socket
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


def forward_query(
    data: bytes, servers: list[str], timeout: float = FORWARD_TIMEOUT
) -> bytes | None:
    """Ask each upstream server in turn; the first answer wins."""
    for server in servers:
        host, port = _split_server(server)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            try:
                s.sendto(data, (host, port))
                reply, _ = s.recvfrom(65535)
                return reply
            except OSError:
                continue
    return None


class DnsServer:
    """Serves one UDP socket per container namespace from a single selector thread."""

    def __init__(self, lookup: Lookup, forwarders: Forwarders) -> None:
        self._lookup = lookup
        self._forwarders = forwarders
        self._selector = selectors.DefaultSelector()
        self._sockets: dict[str, socket.socket] = {}
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns-forward")
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="embedded-dns", daemon=True)
        self._thread.start()

    def listen(self, container_id: str, netns_path: str, sock: socket.socket | None = None) -> None:
        """Serve 127.0.0.11:53/udp inside the container's namespace (idempotent).

        `sock` is a socket already bound there (made with the namespace); without it one is
        made by joining the namespace.
        """
        with self._lock:
            if container_id in self._sockets:
                if sock is not None:
                    sock.close()
                return
            if sock is None:
                sock = netns.in_netns(netns_path, netns.dns_socket)
            sock.setblocking(False)
            self._sockets[container_id] = sock
            self._selector.register(sock, selectors.EVENT_READ, container_id)
        self._wake_w.send(b"x")

    def unlisten(self, container_id: str) -> None:
        with self._lock:
            sock = self._sockets.pop(container_id, None)
            if sock is None:
                return
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
            for sock in self._sockets.values():
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
                try:
                    data, peer = key.fileobj.recvfrom(65535)
                except OSError:
                    continue
                try:
                    self._handle(key.fileobj, key.data, data, peer)
                except Exception:  # a bad packet must not stop the server
                    log.exception("embedded DNS: cannot handle a query")

    def _handle(self, sock: socket.socket, container_id: str, data: bytes, peer) -> None:
        try:
            query = DNSRecord.parse(data)
        except Exception:
            return
        if not query.questions:
            return
        question = query.questions[0]
        name = str(question.qname).rstrip(".").lower()
        reverse = name.endswith(".in-addr.arpa")
        rtype, make = (QTYPE.PTR, PTR) if reverse else (QTYPE.A, A)
        answers = self._lookup(container_id, name)
        if answers is None:
            self._pool.submit(self._forward, sock, container_id, data, query, peer)
            return
        reply = query.reply()
        if question.qtype in (rtype, QTYPE.ANY):
            for answer in answers:
                reply.add_answer(RR(question.qname, rtype, rdata=make(answer), ttl=TTL))
        self._send(sock, reply.pack(), peer)

    def _forward(self, sock, container_id, data, query, peer) -> None:
        answer = forward_query(data, self._forwarders(container_id))
        if answer is None:
            reply = query.reply()
            reply.header.rcode = RCODE.SERVFAIL
            answer = reply.pack()
        self._send(sock, answer, peer)

    @staticmethod
    def _send(sock: socket.socket, payload: bytes, peer) -> None:
        try:
            sock.sendto(payload, peer)
        except OSError:
            pass
