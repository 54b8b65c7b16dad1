"""kill -9 of the daemon at chosen points of an operation (DOCKYARD_CRASH_AT, see
dockyard/faults.py): after a restart the state is consistent, nothing is left half-made, and
the same operation succeeds when tried again."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from daemon_fixture import running_daemon


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        yield d


def crash_at(d, point: str, *docker_args: str, input: bytes | None = None, cli=None) -> None:
    """Run a docker command while the daemon dies at `point`; then restart it normally."""
    d.daemon_env = {"DOCKYARD_CRASH_AT": point}
    d.restart()
    r = (cli or d.docker)(*docker_args, timeout=60, input=input)
    assert r.returncode != 0, f"{point} was not reached: {r.stdout}"
    assert d.proc.wait(10) == -9
    d.daemon_env = {}
    d.start()


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


def snapshot_keys(d) -> set[str]:
    meta = os.path.join(d.data_root, "snapshots", "meta")
    keys = set()
    for name in os.listdir(meta):
        with open(os.path.join(meta, name)) as f:
            keys.add(json.load(f)["key"])
    return keys


def test_crash_in_volume_create(d):
    crash_at(d, "volume.create.written", "volume", "create", "crashvol")
    assert "crashvol" not in ok(d.docker("volume", "ls", "-q")).split()
    assert [n for n in os.listdir(os.path.join(d.data_root, "volumes")) if "crashvol" in n] == []
    ok(d.docker("volume", "create", "crashvol"))
    ok(d.docker("volume", "rm", "crashvol"))


def test_crash_in_container_create(d):
    before = snapshot_keys(d)
    crash_at(d, "container.create.prepared", "create", "--name", "crashc", "busybox", "true")
    assert ok(d.docker("ps", "-aq", "--filter", "name=crashc")).split() == []
    assert snapshot_keys(d) == before, "the container's snapshot was left behind"
    ok(d.docker("create", "--name", "crashc", "busybox", "true"))
    ok(d.docker("rm", "crashc"))
    assert snapshot_keys(d) == before


def test_crash_in_container_remove(d):
    before = snapshot_keys(d)
    cid = ok(d.docker("run", "-d", "--name", "crashrm", "busybox", "sleep", "1000")).strip()
    crash_at(d, "container.remove.marked", "rm", "-f", "crashrm")
    state = json.loads(ok(d.docker("inspect", "crashrm")))[0]["State"]
    assert state["Status"] == "dead" and state["Running"] is False, state
    ok(d.docker("rm", "crashrm"))
    assert not os.path.exists(os.path.join(d.data_root, "containers", cid))
    assert snapshot_keys(d) == before


def test_crash_in_network_create(d):
    subnet = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}.0/24"
    crash_at(d, "network.create.up", "network", "create", "--subnet", subnet, "crashnet")
    assert "crashnet" not in ok(d.docker("network", "ls", "--format", "{{.Name}}")).split()
    addrs = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    assert subnet.rsplit(".", 1)[0] + ".1/24" not in addrs, "a bridge was left behind"
    ok(d.docker("network", "create", "--subnet", subnet, "crashnet"))
    ok(d.docker("network", "rm", "crashnet"))


def test_crash_in_volume_remove(d):
    ok(d.docker("volume", "create", "rmvol"))
    crash_at(d, "volume.remove.detached", "volume", "rm", "rmvol")
    # the record went with the directory moved aside: gone, and start-up deleted the rest
    assert "rmvol" not in ok(d.docker("volume", "ls", "-q")).split()
    assert [n for n in os.listdir(os.path.join(d.data_root, "volumes")) if "rmvol" in n] == []
    ok(d.docker("volume", "create", "rmvol"))
    ok(d.docker("volume", "rm", "rmvol"))


def test_crash_in_network_remove(d):
    subnet = f"10.{200 + os.getpid() % 50}.{(os.getpid() + 7) % 250}.0/24"
    gateway = subnet.rsplit(".", 1)[0] + ".1/24"
    ok(d.docker("network", "create", "--subnet", subnet, "rmnet"))
    crash_at(d, "network.remove.torn_down", "network", "rm", "rmnet")
    # the record was still there: the network is whole again, bridge and address included
    assert "rmnet" in ok(d.docker("network", "ls", "--format", "{{.Name}}")).split()
    addrs = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    assert gateway in addrs
    ok(d.docker("network", "rm", "rmnet"))
    addrs = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    assert gateway not in addrs


def test_crash_in_load(d, busybox_rootfs):
    d.import_busybox(busybox_rootfs, tag="loadsrc:1")
    archive = d.docker("save", "loadsrc:1", input=b"").stdout
    assert archive[:1], "docker save gave nothing"
    ok(d.docker("rmi", "loadsrc:1"))
    crash_at(d, "image.load.recorded", "load", input=archive)
    images = ok(d.docker("images", "--format", "{{.Repository}}:{{.Tag}}")).split()
    assert "loadsrc:1" not in images  # recorded, not yet tagged: a dangling image at most
    r = d.docker("load", input=archive)
    assert r.returncode == 0, r.stderr
    assert b"Loaded image: loadsrc:1" in r.stdout
    assert ok(d.docker("run", "--rm", "loadsrc:1", "echo", "ran")).strip() == "ran"
    ok(d.docker("rmi", "loadsrc:1"))


def test_crash_in_build(d, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo one > /one\nRUN cat /one\n")
    before = snapshot_keys(d)
    crash_at(d, "build.step.recorded", "build", "-t", "built:1", str(tmp_path), cli=d.dockyard)
    assert "built:1" not in ok(d.docker("images", "--format", "{{.Repository}}:{{.Tag}}"))
    assert {k for k in snapshot_keys(d) - before if not k.startswith("sha256:")} == set()
    r = d.dockyard("build", "-t", "built:1", str(tmp_path), timeout=120)
    assert r.returncode == 0, r.stderr
    assert ok(d.docker("run", "--rm", "built:1", "cat", "/one")).strip() == "one"
