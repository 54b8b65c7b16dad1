"""Malformed and hostile requests: 4xx answers, never a 500, no crash, no change of state."""

from __future__ import annotations

import json
import os
import socket

import pytest

from daemon_fixture import module_daemon, ping  # noqa: F401  (fixture)
from daemon_fixture import raw_request as send
from dockyard.client import APIClient

BIG = b'{"Name": "' + b"a" * (8 * 1024 * 1024) + b'"}'

# (method, path, body, content-type)
REQUESTS: list[tuple[str, str, bytes | None, str]] = [
    ("GET", "/v1.99/version", None, ""),
    ("GET", "/v1.0/version", None, ""),
    ("GET", "/v0.1/_ping", None, ""),
    ("GET", "/v999999999999999999999.1/info", None, ""),
    ("GET", "/vX/info", None, ""),
    ("GET", "/v1.47/nonexistent", None, ""),
    ("GET", "/volumes/..", None, ""),
    ("GET", "/volumes/%2e%2e", None, ""),
    ("GET", "/volumes/..%2f..%2fetc", None, ""),
    ("GET", "/volumes/%00", None, ""),
    ("GET", "/volumes/" + "a" * 5000, None, ""),
    ("DELETE", "/volumes/..", None, ""),
    ("DELETE", "/volumes/%2e%2e%2fdata", None, ""),
    ("DELETE", "/volumes/nope", None, ""),
    ("PUT", "/volumes/nope", b"{}", "application/json"),
    ("POST", "/volumes/create", b'{"Name": ".."}', "application/json"),
    ("POST", "/volumes/create", b'{"Name": "../x"}', "application/json"),
    ("POST", "/volumes/create", b'{"Name": "/etc"}', "application/json"),
    ("POST", "/volumes/create", b'{"Name": "a/b"}', "application/json"),
    ("POST", "/volumes/create", b'{"Name": "x\\u0000y"}', "application/json"),
    ("POST", "/volumes/create", b'{"Name": "-x"}', "application/json"),
    ("POST", "/volumes/create", b'{"Name": "x"}', "application/json"),
    ("POST", "/volumes/create", b'{"Name": 12}', "application/json"),
    ("POST", "/volumes/create", b'{"Name": ["a"]}', "application/json"),
    ("POST", "/volumes/create", b'{"Name": {"a": 1}}', "application/json"),
    ("POST", "/volumes/create", b'{"Name": true}', "application/json"),
    ("POST", "/volumes/create", b'{"Labels": "x"}', "application/json"),
    ("POST", "/volumes/create", b'{"Labels": {"a": 1}}', "application/json"),
    ("POST", "/volumes/create", b'{"Labels": ["a"]}', "application/json"),
    ("POST", "/volumes/create", b'{"DriverOpts": {"type": 5}}', "application/json"),
    ("POST", "/volumes/create", b'{"DriverOpts": {"bogus": "1"}}', "application/json"),
    (
        "POST",
        "/volumes/create",
        b'{"DriverOpts": {"type": "none", "o": "bind"}}',
        "application/json",
    ),
    ("POST", "/volumes/create", b'{"Name": "hv", "Driver": "nope"}', "application/json"),
    ("POST", "/volumes/create", b'{"Driver": 3}', "application/json"),
    ("POST", "/volumes/create", b"[]", "application/json"),
    ("POST", "/volumes/create", b'"string"', "application/json"),
    ("POST", "/volumes/create", b"null1", "application/json"),
    ("POST", "/volumes/create", b"{", "application/json"),
    ("POST", "/volumes/create", b'{"Name": "x"', "application/json"),
    ("POST", "/volumes/create", b"\xff\xfe\x00", "application/json"),
    ("POST", "/volumes/create", b'{"Name": "ok1"}', "text/plain"),
    ("POST", "/volumes/create", BIG, "application/json"),
    ("POST", "/volumes/create", b"{" * 100000, "application/json"),
    ("POST", "/volumes/create", b"[" * 100000 + b"]" * 100000, "application/json"),
    ("GET", "/volumes?filters=notjson", None, ""),
    ("GET", "/volumes?filters=%5B%5D", None, ""),
    ("GET", "/volumes?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D", None, ""),
    ("GET", "/volumes?filters=%7B%22dangling%22%3A%5B%22maybe%22%5D%7D", None, ""),
    ("GET", "/volumes?filters=%7B%22name%22%3A5%7D", None, ""),
    ("GET", "/volumes?filters=%7B%22name%22%3A%5B1%2C2%5D%7D", None, ""),
    ("POST", "/volumes/prune?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D", None, ""),
    ("POST", "/volumes/prune?filters=%7B%22all%22%3A%5B%22perhaps%22%5D%7D", None, ""),
    ("POST", "/volumes/prune?filters={", None, ""),
    ("GET", "/events?since=yesterday", None, ""),
    ("GET", "/events?until=abc", None, ""),
    ("GET", "/events?filters=%7B%22type%22%3A%5B%22spaceship%22%5D%7D", None, ""),
    ("GET", "/events?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D", None, ""),
    ("POST", "/_ping", None, ""),
    ("DELETE", "/info", None, ""),
    ("GET", "/../../etc/passwd", None, ""),
    ("GET", "/v1.47/volumes/../../../etc/passwd", None, ""),
]


def state(d) -> list:
    return sorted(os.listdir(os.path.join(d.data_root, "volumes")))


@pytest.mark.parametrize(
    "raw_request",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\n" + b"X-Long: " + b"a" * 100000 + b"\r\n\r\n",
        b"POST /volumes/create HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_http(module_daemon, raw_request):  # noqa: F811
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(module_daemon.sock)
    s.sendall(raw_request)
    s.shutdown(socket.SHUT_WR)
    data = s.recv(4096)
    s.close()
    assert not data or data.split(b" ", 2)[1].startswith(b"4")
    assert ping(module_daemon.sock)


def test_hostile_requests(module_daemon):  # noqa: F811
    d = module_daemon
    APIClient(d.host).volumes.create("untouched")
    before = state(d)
    results = []
    for method, path, body, ctype in REQUESTS:
        status = send(d.sock, method, path, body, ctype)
        results.append((status, method, path[:60]))
    bad = [r for r in results if not 400 <= r[0] < 500]
    assert not bad, bad
    assert len(REQUESTS) >= 50
    assert ping(d.sock)
    assert state(d) == before
    assert "Traceback" not in d.log()
    v = APIClient(d.host).volumes.inspect("untouched")
    assert json.dumps(v)
