"""HTTP/1.1 to the daemon over a UNIX socket (or TCP), on the stdlib's `socket` alone.

`Transport.request` returns parsed JSON; `stream` yields raw chunks; `json_lines` yields the
messages of a newline-delimited JSON stream; `hijack` upgrades the connection for attach/exec
and returns the raw socket. The wire format lives in `http11`; http.client is not used because
its import (ssl, email) costs every CLI command ~20 ms.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from typing import Any

from dockyard.client import http11
from dockyard.client.errors import APIError, DaemonUnreachable, ProtocolError
from dockyard.client.urls import urlencode

DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"
API_VERSION = "1.47"
USER_AGENT = "dockyard-cli/0.1.0"


def default_host() -> str:
    """$DOCKYARD_HOST or the default socket ($DOCKER_HOST is deliberately not read)."""
    return os.environ.get("DOCKYARD_HOST") or DEFAULT_HOST


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
    return "?" + urlencode(pairs) if pairs else ""


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
    """The daemon's address and API version; one connection per request."""

    def __init__(
        self, host: str | None = None, version: str = API_VERSION, timeout: float | None = None
    ) -> None:
        self.host = host or default_host()
        self.version = version
        self.timeout = timeout
        self._tls = False
        scheme, _, rest = self.host.partition("://")
        if scheme == "unix":
            self._unix, self._tcp = rest, None
        elif scheme in ("tcp", "http", "https"):
            h, _, p = rest.rstrip("/").rpartition(":")
            default_port = 2376 if scheme == "https" else 2375
            self._unix, self._tcp = None, (h or "localhost", int(p or default_port))
            self._tls = scheme == "https"
        else:
            raise ValueError(f"unsupported host {self.host!r}")

    def url(self, path: str, params: dict[str, Any] | None = None, versioned: bool = True) -> str:
        prefix = f"/v{self.version}" if versioned and self.version else ""
        return prefix + path + _query(params)

    def _host_header(self) -> str:
        if self._tcp is None:
            return "localhost"
        return f"{self._tcp[0]}:{self._tcp[1]}"

    def _connect(self, timeout: float | None) -> socket.socket:
        try:
            return http11.connect(self._unix, self._tcp, timeout, self._tls)
        except (ConnectionRefusedError, FileNotFoundError, PermissionError) as exc:
            raise DaemonUnreachable(self.host) from exc

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: Any,
        headers: dict[str, str] | None,
        timeout: float | None,
        versioned: bool = True,
    ) -> tuple[socket.socket, http11.Response]:
        hdrs = {
            "Host": self._host_header(),
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
        }
        data: Any = None
        if body is not None:
            if isinstance(body, bytes | bytearray | memoryview) or hasattr(body, "read"):
                data = body
                hdrs["Content-Type"] = "application/x-tar"
            else:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        sock = self._connect(timeout if timeout is not None else self.timeout)
        try:
            try:
                http11.send_request(sock, method, self.url(path, params, versioned), hdrs, data)
            except (BrokenPipeError, ConnectionResetError):
                # The daemon may answer (an error) before it has read the whole body: its
                # answer is then the better report, when there is one.
                try:
                    resp = http11.read_response(sock, head_only=method == "HEAD")
                except (OSError, ProtocolError):
                    resp = None
                if resp is None or resp.status < 400:
                    raise
            else:
                resp = http11.read_response(sock, head_only=method == "HEAD")
            if resp.status >= 400:
                raw = resp.read()
                raise APIError(resp.status, _message(raw, resp.status, resp.reason))
        except BaseException:
            sock.close()
            raise
        return sock, resp

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
        sock, resp = self._send(method, path, params, body, headers, timeout, versioned)
        try:
            raw = resp.read()
        finally:
            sock.close()
        if not raw:
            return None
        ctype = resp.getheader("Content-Type", "")
        if "json" in ctype:
            return json.loads(raw)
        return raw.decode(errors="replace")

    def head(self, path: str, versioned: bool = True) -> dict[str, str]:
        sock, resp = self._send("HEAD", path, None, None, None, None, versioned)
        try:
            resp.read()
            return dict(resp.headers)
        finally:
            sock.close()

    def stream(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[bytes]:
        """The response body in chunks as they arrive."""
        sock, resp = self._send(method, path, params, body, headers, None)
        try:
            while True:
                chunk = resp.read1(http11.RECV_SIZE)
                if not chunk:
                    return
                yield chunk
        finally:
            sock.close()

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
        sock = self._connect(self.timeout)
        data = b"" if body is None else json.dumps(body).encode()
        hdrs = {
            "Host": self._host_header(),
            "User-Agent": USER_AGENT,
            "Connection": "Upgrade",
            "Upgrade": "tcp",
            "Content-Type": "application/json",
            "Content-Length": str(len(data)),
        }
        try:
            sock.sendall(http11.request_head(method, self.url(path, params), hdrs) + data)
            try:
                resp = http11.read_response(sock)
            except ProtocolError as exc:
                raise APIError(500, "the daemon closed the connection during the upgrade") from exc
            if resp.status >= 400:
                raw = resp.read()
                raise APIError(resp.status, _message(raw, resp.status, resp.reason))
        except BaseException:
            sock.close()
            raise
        if self.timeout is not None:
            sock.settimeout(None)  # the stream lasts as long as the container's output
        return HijackedSocket(sock, resp.leftover(), resp.status)


def _message(raw: bytes, status: int, reason: str = "") -> str:
    try:
        obj = json.loads(raw)
        if isinstance(obj, dict) and "message" in obj:
            return str(obj["message"])
    except ValueError:
        pass
    text = raw.decode(errors="replace").strip()
    return text or reason or f"HTTP {status}"
