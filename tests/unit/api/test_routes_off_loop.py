"""Route handlers that read disk or take a service lock do it off the event loop: the image
list's container counts and the volume routes."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from server_thread import ServerThread  # noqa: E402

from dockyard.api.app import make_app  # noqa: E402
from dockyard.api.images import ImageRoutes  # noqa: E402
from dockyard.content import ContentStore  # noqa: E402
from dockyard.daemon.events import EventBus  # noqa: E402
from dockyard.images.service import ImageService  # noqa: E402
from dockyard.snapshots import Snapshotter  # noqa: E402


def _config(n: int) -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": [f"N={n}"]},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()


def get_json(sock_path: str, path: str) -> object:
    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock_path)

    conn = Conn("localhost", timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, body
        return json.loads(body)
    finally:
        conn.close()


@pytest.fixture
def image_server(tmp_path):
    images = ImageService(
        str(tmp_path / "images"),
        ContentStore(str(tmp_path / "content")),
        Snapshotter(str(tmp_path / "snapshots")),
    )
    ids = [images.record_config(_config(n)).id for n in range(3)]
    probe_threads: list[int] = []

    def usage() -> dict[str, list[tuple[str, bool]]]:
        probe_threads.append(threading.get_ident())
        return {ids[0]: [("c1", True), ("c2", False)], ids[1]: [("c3", False)]}

    sock = str(tmp_path / "api.sock")

    def factory():
        return make_app([ImageRoutes(images, images.content, EventBus(), None, usage).setup])

    with ServerThread(factory, sock) as srv:
        srv.sock, srv.ids, srv.probe_threads = sock, ids, probe_threads
        yield srv


def test_image_list_counts_containers_once_off_the_loop(image_server):
    listed = {i["Id"]: i["Containers"] for i in get_json(image_server.sock, "/images/json?all=1")}
    ids = image_server.ids
    assert listed == {ids[0]: 2, ids[1]: 1, ids[2]: 0}
    loop_thread = image_server._thread.ident
    assert len(image_server.probe_threads) == 1  # one pass per request, not one per image
    assert image_server.probe_threads[0] != loop_thread
