"""Layers unpacked into snapshots and merged by a real overlay mount; diff of an upper dir."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile

import pytest

from dockyard.snapshots import Snapshotter, apply_layer, diff, mount_all, unmount_all
from unit.snapshots.tarbuild import make_tar


@pytest.fixture
def sn(tmp_path):
    s = Snapshotter(str(tmp_path / "snaps"))
    targets: list[str] = []
    yield s, targets
    for t in targets:
        unmount_all(t)
        os.rmdir(t)


def _unpack(sn: Snapshotter, tar: bytes, name: str, parent: str | None) -> None:
    key = f"extract-{name}"
    sn.prepare(key, parent)
    apply_layer(io.BytesIO(tar), sn.upper_dir(key))
    sn.commit(name, key)


def _mount(sn: Snapshotter, targets: list[str], mounts) -> str:
    target = tempfile.mkdtemp(prefix="dy-ovl-")
    targets.append(target)
    mount_all(mounts, target)
    return target


def test_whiteouts_and_opaque_dirs_merge(sn) -> None:
    s, targets = sn
    base = make_tar(
        [
            {"name": "etc", "type": "dir", "mode": 0o755},
            {"name": "etc/passwd", "data": b"root"},
            {"name": "etc/keep", "data": b"k"},
            {"name": "opt", "type": "dir", "mode": 0o755},
            {"name": "opt/old1", "data": b"1"},
            {"name": "opt/sub", "type": "dir", "mode": 0o755},
            {"name": "opt/sub/old2", "data": b"2"},
        ]
    )
    top = make_tar(
        [
            {"name": "etc", "type": "dir", "mode": 0o755},
            {"name": "etc/.wh.passwd"},
            {"name": "opt", "type": "dir", "mode": 0o755},
            {"name": "opt/.wh..wh..opq"},
            {"name": "opt/new", "data": b"n"},
        ]
    )
    _unpack(s, base, "L1", None)
    _unpack(s, top, "L2", "L1")
    root = _mount(s, targets, s.view("view", "L2"))
    assert sorted(os.listdir(os.path.join(root, "etc"))) == ["keep"]
    assert sorted(os.listdir(os.path.join(root, "opt"))) == ["new"]
    unmount_all(root)

    # a container's writable layer on top; its diff carries the deletions as whiteouts
    root = _mount(s, targets, s.prepare("rw", "L2"))
    os.unlink(os.path.join(root, "etc/keep"))
    with open(os.path.join(root, "etc/added"), "w") as f:
        f.write("a")
    # without redirect_dir a merged directory cannot be renamed: mv copies, so do that
    shutil.copytree(os.path.join(root, "opt"), os.path.join(root, "opt2"))
    shutil.rmtree(os.path.join(root, "opt"))
    os.mkdir(os.path.join(root, "opt"))
    unmount_all(root)
    out = diff(s.lower_dirs("rw"), s.upper_dir("rw")).read()
    names = tarfile.open(fileobj=io.BytesIO(out)).getnames()
    assert "etc/.wh.keep" in names and "etc/added" in names
    assert "opt/.wh..wh..opq" in names and "opt2/new" in names

    # the diff applied as a new layer gives the same merged view
    _unpack(s, out, "L3", "L2")
    root = _mount(s, targets, s.view("view3", "L3"))
    assert sorted(os.listdir(os.path.join(root, "etc"))) == ["added"]
    assert os.listdir(os.path.join(root, "opt")) == []
    assert sorted(os.listdir(os.path.join(root, "opt2"))) == ["new"]
    unmount_all(root)
    s.remove("view3")
    s.remove("rw")


def test_many_layers_beyond_one_page_of_options(sn) -> None:
    s, targets = sn
    parent = None
    for i in range(130):
        name = f"layer-{i}"
        _unpack(s, make_tar([{"name": f"f{i}", "data": str(i).encode()}]), name, parent)
        parent = name
    mounts = s.view("many", parent)
    assert len(",".join(mounts[0].options)) > 4096
    root = _mount(s, targets, mounts)
    assert len(os.listdir(root)) == 130
    with open(os.path.join(root, "f0")) as f:
        assert f.read() == "0"
    unmount_all(root)
    root = _mount(s, targets, s.prepare("rw-many", parent))
    with open(os.path.join(root, "new"), "w") as f:
        f.write("x")
    assert os.path.exists(os.path.join(s.upper_dir("rw-many"), "new"))
