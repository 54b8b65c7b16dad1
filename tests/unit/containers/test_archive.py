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


def test_changes_never_look_at_the_host_through_a_layer_link(tmp_path):
    """An image with `/a -> /etc`, a container that made /a a directory holding passwd: the
    file is added (1), whatever the host's /etc holds (it was "changed" (0) when the layer's
    link was followed to the host's /etc/passwd)."""
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    os.symlink("/etc", lower / "a")
    (upper / "a").mkdir(parents=True)
    (upper / "a" / "passwd").write_text("mine\n")
    got = {c["Path"]: c["Kind"] for c in changes(str(upper), [str(lower)])}
    assert got == {"/a": 0, "/a/passwd": 1}


def _tar_of(files: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_symlink_out_in_a_parent_component_stays_inside(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("host secret\n")
    os.symlink(str(outside), root / "a")  # absolute: means <root>/<outside> in the container
    os.symlink("../../../../../..", root / "b")  # climbs: stops at the container's root
    fs = ContainerFS(str(root), [])
    extract(fs, "/", _tar_of({"a/x.txt": b"1", "b/y.txt": b"2"}))
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (root / str(outside).lstrip("/") / "x.txt").read_bytes() == b"1"
    assert (root / "y.txt").read_bytes() == b"2"
    with pytest.raises(NotFound):
        b"".join(tar_path(fs, "/a/secret"))
    extract(fs, "/a", _tar_of({"z.txt": b"3"}))
    assert sorted(os.listdir(outside)) == ["secret"]


def test_directory_swapped_for_a_symlink_during_copies(tmp_path):
    """A running container swaps /d between a directory and a symlink to a host directory
    while cp writes into and reads from /d: nothing outside is written or read."""
    import ctypes
    import threading

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    (root / "d" / "secret").write_text("inside\n")
    outside.mkdir()
    (outside / "secret").write_text("OUTSIDE\n")
    os.symlink(str(outside), root / "link")  # prepared once, renamed back and forth
    fs = ContainerFS(str(root), [])
    stop = threading.Event()

    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    d, link = str(root / "d").encode(), str(root / "link").encode()

    def swapper() -> None:  # /d is always there: a directory or a symlink out, in turn
        while not stop.is_set():
            if libc.renameat2(at_fdcwd, d, at_fdcwd, link, rename_exchange) != 0:
                raise OSError(ctypes.get_errno(), "renameat2")

    t = threading.Thread(target=swapper)
    t.start()
    read = set()
    try:
        for i in range(400):
            try:
                extract(fs, "/", _tar_of({f"d/f{i}": b"x"}))
            except (InvalidParameter, NotFound, OSError):  # errors are fine, escapes not
                pass
            try:
                extract(fs, "/d", _tar_of({f"g{i}": b"y"}))
            except (InvalidParameter, NotFound, OSError):  # errors are fine, escapes not
                pass
            try:
                data = b"".join(tar_path(fs, "/d/secret"))
                read.add(tarfile.open(fileobj=io.BytesIO(data)).extractfile("secret").read())
            except (InvalidParameter, NotFound, OSError):  # errors are fine, escapes not
                pass
    finally:
        stop.set()
        t.join()
    assert sorted(os.listdir(outside)) == ["secret"]
    assert b"OUTSIDE\n" not in read
