"""docker cp's path handling without a container: resolution inside the root and the mounts,
tar out and in, refusal of names that leave the target, and docker diff's kinds."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from dockyard.containers.archive import ContainerFS, changes, extract, go_mode, tar_path
from dockyard.errors import InvalidParameter, NotFound


@pytest.fixture
def fs(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0\n")
    os.symlink("/etc", root / "link")
    os.symlink("../../../..", root / "up")
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "v.txt").write_text("in volume\n")
    return ContainerFS(str(root), [{"Type": "volume", "Destination": "/data", "Source": str(vol)}])


def test_resolution_stays_inside(fs, tmp_path):
    root = fs.rootfs
    assert fs.resolve("/etc/passwd") == os.path.join(root, "etc/passwd")
    assert fs.resolve("/link/passwd") == os.path.join(root, "etc/passwd")
    assert fs.resolve("/../../etc/passwd") == os.path.join(root, "etc/passwd")
    assert fs.resolve("/up/etc/passwd") == os.path.join(root, "etc/passwd")
    assert fs.resolve("/data/v.txt") == str(tmp_path / "vol" / "v.txt")
    assert fs.resolve("/link") == os.path.join(root, "link")  # the link itself
    assert fs.resolve("/link", follow_last=True) == os.path.join(root, "etc")


def test_stat_modes(fs):
    info = fs.stat("/etc")
    assert info["name"] == "etc" and info["mode"] == go_mode(os.stat(fs.rootfs + "/etc").st_mode)
    assert info["mode"] & (1 << 31)
    assert fs.stat("/link")["linkTarget"] == "/etc"
    with pytest.raises(NotFound):
        fs.stat("/missing")


def test_tar_out_and_in(fs):
    data = b"".join(tar_path(fs, "/etc"))
    names = tarfile.open(fileobj=io.BytesIO(data)).getnames()
    assert names == ["etc", "etc/passwd"]
    contents = b"".join(tar_path(fs, "/etc/."))
    assert "passwd" in tarfile.open(fileobj=io.BytesIO(contents)).getnames()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("new/file.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    buf.seek(0)
    extract(fs, "/data", buf)
    assert open(fs.resolve("/data/new/file.txt")).read() == "hi"


@pytest.mark.parametrize("name", ["../escape.txt", "/abs.txt", "a/../../b.txt"])
def test_names_leaving_the_target_refused(fs, tmp_path, name):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    buf.seek(0)
    with pytest.raises(InvalidParameter):
        extract(fs, "/etc", buf)
    assert not (tmp_path / "escape.txt").exists()


def test_changes_kinds(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "group").write_text("x")
    (upper / "etc").mkdir(parents=True)
    (upper / "tmp").mkdir()
    (upper / "tmp" / "new").write_text("n")
    os.mknod(
        upper / "etc" / "group", 0o600 | 0o020000, os.makedev(0, 0)
    ) if os.geteuid() == 0 else None
    (upper / "etc" / "hosts").write_text("mount point")
    got = {c["Path"]: c["Kind"] for c in changes(str(upper), [str(lower)])}
    expected = {"/tmp": 1, "/tmp/new": 1}
    if os.geteuid() == 0:
        expected.update({"/etc": 0, "/etc/group": 2})
    assert got == expected
