"""ONBUILD triggers run when the image is used as a base; ADD of a URL (a local HTTP
server on 127.0.0.1); --rm=false keeps the RUN containers."""

from __future__ import annotations

import http.server
import threading

import pytest
from buildsupport import build, read_tree


def test_onbuild_triggers_run_in_the_child(engine) -> None:
    parent = build(
        engine,
        {"Dockerfile": "FROM busybox\nONBUILD COPY msg.txt /msg\nONBUILD RUN echo trig > /t\n"},
        tags=["onbuild-base"],
    )
    assert parent.error is None, parent.output
    base = engine.images.get("onbuild-base")
    assert base.config["config"]["OnBuild"] == ["COPY msg.txt /msg", "RUN echo trig > /t"]
    history = [h.get("created_by") for h in base.config["history"]][-2:]
    assert history == [
        "/bin/sh -c #(nop)  ONBUILD COPY msg.txt /msg",
        "/bin/sh -c #(nop)  ONBUILD RUN echo trig > /t",
    ]
    child = build(engine, {"Dockerfile": 'FROM onbuild-base\nCMD ["x"]\n', "msg.txt": "M"})
    assert child.error is None, child.output
    assert "# Executing 2 build triggers\n" in child.output
    image = engine.images.get(child.image_id)
    assert image.config["config"]["OnBuild"] is None  # triggers are not inherited
    tree = read_tree(engine, image.id, ["/msg", "/t"])
    assert tree["/msg"].data == b"M" and tree["/t"].data == b"trig\n"


@pytest.fixture
def http_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path != "/files/data.txt":
                self.send_error(404)
                return
            body = b"downloaded\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_add_url(engine, http_server) -> None:
    df = f"FROM busybox\nADD {http_server}/files/data.txt /dl/\nADD {http_server}/files/data.txt /named\n"
    result = build(engine, {"Dockerfile": df})
    assert result.error is None, result.output
    tree = read_tree(engine, result.image_id, ["/dl/data.txt", "/named"])
    assert tree["/dl/data.txt"].data == b"downloaded\n"
    assert tree["/dl/data.txt"].mode == 0o600
    assert tree["/named"].data == b"downloaded\n"
    missing = build(engine, {"Dockerfile": f"FROM busybox\nADD {http_server}/nope.txt /\n"})
    assert missing.error is not None and "nope.txt" in str(missing.error)


def test_rm_false_keeps_run_containers_force_rm_not(build_engine) -> None:
    engine = build_engine
    result = build(engine, {"Dockerfile": "FROM busybox\nRUN echo kept\n"}, rm=False, nocache=True)
    try:
        assert result.error is None, result.output
        assert "Removing intermediate container" not in result.output
        assert len(engine.containers.ids()) == 1
        # Docker keeps the failed step's container too (for a look at it) ...
        failed = build(engine, {"Dockerfile": "FROM busybox\nRUN exit 6\n"}, rm=False)
        assert "returned a non-zero code: 6" in str(failed.error)
        assert len(engine.containers.ids()) == 2
        exited = [
            engine.containers.inspect(c)["State"]["ExitCode"] for c in engine.containers.ids()
        ]
        assert sorted(exited) == [0, 6]
        # ... unless --force-rm, which removes them whatever happens
        forced = build(engine, {"Dockerfile": "FROM busybox\nRUN exit 6\n"}, rm=False,
                       forcerm=True)  # fmt: skip
        assert forced.error is not None and len(engine.containers.ids()) == 2
    finally:
        for cid in engine.containers.ids():
            engine.containers.remove(cid, force=True, volumes=True)
