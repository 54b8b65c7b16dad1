"""The snapshotter's metadata: prepare/view/commit/remove, conflicts, walk and crash repair."""

from __future__ import annotations

import os
import stat

import pytest

from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.snapshots import ACTIVE, COMMITTED, VIEW, Snapshotter


@pytest.fixture
def sn(tmp_path) -> Snapshotter:
    return Snapshotter(str(tmp_path / "snaps"))


def test_prepare_commit_chain_and_mounts(sn: Snapshotter) -> None:
    m = sn.prepare("k1", None, labels={"a": "b"})
    assert len(m) == 1 and m[0].type == "bind" and "rw" in m[0].options
    upper1 = sn.upper_dir("k1")
    assert m[0].source == upper1
    with open(os.path.join(upper1, "f"), "w") as f:
        f.write("hello")
    info = sn.commit("layer1", "k1")
    assert info.kind == COMMITTED and info.name == "layer1" and info.labels == {"a": "b"}
    with pytest.raises(NotFound, match="snapshot k1 does not exist"):
        sn.stat("k1")
    size, inodes = sn.usage("layer1")
    assert size > 0 and inodes == 2

    sn.prepare("k2", "layer1")
    sn.commit("layer2", "k2")
    m = sn.prepare("rw", "layer2")
    assert m[0].type == "overlay"
    opts = dict(o.split("=", 1) for o in m[0].options if "=" in o)
    assert opts["lowerdir"] == ":".join([sn.upper_dir("layer2"), sn.upper_dir("layer1")])
    assert opts["upperdir"] == sn.upper_dir("rw")
    assert sn.lower_dirs("rw") == [sn.upper_dir("layer2"), sn.upper_dir("layer1")]
    st = sn.stat("rw")
    assert (st.kind, st.parent) == (ACTIVE, "layer2")

    v = sn.view("v1", "layer1")
    assert v[0].type == "bind" and "ro" in v[0].options and v[0].source == sn.upper_dir("layer1")
    v = sn.view("v2", "layer2")
    assert v[0].type == "overlay" and "ro" in v[0].options
    assert sn.stat("v2").kind == VIEW
    assert sorted(i.name for i in sn.walk()) == ["layer1", "layer2", "rw", "v1", "v2"]
    assert sorted(i.name for i in sn.walk(COMMITTED)) == ["layer1", "layer2"]


def test_conflicts_and_errors(sn: Snapshotter) -> None:
    sn.prepare("a")
    with pytest.raises(Conflict):
        sn.prepare("a")
    with pytest.raises(InvalidParameter):
        sn.prepare("b", "a")  # parent not committed
    with pytest.raises(NotFound):
        sn.prepare("b", "nope")
    sn.commit("A", "a")
    sn.prepare("c")
    with pytest.raises(Conflict):
        sn.commit("A", "c")
    sn.view("v", "A")
    with pytest.raises(InvalidParameter):
        sn.commit("V", "v")
    with pytest.raises(InvalidParameter):
        sn.mounts("A")
    with pytest.raises(Conflict):
        sn.remove("A")  # the view depends on it
    sn.remove("v")
    sn.remove("A")
    with pytest.raises(NotFound):
        sn.remove("A")
    assert [i.name for i in sn.walk()] == ["c"]
    assert sn.update("c", {"x": "y"}).labels == {"x": "y"}


def test_remove_deletes_directory(sn: Snapshotter) -> None:
    sn.prepare("a")
    d = sn.upper_dir("a")
    os.makedirs(os.path.join(d, "x/y"))
    os.chmod(os.path.join(d, "x"), 0)
    sn.remove("a")
    assert not os.path.exists(os.path.dirname(d))


def test_reconcile_repairs_crash_states(sn: Snapshotter, tmp_path) -> None:
    sn.prepare("a")
    sn.commit("A", "a")
    sn.prepare("b", "A")
    # a directory without a record (crash inside prepare) and a removal half done
    os.makedirs(os.path.join(sn.root, "snapshots", "99", "fs"))
    os.makedirs(os.path.join(sn.root, "snapshots", "rm-7", "fs"))
    # a commit that wrote the new record but had not yet dropped the old key
    rec = sn._read("b")
    from dockyard.fsutil import write_json

    write_json(sn._meta_path("B"), dict(rec, key="B", kind=COMMITTED))
    fresh = Snapshotter(sn.root)
    removed = fresh.reconcile()
    assert "99" in removed and "rm-7" in removed and "b" in removed
    assert sorted(i.name for i in fresh.walk()) == ["A", "B"]
    assert sorted(os.listdir(os.path.join(sn.root, "snapshots"))) == ["1", "2"]
    assert fresh.reconcile() == []


def test_commit_stacks_a_parentless_snapshot(sn: Snapshotter) -> None:
    sn.prepare("a")
    sn.commit("A", "a")
    sn.prepare("b")  # unpacked on its own, stacked when committed
    with pytest.raises(NotFound):
        sn.commit("B", "b", parent="nope")
    sn.prepare("x", "A")
    with pytest.raises(InvalidParameter):
        sn.commit("X", "x", parent="A")  # already has one
    info = sn.commit("B", "b", parent="A")
    assert info.parent == "A" and sn.lower_dirs("x") == [sn.upper_dir("A")]
    sn.view("v", "B")
    lower = f"lowerdir={sn.upper_dir('B')}:{sn.upper_dir('A')}"
    assert sn.mounts("v")[0].type == "overlay" and lower in sn.mounts("v")[0].options
    assert sn.lower_dirs("v") == [sn.upper_dir("B"), sn.upper_dir("A")]


def test_usage_walks_the_tree_without_following_its_links(tmp_path):
    """The size walk (tree_stats, by directory descriptors) counts a link as a link: a link to
    a big host directory adds nothing, and hard links count once."""
    from dockyard.fsutil import tree_stats
    from dockyard.snapshots.snapshotter import _du

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"x" * (1 << 20))
    top = tmp_path / "top"
    (top / "d").mkdir(parents=True)
    (top / "d" / "f").write_bytes(b"y" * 5000)
    os.link(top / "d" / "f", top / "hard")
    os.symlink(str(outside), top / "link")
    sizes = sorted(st.st_size for st in tree_stats(str(top)) if not stat.S_ISDIR(st.st_mode))
    assert sizes == [len(str(outside)), 5000, 5000]
    size, inodes = _du(str(top))
    assert inodes == 4  # top, d, f (once), link
    assert size < 1 << 20
