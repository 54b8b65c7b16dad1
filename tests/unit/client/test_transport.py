"""The stdlib client against a tiny HTTP server on a UNIX socket: query encoding, JSON lines,
errors, the hijack's leftover bytes."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from dockyard.client import APIClient, APIError
from dockyard.client.transport import _query


def test_query_encoding():
    assert _query(None) == ""
    assert _query({"all": True, "limit": None, "n": 3}) == "?all=1&n=3"
    q = _query({"filters": {"label": ["a=b"]}, "names": ["x", "y"]})
    assert q == "?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D&names=x&names=y"


class OneShotServer:
    """Answers each connection with a canned response and records the request."""

    def __init__(self, path: str, response: bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(4)
        self.response = response
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            # Read the body too: answering before the client has sent it would race its send.
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            data = head + b"\r\n\r\n" + body
            self.requests.append(data)
            conn.sendall(self.response)
            conn.close()


def _http(status: str, body: bytes, ctype: str = "application/json") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


def test_json_lines_and_concatenated_json(tmp_path):
    body = b'{"a":1}\n{"a":2}\n{"a":3}{"a":4}'
    srv = OneShotServer(str(tmp_path / "s.sock"), _http("200 OK", body))
    c = APIClient(f"unix://{tmp_path}/s.sock")
    assert list(c.transport.json_lines("GET", "/x")) == [{"a": i} for i in (1, 2, 3, 4)]
    assert srv.requests[0].startswith(b"GET /v1.47/x HTTP/1.1")


def test_api_error_message(tmp_path):
    OneShotServer(
        str(tmp_path / "s.sock"),
        _http("409 Conflict", json.dumps({"message": "name in use"}).encode()),
    )
    with pytest.raises(APIError) as e:
        APIClient(f"unix://{tmp_path}/s.sock").volumes.create("x")
    assert (e.value.status, e.value.message) == (409, "name in use")


def test_hijack_keeps_bytes_that_came_with_the_head(tmp_path):
    head = (
        b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    srv = OneShotServer(str(tmp_path / "s.sock"), head + b"early bytes")
    s = APIClient(f"unix://{tmp_path}/s.sock").transport.hijack(
        "POST", "/exec/x/start", body={"Detach": False}
    )
    assert s.status == 101
    data = b""
    while True:
        chunk = s.recv()
        if not chunk:
            break
        data += chunk
    s.close()
    assert data == b"early bytes"
    req = srv.requests[0]
    assert b"Connection: Upgrade" in req and b"Upgrade: tcp" in req
