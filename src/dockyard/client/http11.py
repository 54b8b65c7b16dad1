"""One HTTP/1.1 exchange over a stream socket, on `socket` alone.

`connect` opens AF_UNIX or TCP (TLS only for `https`, which is the one place `ssl` is
imported); `send_request` writes the head and a body (bytes with Content-Length, a file as
chunked transfer coding); `read_response` parses the status line and headers and returns a
`Response` whose body is framed by Content-Length, chunked transfer coding, or the end of the
connection. Bytes read past the head stay in the response's buffer (the hijack needs them).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

from dockyard.client.errors import ProtocolError

RECV_SIZE = 65536
MAX_HEAD = 1 << 20  # a response head larger than this is not an HTTP daemon talking
_SMALL_BODY = 1 << 16  # bodies up to this size go out in the same send as the head


def connect(
    unix_path: str | None,
    tcp: tuple[str, int] | None,
    timeout: float | None,
    tls: bool = False,
) -> socket.socket:
    """A connected socket (connect errors are the caller's to translate)."""
    if unix_path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if timeout is not None:
            sock.settimeout(timeout)
        try:
            sock.connect(unix_path)
        except BaseException:
            sock.close()
            raise
        return sock
    assert tcp is not None
    sock = socket.create_connection(tcp, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        import ssl  # only TLS hosts pay for it

        try:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=tcp[0])
        except BaseException:
            sock.close()
            raise
    return sock


def request_head(method: str, target: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def send_request(
    sock: socket.socket, method: str, target: str, headers: dict[str, str], body: Any = None
) -> None:
    """Write one request. `body` is None, bytes, or a readable file (sent chunked)."""
    hdrs = dict(headers)
    names = {k.lower() for k in hdrs}
    if body is None:
        if method in ("POST", "PUT", "PATCH") and "content-length" not in names:
            hdrs["Content-Length"] = "0"
        sock.sendall(request_head(method, target, hdrs))
    elif hasattr(body, "read"):
        if "transfer-encoding" not in names:
            hdrs["Transfer-Encoding"] = "chunked"
        sock.sendall(request_head(method, target, hdrs))
        _send_chunked(sock, _file_chunks(body))
    else:
        data = bytes(body) if not isinstance(body, bytes) else body
        if "content-length" not in names:
            hdrs["Content-Length"] = str(len(data))
        head = request_head(method, target, hdrs)
        if len(data) <= _SMALL_BODY:
            sock.sendall(head + data)
        else:
            sock.sendall(head)
            sock.sendall(data)


def _file_chunks(f: Any) -> Iterable[bytes]:
    while True:
        chunk = f.read(RECV_SIZE)
        if not chunk:
            return
        yield chunk


def _send_chunked(sock: socket.socket, chunks: Iterable[bytes]) -> None:
    for chunk in chunks:
        if chunk:
            sock.sendall(b"%x\r\n" % len(chunk) + bytes(chunk) + b"\r\n")
    sock.sendall(b"0\r\n\r\n")


class Response:
    """Status, headers (names lower-cased) and the body, read from the socket on demand."""

    def __init__(self, sock: socket.socket, buf: bytearray, head_only: bool) -> None:
        self.sock = sock
        self._buf = buf
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self._parse_head()
        self._chunked = False
        self._remaining: int | None = None  # Content-Length left; None: until close
        self._chunk_left = 0  # bytes left in the current chunk
        self._done = False
        if head_only or self.status < 200 or self.status in (204, 304):
            self._done = True  # a 101's raw stream is the caller's (`leftover`, then the socket)
            self._remaining = 0
        elif "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._chunked = True
        elif "content-length" in self.headers:
            try:
                self._remaining = int(self.headers["content-length"])
            except ValueError:
                raise ProtocolError(
                    f"bad Content-Length from the daemon: {self.headers['content-length']!r}"
                ) from None
            if self._remaining == 0:
                self._done = True

    # -- head -------------------------------------------------------------------------------

    def _recv(self) -> bytes:
        return self.sock.recv(RECV_SIZE)

    def _parse_head(self) -> None:
        start = 0
        while True:
            end = self._buf.find(b"\r\n\r\n", start)
            if end >= 0:
                break
            if len(self._buf) > MAX_HEAD:
                raise ProtocolError("the daemon's response head is too large")
            start = max(0, len(self._buf) - 3)
            data = self._recv()
            if not data:
                if not self._buf:
                    raise ProtocolError("the daemon closed the connection without a response")
                raise ProtocolError("the daemon closed the connection in the response head")
            self._buf += data
        head = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 4]
        status_line, *lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ProtocolError(f"malformed status line from the daemon: {status_line!r}")
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                continue
            key = name.strip().lower()
            value = value.strip()
            if key in self.headers and key != "content-length":
                self.headers[key] += ", " + value
            else:
                self.headers[key] = value

    def getheader(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def will_close(self) -> bool:
        """The connection ends with this response (no framing, or `Connection: close`)."""
        if "close" in self.headers.get("connection", "").lower():
            return True
        return not self._chunked and self._remaining is None

    def leftover(self) -> bytes:
        """What arrived after the head and has not been read (for a hijacked connection)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    # -- body -------------------------------------------------------------------------------

    def read1(self, n: int = RECV_SIZE) -> bytes:
        """Up to n body bytes, at most one recv; b"" at the end of the body."""
        if self._done or n <= 0:
            return b""
        if self._chunked:
            return self._read1_chunked(n)
        if self._remaining is not None:
            n = min(n, self._remaining)
        data = self._take(n)
        if not data:
            if self._remaining:
                raise ProtocolError(
                    f"the daemon closed the connection with {self._remaining} body bytes unsent"
                )
            self._done = True
            return b""
        if self._remaining is not None:
            self._remaining -= len(data)
            if self._remaining == 0:
                self._done = True
        return data

    def read(self) -> bytes:
        """The rest of the body."""
        parts = []
        while True:
            data = self.read1(RECV_SIZE)
            if not data:
                return b"".join(parts)
            parts.append(data)

    def _take(self, n: int) -> bytes:
        """Up to n bytes from the buffer, or else from one recv (b"" at EOF)."""
        if not self._buf:
            data = self._recv()
            if len(data) <= n:
                return data
            self._buf += data
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _readline(self) -> bytes:
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[: i + 2]
                return line
            if len(self._buf) > MAX_HEAD:
                raise ProtocolError("a chunk header from the daemon is too long")
            data = self._recv()
            if not data:
                raise ProtocolError("the daemon closed the connection inside a chunked body")
            self._buf += data

    def _read1_chunked(self, n: int) -> bytes:
        if self._chunk_left == 0:
            line = self._readline()
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size from the daemon: {line!r}") from None
            if size == 0:
                while self._readline():  # trailers up to the empty line
                    pass
                self._done = True
                return b""
            self._chunk_left = size
        data = self._take(min(n, self._chunk_left))
        if not data:
            raise ProtocolError("the daemon closed the connection inside a chunked body")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            if self._readline():
                raise ProtocolError("a chunk from the daemon does not end with CRLF")
        return data


def read_response(sock: socket.socket, head_only: bool = False) -> Response:
    """Read a response head (skipping interim 100 Continue answers)."""
    buf = bytearray()
    while True:
        resp = Response(sock, buf, head_only)
        if resp.status != 100:
            return resp
        buf = resp._buf
