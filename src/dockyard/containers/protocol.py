"""The wire format between the service and a container's monitor over its UNIX socket.

A client connects and sends one JSON line, the request ({"op": ...}). After that both sides
send frames: one byte of kind, four bytes of big-endian length, the payload.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

STDIN = 0
STDOUT = 1
STDERR = 2
EVENT = 3  # JSON: {"event": "start"|"exit"|"started"|"error"|"reply", ...}
CLOSE_STDIN = 4
RESIZE = 5  # JSON: {"h": rows, "w": columns}

HEADER = struct.Struct(">BI")


def frame(kind: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def event(obj: dict[str, Any]) -> bytes:
    return frame(EVENT, json.dumps(obj).encode())


class FrameReader:
    """Splits a byte stream into (kind, payload) frames."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER.size:
            kind, size = HEADER.unpack_from(self._buf)
            if len(self._buf) < HEADER.size + size:
                break
            out.append((kind, self._buf[HEADER.size : HEADER.size + size]))
            self._buf = self._buf[HEADER.size + size :]
        return out


class MonitorConnection:
    """The client side of one monitor connection (blocking)."""

    def __init__(self, path: str, request: dict[str, Any], timeout: float | None = 10) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            connect(self.sock, path, timeout)
            self.sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError:
            self.sock.close()
            raise
        self._reader = FrameReader()
        self._pending: list[tuple[int, bytes]] = []

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def read_frame(self) -> tuple[int, bytes] | None:
        """The next frame, or None at the end of the connection."""
        while not self._pending:
            data = self.sock.recv(65536)
            if not data:
                return None
            self._pending.extend(self._reader.feed(data))
        return self._pending.pop(0)

    def read_event(self) -> dict[str, Any] | None:
        """The next EVENT frame, skipping output frames."""
        while True:
            f = self.read_frame()
            if f is None:
                return None
            if f[0] == EVENT:
                return json.loads(f[1])

    def send(self, kind: int, payload: bytes) -> None:
        self.sock.sendall(frame(kind, payload))

    def close(self) -> None:
        """Close; a read blocked in another thread (an attach's output) returns at once (a
        bare close would leave it waiting for the monitor's next frame)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def connect(sock: socket.socket, path: str, timeout: float | None) -> None:
    """Connect; a full listen backlog (EAGAIN on a UNIX socket: the monitor is busy for a
    moment) is waited out until `timeout`, as a TCP connect would wait."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            sock.connect(path)
            return
        except BlockingIOError:
            if deadline is not None and time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def call(path: str, request: dict[str, Any], timeout: float | None = 10) -> dict[str, Any]:
    """Send one request and return the monitor's reply event."""
    conn = MonitorConnection(path, request, timeout)
    try:
        reply = conn.read_event()
    finally:
        conn.close()
    if reply is None:
        raise ConnectionError("the monitor closed the connection")
    return reply
