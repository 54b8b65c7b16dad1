"""Local volumes backed by mounts: tmpfs and bind devices, mounted while in use."""

from __future__ import annotations

import os

import pytest

from dockyard.volumes import VolumeService
from dockyard.volumes.mounts import is_mountpoint


@pytest.fixture
def svc(tmp_path):
    s = VolumeService(str(tmp_path / "volumes"))
    yield s
    for v in s.list():
        for ref in ("c1", "c2"):
            s.unmount(v["Name"], ref)


def test_tmpfs_volume_is_mounted_while_used(svc):
    svc.create("tv", driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000"})
    path = svc.mount("tv", "c1")
    assert is_mountpoint(path)
    assert os.stat(path).st_uid == 1000
    assert svc.mount("tv", "c2") == path
    svc.unmount("tv", "c1")
    assert is_mountpoint(path)
    svc.unmount("tv", "c2")
    assert not is_mountpoint(path)


def test_bind_device_volume(svc, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("from the host")
    svc.create("bv", driver_opts={"type": "none", "device": str(src), "o": "bind"})
    path = svc.mount("bv", "c1")
    assert open(os.path.join(path, "file")).read() == "from the host"
    svc.unmount("bv", "c1")
    assert not os.path.exists(os.path.join(path, "file"))


def test_remove_unmounts_and_keeps_the_source(svc, tmp_path):
    src = tmp_path / "keep"
    src.mkdir()
    (src / "precious").write_text("x")
    svc.create("b2", driver_opts={"type": "none", "device": str(src), "o": "bind"})
    svc.mount("b2", "c1")
    svc.remove("b2")
    assert (src / "precious").read_text() == "x"


def test_plain_volume_needs_no_mount(svc):
    svc.create("plain")
    path = svc.mount("plain", "c1")
    assert os.path.isdir(path) and not is_mountpoint(path)
    svc.unmount("plain", "c1")


def test_copy_up_keeps_owners(svc, tmp_path):
    src = tmp_path / "img"
    src.mkdir()
    (src / "f").write_text("x")
    os.chown(src / "f", 1234, 5678)
    svc.create("own")
    assert svc.copy_up("own", str(src))
    st = os.stat(os.path.join(svc.inspect("own")["Mountpoint"], "f"))
    assert (st.st_uid, st.st_gid) == (1234, 5678)
