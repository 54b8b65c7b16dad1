"""The client's own HTTP/1.1 against scripted servers on a UNIX socket (and TCP on 127.0.0.1):
chunked and Content-Length bodies, connections the server keeps open or closes, large bodies
both ways, streaming, the hijack's leftover bytes and half-close, and the errors."""

from __future__ import annotations

import io
import json
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.client import APIClient, APIError, DaemonUnreachable, Transport
from dockyard.client.errors import ProtocolError
from dockyard.client.urls import quote, quote_plus, urlencode

Handler = Callable[[socket.socket], None]


class Request:
    def __init__(self, line: str, headers: dict[str, str], body: bytes) -> None:
        self.line = line
        self.headers = headers
        self.body = body


def read_request(conn: socket.socket) -> Request:
    """One request off the connection: head, then a Content-Length or chunked body."""
    f = conn.makefile("rb")
    line = f.readline().decode().rstrip("\r\n")
    headers: dict[str, str] = {}
    while True:
        h = f.readline().decode().rstrip("\r\n")
        if not h:
            break
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int(f.readline().strip(), 16)
            if size == 0:
                f.readline()
                break
            parts.append(f.read(size))
            assert f.read(2) == b"\r\n"
        body = b"".join(parts)
    else:
        body = f.read(int(headers.get("content-length", "0")))
    return Request(line, headers, body)


