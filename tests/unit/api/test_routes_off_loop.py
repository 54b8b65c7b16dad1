"""Route handlers that read disk or take a service lock do it off the event loop: the image
list's container counts and the volume routes."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from server_thread import ServerThread  # noqa: E402

from dockyard.api.app import make_app  # noqa: E402
from dockyard.api.images import ImageRoutes  # noqa: E402
from dockyard.api.system import SystemRoutes  # noqa: E402
from dockyard.api.volumes import VolumeRoutes  # noqa: E402
from dockyard.content import ContentStore  # noqa: E402
from dockyard.daemon import sysinfo  # noqa: E402
from dockyard.daemon.events import EventBus  # noqa: E402
from dockyard.images.service import ImageService  # noqa: E402
from dockyard.snapshots import Snapshotter  # noqa: E402
from dockyard.volumes import VolumeService  # noqa: E402


def _config(n: int) -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": [f"N={n}"]},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()


def request(
    sock_path: str, method: str, path: str, body: bytes | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(timeout)
            self.sock.connect(sock_path)

    conn = Conn("localhost", timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def get_json(sock_path: str, path: str) -> object:
    status, body = request(sock_path, "GET", path)
    assert status == 200, body
    return json.loads(body)


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


@pytest.fixture
def volume_server(tmp_path):
    vols = VolumeService(str(tmp_path / "volumes"))
    vols.create("held", None, {}, {})

    async def info():
        return sysinfo.base_info(str(tmp_path), {})

    def factory():
        bus = EventBus()
        return make_app(
            [SystemRoutes(sysinfo.version_info, info, bus).setup, VolumeRoutes(vols, bus).setup]
        )

    sock = str(tmp_path / "api.sock")
    with ServerThread(factory, sock) as srv:
        srv.sock, srv.vols = sock, vols
        yield srv


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/volumes/held", 200),
        ("PUT", "/volumes/held", 400),
        ("DELETE", "/volumes/held", 204),
        ("POST", "/volumes/create", 201),
    ],
)
def test_volume_routes_wait_for_the_service_lock_off_the_loop(volume_server, method, path, status):
    """While another thread holds the volume service's lock (e.g. deleting a big volume), a
    volume request waits for it in a worker thread; the daemon keeps answering others."""
    results: list[int] = []
    body = b'{"Name": "fresh"}' if method == "POST" else None
    volume_server.vols._lock.acquire()
    try:
        waiter = threading.Thread(
            target=lambda: results.append(request(volume_server.sock, method, path, body)[0])
        )
        waiter.start()
        time.sleep(0.2)  # the request is now waiting for the lock
        assert waiter.is_alive() and not results
        ping_status, ping_body = request(volume_server.sock, "GET", "/_ping", timeout=3)
        assert (ping_status, ping_body) == (200, b"OK")
    finally:
        volume_server.vols._lock.release()
    waiter.join(10)
    assert results == [status]
