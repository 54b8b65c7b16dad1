"""Acceptance 5 for container routes: Docker's 404/409/400s, never a 500, nothing escapes."""

from __future__ import annotations

import io
import json
import os
import secrets
import tarfile

import pytest

from daemon_fixture import ping, running_daemon
from daemon_fixture import raw_request as send
from dockyard.client import APIClient, APIError


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


def _tar(name: str, data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _symlink_tar(name: str, target: str, then: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.SYMTYPE
        ti.linkname = target
        tar.addfile(ti)
        ti = tarfile.TarInfo(then)
        ti.size = 1
        tar.addfile(ti, io.BytesIO(b"x"))
    return buf.getvalue()


def test_dockers_errors(d):
    c = APIClient(d.host)
    with pytest.raises(APIError) as e:
        c.containers.inspect("web9")
    assert (e.value.status, e.value.message) == (404, "No such container: web9")
    c.containers.create({"Image": "busybox", "Cmd": ["true"]}, name="dupname")
    with pytest.raises(APIError) as e:
        c.containers.create({"Image": "busybox", "Cmd": ["true"]}, name="dupname")
    assert e.value.status == 409 and "is already in use" in e.value.message
    with pytest.raises(APIError) as e:
        c.containers.create({"Image": "nosuchimage"})
    assert e.value.status == 404
    with pytest.raises(APIError) as e:
        c.exec.create("dupname", {"Cmd": ["true"]})
    assert e.value.status == 409
    c.containers.remove("dupname")


def test_hostile_container_requests(d):
    c = APIClient(d.host)
    cid = c.containers.create({"Image": "busybox", "Cmd": ["sleep", "100"]}, name="target")["Id"]
    c.containers.start(cid)
    marker = f"/tmp/escape-{secrets.token_hex(4)}"
    j = "application/json"
    reqs = [
        ("POST", "/containers/create", b'{"Image": 5}', j),
        ("POST", "/containers/create", b'{"Image": "busybox", "Env": "A=1"}', j),
        ("POST", "/containers/create", b'{"Image": "busybox", "Env": [1, 2]}', j),
        ("POST", "/containers/create", b'{"Image": "busybox", "Cmd": 5}', j),
        ("POST", "/containers/create", b'{"Image": "busybox", "HostConfig": "x"}', j),
        ("POST", "/containers/create", b'{"Image": "busybox", "HostConfig": {"Memory": "x"}}', j),
        ("POST", "/containers/create", b'{"Image": "busybox", "Labels": {"a": 1}}', j),
        ("POST", "/containers/create", b'{"Image": "busybox", "Tty": "yes"}', j),
        ("POST", "/containers/create", b'{"Image": "busybox", "NetworkingConfig": 3}', j),
        ("POST", "/containers/create", b"[]", j),
        ("POST", "/containers/create", b"{", j),
        ("POST", "/containers/create?name=../etc", b'{"Image": "busybox"}', j),
        ("POST", "/containers/create?name=a%2Fb", b'{"Image": "busybox"}', j),
        ("POST", "/containers/create?name=target", b'{"Image": "busybox"}', j),
        ("GET", "/containers/..%2F..%2Fetc/json", None, ""),
        ("GET", "/containers/web9/json", None, ""),
        ("POST", "/containers/web9/start", None, ""),
        ("POST", "/containers/target/kill?signal=SIGNOPE", None, ""),
        ("POST", "/containers/target/wait?condition=bogus", None, ""),
        ("GET", "/containers/target/logs", None, ""),
        (
            "GET",
            "/containers/target/logs?stdout=1&since=abc",
            None,
            "",
        ),  # tail=abc: all, as dockerd
        ("GET", "/containers/target/archive", None, ""),
        ("GET", "/containers/target/archive?path=/no/such/file", None, ""),
        ("PUT", "/containers/target/archive?path=/no/such/dir", _tar("f"), "application/x-tar"),
        ("POST", "/containers/target/rename?name=..", None, ""),
        ("POST", "/containers/target/exec", b'{"Cmd": "ls"}', j),
        ("POST", "/exec/nope/start", b"{}", j),
        ("GET", "/exec/nope/json", None, ""),
        ("DELETE", "/containers/target", None, ""),
        ("POST", "/v1.99/containers/target/stop", None, ""),
        ("GET", "/containers/json?filters=%7B%22bogus%22%3A%5B%221%22%5D%7D", None, ""),
        ("GET", "/containers/json?limit=abc", None, ""),
        ("POST", "/containers/target/update", b'{"Memory": "lots"}', j),
        ("POST", "/containers/target/resize?h=abc&w=1", None, ""),
    ]
    bad = []
    for method, path, body, ctype in reqs:
        status = send(d.sock, method, path, body, ctype)
        if not 400 <= status < 500:
            bad.append((status, method, path))
    # Archive uploads that try to leave the container: refused or kept inside, never a 500.
    for blob in (
        _tar("../../../../.." + marker),
        _tar(marker),
        _symlink_tar("esc", os.path.dirname(marker), "esc/" + os.path.basename(marker)),
    ):
        status = send(
            d.sock, "PUT", "/containers/target/archive?path=/tmp", blob, "application/x-tar"
        )
        if status >= 500 or status == 0:
            bad.append((status, "PUT archive", marker))
    assert not bad, bad
    assert not os.path.exists(marker)
    assert ping(d.sock)
    info = c.containers.inspect("target")
    assert info["State"]["Running"] is True and info["Name"] == "/target"
    assert "Traceback" not in d.log()
    c.containers.remove("target", force=True)
    assert json.dumps(c.containers.list(all=True)) == "[]"