@pytest.fixture
def serve(tmp_path) -> Iterator[Callable[[Handler], APIClient]]:
    """serve(handler) -> a client whose every connection the handler answers in a thread."""
    listeners: list[socket.socket] = []
    conns: list[socket.socket] = []
    errors: list[BaseException] = []

    def start(handler: Handler, timeout: float = 10) -> APIClient:
        path = str(tmp_path / f"s{len(listeners)}.sock")
        lsock = socket.socket(socket.AF_UNIX)
        lsock.bind(path)
        lsock.listen(8)
        listeners.append(lsock)

        def loop() -> None:
            while True:
                try:
                    conn, _ = lsock.accept()
                except OSError:
                    return
                conns.append(conn)

                def run(c: socket.socket = conn) -> None:
                    try:
                        handler(c)
                    except OSError:
                        pass
                    except BaseException as exc:  # surfaced by the fixture's teardown
                        errors.append(exc)

                threading.Thread(target=run, daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        return APIClient(f"unix://{path}", timeout=timeout)

    try:
        yield start
    finally:
        for s in listeners + conns:
            s.close()
    assert not errors, errors


def head(status: str, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode()


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_chunked_json_response_with_extensions_and_trailers(serve):
    def handler(conn):
        read_request(conn)
        body = json.dumps({"Containers": 3, "Name": "x" * 100}).encode()
        conn.sendall(
            head("200 OK", "Content-Type: application/json", "Transfer-Encoding: chunked")
            + b"%x;ext=1\r\n%s\r\n" % (10, body[:10])
            + b"%x\r\n%s\r\n" % (len(body) - 10, body[10:])
            + b"0\r\nX-Trailer: yes\r\n\r\n"
        )
        # the server keeps the connection open: the chunked framing ends the body

    c = serve(handler, timeout=5)
    assert c.transport.request("GET", "/info") == {"Containers": 3, "Name": "x" * 100}


def test_stream_yields_chunks_as_they_arrive(serve):
    go_on = threading.Event()

    def handler(conn):
        read_request(conn)
        conn.sendall(head("200 OK", "Transfer-Encoding: chunked") + b"5\r\nfirst\r\n")
        assert go_on.wait(5)
        conn.sendall(b"6\r\nsecond\r\n0\r\n\r\n")
        conn.close()

    it = serve(handler).transport.stream("GET", "/containers/x/logs")
    assert next(it) == b"first"  # before the server sent the rest
    go_on.set()
    assert b"".join(it) == b"second"


def test_json_lines_split_across_chunks(serve):
    msgs = [{"status": f"layer {i}", "progress": "=" * i} for i in range(50)]
    data = b"".join(json.dumps(m).encode() + b"\n" for m in msgs)

    def handler(conn):
        read_request(conn)
        pieces = [data[i : i + 7] for i in range(0, len(data), 7)]
        conn.sendall(head("200 OK", "Transfer-Encoding: chunked") + chunked(*pieces))

    assert list(serve(handler).transport.json_lines("POST", "/images/create")) == msgs


def test_content_length_on_a_kept_alive_connection_does_not_wait_for_close(serve):
    def handler(conn):
        read_request(conn)
        conn.sendall(head("200 OK", "Content-Type: application/json", "Content-Length: 2") + b"[]")
        conn.recv(1)  # hold the connection open until the client closes it

    c = serve(handler, timeout=5)
    assert c.transport.request("GET", "/containers/json") == []


def test_body_until_close_without_length(serve):
    def handler(conn):
        read_request(conn)
        conn.sendall(head("200 OK", "Content-Type: text/plain", "Connection: close") + b"a")
        conn.sendall(b"b" * 100_000)
        conn.close()

    assert serve(handler).transport.request("GET", "/x") == "a" + "b" * 100_000


def test_head_and_no_content(serve):
    def handler(conn):
        req = read_request(conn)
        if req.line.startswith("HEAD"):
            # a HEAD answer announces a length it does not send
            conn.sendall(head("200 OK", "Content-Length: 1234", "Docker-Experimental: false"))
        else:
            conn.sendall(head("204 No Content"))
        conn.recv(1)

    c = serve(handler, timeout=5)
    assert c.transport.head("/_ping")["docker-experimental"] == "false"
    assert c.transport.request("POST", "/containers/x/start") is None


def test_large_bodies_both_ways(serve):
    payload = bytes(range(256)) * (5 * 4096)  # 5 MiB
    got: dict[str, str] = {}

    def handler(conn):
        req = read_request(conn)
        got["te"] = req.headers.get("transfer-encoding", "")
        got["cl"] = req.headers.get("content-length", "")
        if req.line.startswith("PUT"):
            conn.sendall(head("200 OK", f"Content-Length: {len(req.body)}") + req.body)
        else:
            conn.sendall(head("200 OK", "Transfer-Encoding: chunked"))
            conn.sendall(
                chunked(*(req.body[i : i + 100_000] for i in range(0, len(req.body), 100_000)))
            )

    c = serve(handler)
    # bytes: Content-Length; the answer echoes it with Content-Length
    assert b"".join(c.transport.stream("PUT", "/containers/x/archive", body=payload)) == payload
    assert (got["cl"], got["te"]) == (str(len(payload)), "")
    # a file: chunked transfer coding; the answer echoes it chunked
    out = b"".join(c.transport.stream("POST", "/build", body=io.BytesIO(payload)))
    assert out == payload
    assert (got["cl"], got["te"]) == ("", "chunked")


def test_request_line_headers_and_version_prefix(serve):
    seen: list[Request] = []

    def handler(conn):
        seen.append(read_request(conn))
        conn.sendall(head("200 OK", "Content-Length: 2", "Content-Type: application/json") + b"{}")

    c = serve(handler)
    c.transport.request("POST", "/volumes/create", body={"Name": "v"}, headers={"X-A": "1"})
    c.transport.request("GET", "/_ping", versioned=False)
    c.transport.request("POST", "/containers/a b/start")
    assert seen[0].line == "POST /v1.47/volumes/create HTTP/1.1"
    assert seen[0].headers["content-type"] == "application/json"
    assert seen[0].headers["x-a"] == "1"
    assert json.loads(seen[0].body) == {"Name": "v"}
    assert seen[1].line == "GET /_ping HTTP/1.1"
    assert seen[2].headers["content-length"] == "0"
    assert seen[0].headers["host"] == "localhost"


def test_hijack_leftover_then_socket_and_half_close(serve):
    def handler(conn):
        req = read_request(conn)
        assert json.loads(req.body) == {"Detach": False, "Tty": True}
        conn.sendall(head("101 UPGRADED", "Connection: Upgrade", "Upgrade: tcp") + b"prompt$ ")
        got = b""
        while True:  # until the client half-closes
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += chunk
        conn.sendall(b"echo:" + got)
        conn.close()

    s = serve(handler).transport.hijack(
        "POST", "/exec/x/start", body={"Detach": False, "Tty": True}
    )
    assert s.status == 101
    assert s.recv(3) == b"pro"  # leftover is handed out in the size asked for
    assert s.recv() == b"mpt$ "
    s.sendall(b"ls\n")
    s.shutdown_write()
    data = b""
    while chunk := s.recv():
        data += chunk
    s.close()
    assert data == b"echo:ls\n"


def test_hijack_error_with_chunked_body(serve):
    def handler(conn):
        read_request(conn)
        body = json.dumps({"message": "No such container: x"}).encode()
        conn.sendall(
            head("404 Not Found", "Content-Type: application/json", "Transfer-Encoding: chunked")
            + chunked(body[:5], body[5:])
        )

    with pytest.raises(APIError) as e:
        serve(handler).transport.hijack("POST", "/containers/x/attach", {"stream": True})
    assert (e.value.status, e.value.message) == (404, "No such container: x")


def test_error_without_json_falls_back_to_text_then_reason(serve):
    def handler(conn):
        req = read_request(conn)
        if "/text" in req.line:
            conn.sendall(head("500 Internal Server Error", "Content-Length: 4") + b"boom")
        else:
            conn.sendall(head("503 Service Unavailable", "Content-Length: 0"))

    c = serve(handler)
    with pytest.raises(APIError, match="^boom$"):
        c.transport.request("GET", "/text")
    with pytest.raises(APIError, match="^Service Unavailable$") as e:
        c.transport.request("GET", "/empty")
    assert e.value.status == 503


def test_error_answered_before_a_large_body_was_read(serve):
    def handler(conn):
        f = conn.makefile("rb")
        while f.readline() not in (b"\r\n", b""):
            pass
        body = json.dumps({"message": "invalid reference format"}).encode()
        conn.sendall(head("400 Bad Request", f"Content-Length: {len(body)}") + body)
        conn.close()  # as aiohttp does after an early answer

    with pytest.raises(APIError, match="invalid reference format"):
        serve(handler).transport.request("POST", "/images/load", body=b"x" * (8 << 20))


def test_connection_closed_without_an_answer_or_mid_body(serve):
    def handler(conn):
        req = read_request(conn)
        if "/short" in req.line:
            conn.sendall(head("200 OK", "Content-Length: 10") + b"12345")
        elif "/chunk" in req.line:
            conn.sendall(head("200 OK", "Transfer-Encoding: chunked") + b"a\r\n123")
        conn.close()

    c = serve(handler)
    with pytest.raises(ProtocolError, match="without a response"):
        c.transport.request("GET", "/none")
    with pytest.raises(ProtocolError, match="5 body bytes"):
        c.transport.request("GET", "/short")
    with pytest.raises(ProtocolError, match="chunked"):
        c.transport.request("GET", "/chunk")


def test_daemon_unreachable_message(tmp_path):
    host = f"unix://{tmp_path}/missing.sock"
    with pytest.raises(DaemonUnreachable) as e:
        APIClient(host).system.ping()
    assert str(e.value) == (
        f"Cannot connect to the dockyard daemon at {host}. Is the dockyard daemon running?"
    )
    with pytest.raises(DaemonUnreachable):
        Transport(host).hijack("POST", "/exec/x/start")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(DaemonUnreachable, match=f"tcp://127.0.0.1:{port}"):
        APIClient(f"tcp://127.0.0.1:{port}").system.ping()


def test_tcp_host(tmp_path):
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    seen: list[Request] = []

    def run() -> None:
        conn, _ = lsock.accept()
        with conn:
            seen.append(read_request(conn))
            conn.sendall(head("200 OK", "Content-Length: 2", "Content-Type: text/plain") + b"OK")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        assert (
            Transport(f"tcp://127.0.0.1:{port}").request("GET", "/_ping", versioned=False) == "OK"
        )
    finally:
        lsock.close()
        t.join(5)
    assert seen[0].headers["host"] == f"127.0.0.1:{port}"


def test_ssl_and_http_client_are_not_imported():
    import subprocess
    import sys

    code = (
        "import sys, dockyard.client as c; c.APIClient().containers; c.APIClient().images;"
        "print(sorted(m for m in ('ssl', 'http.client', 'email', 'urllib.parse')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@given(st.text(), st.sampled_from(["", "/", "/:@"]))
def test_quote_matches_urllib(text, safe):
    assert quote(text, safe) == urllib.parse.quote(text, safe=safe)
    assert quote_plus(text) == urllib.parse.quote_plus(text)


@given(st.lists(st.tuples(st.text(), st.text()), max_size=4))
def test_urlencode_matches_urllib(pairs):
    assert urlencode(pairs) == urllib.parse.urlencode(pairs)
