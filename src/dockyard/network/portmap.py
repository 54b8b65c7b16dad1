"""Host port allocation for published ports: who holds which (protocol, address, port).

A port is free when no container holds it on the same address (0.0.0.0 overlaps every address)
and no host process holds it (probed with bind(), as docker-proxy would fail). `-p 80` takes
the next free port of the kernel's ephemeral range (ip_local_port_range, 32768-60999 by
default), going round it as Docker's allocator does; `-p 8000-8010:80` the first free one of
the range.
"""

from __future__ import annotations

import errno
import socket

from dockyard.errors import InvalidParameter

ANY = "0.0.0.0"


def host_port_free(proto: str, host_ip: str, port: int) -> bool:
    """Probe with bind(): False when a host process already holds the port."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            s.bind((host_ip or ANY, port))
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                raise InvalidParameter(
                    f"listen {proto} {host_ip}:{port}: bind: cannot assign requested address"
                ) from None
            return False
    return True


def ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


class HostPortTable:
    """The host ports published containers hold, rebuilt from sandbox records at start."""

    def __init__(self) -> None:
        self._holders: dict[tuple[str, int], list[tuple[str, str]]] = {}
        self._cursor = 0

    def taken(self, proto: str, host_ip: str, port: int) -> bool:
        for other_ip, _holder in self._holders.get((proto, port), []):
            if ANY in (other_ip or ANY, host_ip or ANY) or other_ip == host_ip:
                return True
        return False

    def hold(self, proto: str, host_ip: str, port: int, holder: str) -> None:
        self._holders.setdefault((proto, port), []).append((host_ip, holder))

    def release(self, proto: str, host_ip: str, port: int, holder: str) -> None:
        holders = self._holders.get((proto, port), [])
        if (host_ip, holder) in holders:
            holders.remove((host_ip, holder))
        if not holders:
            self._holders.pop((proto, port), None)

    def pick(self, proto: str, host_ip: str, lo: int, hi: int) -> int | None:
        """A free port: `lo` itself, the first free one of lo-hi, or (lo == 0) an ephemeral
        one; None when there is none."""
        dynamic = lo == 0
        if dynamic:
            lo, hi = ephemeral_range()
            span = hi - lo + 1
            candidates = [lo + (self._cursor + i) % span for i in range(span)]
        else:
            candidates = list(range(lo, hi + 1))
        for port in candidates:
            if not self.taken(proto, host_ip, port) and host_port_free(proto, host_ip, port):
                if dynamic:
                    self._cursor = port - lo + 1
                return port
        return None
