"""The API frame over a real UNIX socket: versions, headers, errors, bodies, streams, hijack,
system and volume routes, driven by dockyard's own client."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import time

import pytest
from aiohttp import web

sys.path.insert(0, os.path.dirname(__file__))

from server_thread import ServerThread  # noqa: E402

from dockyard.api.app import Routes, make_app  # noqa: E402
from dockyard.api.body import field, read_json_object  # noqa: E402
from dockyard.api.streams import JSONStream, hijack, stdcopy_frame  # noqa: E402
from dockyard.api.system import SystemRoutes  # noqa: E402
from dockyard.api.volumes import VolumeRoutes  # noqa: E402
from dockyard.client import APIClient, APIError, DaemonUnreachable  # noqa: E402
from dockyard.client.stdcopy import Demuxer, demux  # noqa: E402
from dockyard.daemon import sysinfo  # noqa: E402
from dockyard.daemon.events import EventBus  # noqa: E402
from dockyard.errors import NotFound  # noqa: E402
from dockyard.volumes import VolumeService  # noqa: E402


def _test_routes(routes: Routes) -> None:
    async def boom(request):
        raise RuntimeError("kaboom")

    async def missing(request):
        raise NotFound("No such container: web9")

    async def typed(request):
        body = await read_json_object(request)
        return web.json_response({"n": field(body, "N", int, 0)})

    async def progress(request):
        s = JSONStream(request)
        for i in range(3):
            await s.send({"status": "step", "n": i})
        return await s.finish()

    async def echo(request):
        body = await read_json_object(request)
        resp, conn = await hijack(request)
        await conn.write(stdcopy_frame(1, json.dumps(body).encode()))
        while True:
            data = await conn.read()
            if not data:
                break
            await conn.write(stdcopy_frame(1, data.upper()))
        # The client half-closed; we can still write.
        await conn.write(stdcopy_frame(2, b"bye"))
        conn.close()
        return resp

    routes.get("/test/boom", boom)
    routes.get("/test/missing", missing)
    routes.post("/test/typed", typed)
    routes.get("/test/progress", progress)
    routes.post("/test/echo", echo)


@pytest.fixture
def server(tmp_path):
    bus = EventBus()
    vols = VolumeService(str(tmp_path / "volumes"))

    async def info():
        return sysinfo.base_info(str(tmp_path), {})

    def factory():
        return make_app(
            [
                SystemRoutes(sysinfo.version_info, info, bus).setup,
                VolumeRoutes(vols, bus).setup,
                _test_routes,
            ]
        )

    sock = str(tmp_path / "api.sock")
    with ServerThread(factory, sock) as srv:
        srv.bus = bus
        srv.sock = sock
        yield srv


def raw(
    sock_path: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict, bytes]:
    class C(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock_path)

    c = C("localhost", timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def test_ping_and_headers(server):
    status, headers, body = raw(server.sock, "GET", "/_ping")
    assert (status, body) == (200, b"OK")
    assert headers["api-version"] == "1.47"
    assert headers["ostype"] == "linux"
    assert headers["docker-experimental"] == "false"
    assert headers["builder-version"] == "1"
    assert headers["server"].startswith("Dockyard/")
    status, headers, body = raw(server.sock, "HEAD", "/v1.44/_ping")
    assert status == 200 and body == b"" and headers["api-version"] == "1.47"


@pytest.mark.parametrize(
    "path,status,message",
    [
        (
            "/v1.99/version",
            400,
            "client version 1.99 is too new. Maximum supported API version is 1.47",
        ),
        (
            "/v1.12/version",
            400,
            "client version 1.12 is too old. Minimum supported API version "
            "is 1.24, please upgrade your client to a newer version",
        ),
        ("/vfoo/version", 404, "page not found"),
        ("/nothing/here", 404, "page not found"),
        ("/test/missing", 404, "No such container: web9"),
        ("/test/boom", 500, "kaboom"),
    ],
)
def test_errors(server, path, status, message):
    got, headers, body = raw(server.sock, "GET", path)
    assert got == status
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"message": message}


def test_version_negotiation_range(server):
    for v in ("1.24", "1.41", "1.47"):
        status, _, body = raw(server.sock, "GET", f"/v{v}/version")
        assert status == 200
        doc = json.loads(body)
        assert doc["ApiVersion"] == "1.47" and doc["MinAPIVersion"] == "1.24"
        assert doc["Platform"]["Name"] == "dockyard"


@pytest.mark.parametrize(
    "body,ctype,status",
    [
        (b'{"N": 3}', "application/json", 200),
        (b'{"N": "3"}', "application/json", 400),
        (b'{"N": true}', "application/json", 400),
        (b"[1,2]", "application/json", 400),
        (b"{bad json", "application/json", 400),
        (b'{"N": 1}', "text/plain", 400),
        (b"", "application/json", 200),
        (b'{"N": 1, "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}', "application/json", 413),
    ],
)
def test_json_bodies(server, body, ctype, status):
    got, _, data = raw(server.sock, "POST", "/test/typed", body, {"Content-Type": ctype})
    assert got == status, data
    assert "message" in json.loads(data) or got == 200


def test_client_json_lines(server, tmp_path):
    c = APIClient(f"unix://{server.sock}")
    msgs = list(c.transport.json_lines("GET", "/test/progress"))
    assert msgs == [{"status": "step", "n": i} for i in range(3)]


def test_hijack_with_half_close(server):
    c = APIClient(f"unix://{server.sock}")
    s = c.transport.hijack("POST", "/test/echo", body={"Detach": False})
    assert s.status == 101
    s.sendall(b"hello")
    d = Demuxer()
    frames = []
    deadline = time.time() + 10
    while len(frames) < 2 and time.time() < deadline:
        frames += d.feed(s.recv())
    s.shutdown_write()
    while True:
        chunk = s.recv()
        if not chunk:
            break
        frames += d.feed(chunk)
    s.close()
    assert frames == [(1, b'{"Detach": false}'), (1, b"HELLO"), (2, b"bye")]


def test_client_errors(server, tmp_path):
    c = APIClient(f"unix://{server.sock}")
    with pytest.raises(APIError) as e:
        c.volumes.inspect("nope")
    assert e.value.status == 404 and e.value.message == "get nope: no such volume"
    with pytest.raises(DaemonUnreachable) as e:
        APIClient(f"unix://{tmp_path}/none.sock").system.ping()
    assert str(e.value) == (
        f"Cannot connect to the dockyard daemon at unix://{tmp_path}/"
        "none.sock. Is the dockyard daemon running?"
    )


def test_volume_routes(server):
    c = APIClient(f"unix://{server.sock}")
    v = c.volumes.create("data", labels={"a": "b"})
    assert v["Name"] == "data" and v["Labels"] == {"a": "b"}
    assert [x["Name"] for x in c.volumes.list()["Volumes"]] == ["data"]
    assert c.volumes.list({"label": ["a=c"]})["Volumes"] == []
    anon = c.volumes.create()["Name"]
    assert c.volumes.prune() == {"VolumesDeleted": [anon], "SpaceReclaimed": 0}
    c.volumes.remove("data")
    with pytest.raises(APIError) as e:
        c.volumes.remove("data")
    assert e.value.status == 404
    for bad in (
        {"Name": 5},
        {"Labels": {"a": 1}},
        {"DriverOpts": []},
        {"Name": ".."},
        {"Name": "x", "Driver": "weird"},
    ):
        with pytest.raises(APIError) as e:
            c.transport.request("POST", "/volumes/create", body=bad)
        assert e.value.status in (400, 404)
    with pytest.raises(APIError) as e:
        c.volumes.list({"nope": ["1"]})
    assert e.value.status == 400


def test_volume_prune_before_1_42_removes_named(server):
    c = APIClient(f"unix://{server.sock}", version="1.41")
    c.volumes.create("named")
    assert c.volumes.prune()["VolumesDeleted"] == ["named"]


def test_events_since_until_and_live(server):
    c = APIClient(f"unix://{server.sock}")
    t0 = time.time()
    c.volumes.create("ev1")
    c.volumes.remove("ev1")
    t1 = time.time() + 0.01
    evs = list(c.system.events(since=f"{t0:.9f}", until=f"{t1:.9f}"))
    assert [(e["Type"], e["Action"], e["Actor"]["ID"]) for e in evs] == [
        ("volume", "create", "ev1"),
        ("volume", "destroy", "ev1"),
    ]
    evs = list(
        c.system.events(since=f"{t0:.9f}", until=f"{t1:.9f}", filters={"event": ["destroy"]})
    )
    assert [e["Action"] for e in evs] == ["destroy"]
    # Live: an event published while we listen, until a second from now.
    server.call(lambda: None)
    until = time.time() + 1.0
    import threading

    threading.Timer(
        0.2,
        lambda: server.call(lambda: server.bus.publish("container", "start", "abc", {"name": "w"})),
    ).start()
    evs = list(c.system.events(until=f"{until:.9f}"))
    assert [(e["status"], e["id"]) for e in evs] == [("start", "abc")]


def test_info_has_dockers_fields(server):
    info = APIClient(f"unix://{server.sock}").system.info()
    for key in (
        "Containers",
        "ContainersRunning",
        "Images",
        "Driver",
        "CgroupDriver",
        "CgroupVersion",
        "NCPU",
        "MemTotal",
        "OperatingSystem",
        "KernelVersion",
        "Name",
        "ID",
        "DockerRootDir",
        "ServerVersion",
        "SecurityOptions",
        "Runtimes",
        "DefaultRuntime",
        "RegistryConfig",
        "Swarm",
    ):
        assert key in info
    assert info["Driver"] == "overlay2" and info["NCPU"] >= 1 and info["MemTotal"] > 0


def test_stdcopy_roundtrip():
    frames = [(1, b"out"), (2, b"err" * 1000), (1, b"")]
    blob = b"".join(stdcopy_frame(s, d) for s, d in frames)
    chunks = [blob[i : i + 7] for i in range(0, len(blob), 7)]
    assert list(demux(chunks)) == frames
