"""Acceptance 2 of issue 4: the docker SDK for Python runs containers on our daemon."""

from __future__ import annotations

import time

import docker
import pytest

from daemon_fixture import running_daemon


@pytest.fixture(scope="module")
def client(busybox_rootfs):
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        c = docker.DockerClient(base_url=d.host, version="auto", timeout=60)
        yield c
        c.close()


def test_run_not_detached(client):
    out = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], remove=True)
    assert out == b"out\n"
    out = client.containers.run(
        "busybox", ["sh", "-c", "echo err >&2"], stdout=False, stderr=True, remove=True
    )
    assert out == b"err\n"
    with pytest.raises(docker.errors.ContainerError) as e:
        client.containers.run("busybox", ["sh", "-c", "exit 4"], remove=True)
    assert e.value.exit_status == 4


def test_detached_logs_exec_wait_stop_remove(client):
    c = client.containers.run(
        "busybox",
        ["sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.2; done; sleep 100"],
        detach=True,
        name="sdk1",
    )
    try:
        lines = []
        for chunk in c.logs(stream=True, follow=True):
            lines.append(chunk)
            if b"".join(lines).count(b"\n") >= 3:
                break
        assert b"".join(lines) == b"n1\nn2\nn3\n"
        code, out = c.exec_run(["sh", "-c", "echo $((1+2)); exit 5"])
        assert (code, out) == (5, b"3\n")
        for _ in range(5):
            code, out = c.exec_run("cat /proc/1/cmdline")
            assert code == 0 and out.startswith(b"s"), out
        c.reload()
        assert c.status == "running" and c.attrs["State"]["Running"] is True
        t = time.monotonic()
        c.stop(timeout=1)
        assert time.monotonic() - t < 5
        assert c.wait()["StatusCode"] in (137, 143)
        c.reload()
        assert c.status == "exited"
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("sdk1")


def test_wait_exit_code(client):
    c = client.containers.run("busybox", ["sh", "-c", "sleep 0.2; exit 9"], detach=True)
    assert c.wait(timeout=30) == {"StatusCode": 9, "Error": None}
    c.remove()


def test_volumes_with_containers(client):
    v = client.volumes.create("sdkdata")
    client.containers.run(
        "busybox",
        ["sh", "-c", "echo hi > /data/x"],
        remove=True,
        volumes={"sdkdata": {"bind": "/data", "mode": "rw"}},
    )
    out = client.containers.run("busybox", "cat /data/x", remove=True, volumes=["sdkdata:/data:ro"])
    assert out == b"hi\n"
    v.remove()


def test_attach_socket_with_stdin(client):
    # StdinOnce: the attach's stdin EOF closes the container's stdin (without it, Docker
    # only ends that attach session)
    config = {"Image": "busybox", "Cmd": ["cat"], "OpenStdin": True, "StdinOnce": True}
    cid = client.api.create_container_from_config(config, name="sdkcat")["Id"]
    c = client.containers.get(cid)
    try:
        c.start()
        sock = client.api.attach_socket(c.id, params={"stdin": 1, "stdout": 1, "stream": 1})
        raw = sock._sock
        raw.sendall(b"ping\n")
        raw.settimeout(10)
        data = b""
        while b"ping\n" not in data:
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
        # Multiplexed: [1,0,0,0, size] + payload
        assert data[0] == 1 and data.endswith(b"ping\n")
        raw.shutdown(1)  # stdin EOF: cat exits
        assert c.wait(timeout=30)["StatusCode"] == 0
        sock.close()
    finally:
        c.remove(force=True)


def test_list_and_filters(client):
    c = client.containers.run("busybox", "sleep 100", detach=True, labels={"app": "x"})
    try:
        assert [x.id for x in client.containers.list(filters={"label": "app=x"})] == [c.id]
        assert c.id in [x.id for x in client.containers.list(all=True)]
        assert client.containers.list(filters={"label": "app=nope"}) == []
        top = c.top()
        assert "sleep 100" in " ".join(" ".join(p) for p in top["Processes"])
        stats = c.stats(stream=False)
        assert stats["memory_stats"] and "cpu_stats" in stats
    finally:
        c.remove(force=True)
