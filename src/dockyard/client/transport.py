"""HTTP/1.1 to the daemon over a UNIX socket (or plain TCP), with the stdlib only.

`Transport.request` returns parsed JSON; `stream` yields raw chunks; `json_lines` yields the
messages of a newline-delimited JSON stream; `hijack` upgrades the connection for attach/exec
and returns the raw socket.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from collections.abc import Iterator
from typing import Any

from dockyard.client.errors import APIError, DaemonUnreachable

DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"
API_VERSION = "1.47"
USER_AGENT = "dockyard-cli/0.1.0"


def default_host() -> str:
    """$DOCKYARD_HOST or the default socket ($DOCKER_HOST is deliberately not read)."""
    return os.environ.get("DOCKYARD_HOST") or DEFAULT_HOST


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _query(params: dict[str, Any] | None) -> str:
    if not params:
        return ""
    pairs = []
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "1" if v else "0"
        elif isinstance(v, dict):
            v = json.dumps(v, separators=(",", ":"))
        if isinstance(v, list):
            pairs += [(k, str(x)) for x in v]
        else:
            pairs.append((k, str(v)))
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


class HijackedSocket:
    """The raw connection after `101 UPGRADED`; bytes that came with the head are kept."""

    def __init__(self, sock: socket.socket, leftover: bytes, status: int) -> None:
        self.sock = sock
        self._leftover = leftover
        self.status = status

    def recv(self, n: int = 65536) -> bytes:
        if self._leftover:
            data, self._leftover = self._leftover[:n], self._leftover[n:]
            return data
        return self.sock.recv(n)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> HijackedSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    def __init__(
        self, host: str | None = None, version: str = API_VERSION, timeout: float | None = None
    ) -> None:
        self.host = host or default_host()
        self.version = version
        self.timeout = timeout
        scheme, _, rest = self.host.partition("://")
        if scheme == "unix":
            self._unix, self._tcp = rest, None
        elif scheme in ("tcp", "http"):
            h, _, p = rest.rstrip("/").rpartition(":")
            self._unix, self._tcp = None, (h or "localhost", int(p or 2375))
        else:
            raise ValueError(f"unsupported host {self.host!r}")

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._unix is not None:
            return _UnixConnection(self._unix, timeout)
        assert self._tcp is not None
        return http.client.HTTPConnection(self._tcp[0], self._tcp[1], timeout=timeout)

    def url(self, path: str, params: dict[str, Any] | None = None, versioned: bool = True) -> str:
        prefix = f"/v{self.version}" if versioned and self.version else ""
        return prefix + path + _query(params)

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: Any,
        headers: dict[str, str] | None,
        timeout: float | None,
        versioned: bool = True,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        hdrs = {"User-Agent": USER_AGENT}
        data: Any = None
        if body is not None:
            if isinstance(body, bytes | bytearray) or hasattr(body, "read"):
                data = body
                hdrs["Content-Type"] = "application/x-tar"
            else:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn = self._connection(timeout if timeout is not None else self.timeout)
        try:
            if hasattr(data, "read"):
                hdrs.setdefault("Transfer-Encoding", "chunked")
                conn.request(
                    method,
                    self.url(path, params, versioned),
                    body=_chunks(data),
                    headers=hdrs,
                    encode_chunked=True,
                )
            else:
                conn.request(method, self.url(path, params, versioned), body=data, headers=hdrs)
            resp = conn.getresponse()
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            conn.close()
            raise DaemonUnreachable(self.host) from exc
        except PermissionError as exc:
            conn.close()
            raise DaemonUnreachable(self.host) from exc
        if resp.status >= 400:
            raw = resp.read()
            conn.close()
            raise APIError(resp.status, _message(raw, resp.status))
        return conn, resp

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        versioned: bool = True,
    ) -> Any:
        """A request whose answer is JSON (or empty); errors raise APIError."""
        conn, resp = self._send(method, path, params, body, headers, timeout, versioned)
        try:
            raw = resp.read()
        finally:
            conn.close()
        if not raw:
            return None
        ctype = resp.getheader("Content-Type", "")
        if "json" in ctype:
            return json.loads(raw)
        return raw.decode(errors="replace")

    def head(self, path: str, versioned: bool = True) -> dict[str, str]:
        conn, resp = self._send("HEAD", path, None, None, None, None, versioned)
        try:
            resp.read()
            return {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()

    def stream(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[bytes]:
        """The response body in chunks as they arrive."""
        conn, resp = self._send(method, path, params, body, headers, None)
        try:
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    return
                yield chunk
        finally:
            conn.close()

    def json_lines(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[Any]:
        """The messages of a newline-delimited JSON stream."""
        buf = b""
        for chunk in self.stream(method, path, params, body, headers):
            buf += chunk
            while True:
                line, sep, rest = buf.partition(b"\n")
                if not sep:
                    break
                buf = rest
                if line.strip():
                    yield json.loads(line)
        if buf.strip():
            # Some streams are concatenated JSON without newlines.
            dec = json.JSONDecoder()
            text = buf.decode()
            pos = 0
            while pos < len(text):
                obj, pos = dec.raw_decode(text, pos)
                yield obj
                while pos < len(text) and text[pos].isspace():
                    pos += 1

    def hijack(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> HijackedSocket:
        """Send a request with `Upgrade: tcp` and return the raw connection after the head."""
        if self._unix is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            addr: Any = self._unix
        else:
            assert self._tcp is not None
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            addr = self._tcp
        try:
            sock.connect(addr)
        except (ConnectionRefusedError, FileNotFoundError, PermissionError) as exc:
            sock.close()
            raise DaemonUnreachable(self.host) from exc
        data = b"" if body is None else json.dumps(body).encode()
        head = [
            f"{method} {self.url(path, params)} HTTP/1.1",
            "Host: localhost",
            f"User-Agent: {USER_AGENT}",
            "Connection: Upgrade",
            "Upgrade: tcp",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
        ]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                sock.close()
                raise APIError(500, "the daemon closed the connection during the upgrade")
            buf += chunk
        header, _, rest = buf.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        if status >= 400:
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            sock.close()
            raise APIError(status, _message(rest, status))
        return HijackedSocket(sock, rest, status)


def _chunks(f: Any) -> Iterator[bytes]:
    while True:
        chunk = f.read(1 << 16)
        if not chunk:
            return
        yield chunk


def _message(raw: bytes, status: int) -> str:
    try:
        obj = json.loads(raw)
        if isinstance(obj, dict) and "message" in obj:
            return str(obj["message"])
    except ValueError:
        pass
    text = raw.decode(errors="replace").strip()
    return text or http.client.responses.get(status, f"HTTP {status}")
