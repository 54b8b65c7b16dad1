"""The local volume driver without mounts: records, names, filters, removal, prune, copy-up."""

from __future__ import annotations

import os

import pytest

from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.volumes import ANONYMOUS_LABEL, VolumeService


@pytest.fixture
def svc(tmp_path):
    return VolumeService(str(tmp_path / "volumes"))


def test_create_inspect_shape(svc, tmp_path):
    v = svc.create("data", labels={"a": "b"})
    assert set(v) == {"CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"}
    assert v["Name"] == "data" and v["Driver"] == "local" and v["Scope"] == "local"
    assert v["Mountpoint"] == str(tmp_path / "volumes" / "data" / "_data")
    assert os.path.isdir(v["Mountpoint"])
    assert svc.inspect("data") == v
    # Creating it again returns the same volume.
    assert svc.create("data") == v


def test_records_survive_a_restart(svc, tmp_path):
    svc.create("keep", labels={"x": "1"})
    again = VolumeService(str(tmp_path / "volumes"))
    assert again.inspect("keep")["Labels"] == {"x": "1"}


def test_anonymous_volume(svc):
    v = svc.create()
    assert len(v["Name"]) == 64 and int(v["Name"], 16) >= 0
    assert ANONYMOUS_LABEL in v["Labels"]


@pytest.mark.parametrize("name", ["..", "-x", "a/b", "../etc", "a b", ".hidden", "ü1", "ab\n"])
def test_invalid_names(svc, name):
    with pytest.raises(InvalidParameter, match="includes invalid characters"):
        svc.create(name)


def test_one_character_name_is_too_short(svc):
    with pytest.raises(InvalidParameter, match="volume name is too short, names should be at"):
        svc.create("a")


def test_driver_and_options(svc):
    with pytest.raises(NotFound, match='plugin "nfs" not found'):
        svc.create("x1", driver="nfs")
    with pytest.raises(InvalidParameter, match='invalid option: "bogus"'):
        svc.create("x1", driver_opts={"bogus": "1"})
    with pytest.raises(InvalidParameter, match="device"):
        svc.create("x1", driver_opts={"type": "none", "o": "bind"})
    v = svc.create("t1", driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    assert v["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}


def test_not_found(svc):
    with pytest.raises(NotFound, match="get nope: no such volume"):
        svc.inspect("nope")
    with pytest.raises(NotFound):
        svc.remove("nope")
    svc.remove("nope", force=True)


def test_list_filters(svc):
    svc.create("alpha", labels={"env": "prod"})
    svc.create("beta", labels={"env": "dev", "team": "x"})
    svc.set_usage_probe(lambda name: ["c1"] if name == "alpha" else [])
    names = lambda f: sorted(v["Name"] for v in svc.list(f))  # noqa: E731
    assert names({}) == ["alpha", "beta"]
    assert names({"name": ["alp"]}) == ["alpha"]
    assert names({"label": ["env=dev"]}) == ["beta"]
    assert names({"label": ["team"]}) == ["beta"]
    assert names({"label": ["env"]}) == ["alpha", "beta"]
    assert names({"dangling": ["true"]}) == ["beta"]
    assert names({"dangling": ["false"]}) == ["alpha"]
    assert names({"driver": ["local"]}) == ["alpha", "beta"]
    with pytest.raises(InvalidParameter, match="invalid filter 'bogus'"):
        svc.list({"bogus": ["1"]})
    with pytest.raises(InvalidParameter):
        svc.list({"dangling": ["maybe"]})


def test_remove_in_use_is_a_conflict(svc):
    svc.create("busy")
    svc.set_usage_probe(lambda name: ["deadbeef"])
    with pytest.raises(Conflict, match=r"remove busy: volume is in use - \[deadbeef\]"):
        svc.remove("busy")
    with pytest.raises(Conflict):
        svc.remove("busy", force=True)
    svc.set_usage_probe(lambda name: [])
    svc.remove("busy")
    assert not svc.exists("busy")


def test_prune_only_anonymous_unless_all(svc):
    svc.create("named")
    anon = svc.create()["Name"]
    with open(os.path.join(svc.inspect(anon)["Mountpoint"], "f"), "wb") as f:
        f.write(b"x" * 1000)
    report = svc.prune({})
    assert report == {"VolumesDeleted": [anon], "SpaceReclaimed": 1000}
    assert svc.exists("named")
    svc.create("labelled", labels={"keep": "yes"})
    report = svc.prune({"all": ["true"], "label!": ["keep"]})
    assert report["VolumesDeleted"] == ["named"]
    assert svc.prune({"all": ["1"]})["VolumesDeleted"] == ["labelled"]
    with pytest.raises(InvalidParameter):
        svc.prune({"dangling": ["true"]})


def test_copy_up(svc, tmp_path):
    src = tmp_path / "img"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("hello")
    os.chmod(src / "sub" / "f", 0o640)
    os.symlink("sub/f", src / "link")
    os.chmod(src, 0o750)
    svc.create("filled")
    assert svc.copy_up("filled", str(src)) is True
    mp = svc.inspect("filled")["Mountpoint"]
    assert open(os.path.join(mp, "sub", "f")).read() == "hello"
    assert os.stat(os.path.join(mp, "sub", "f")).st_mode & 0o777 == 0o640
    assert os.readlink(os.path.join(mp, "link")) == "sub/f"
    assert os.stat(mp).st_mode & 0o777 == 0o750
    # Not empty any more: a second copy-up does nothing.
    (src / "other").write_text("x")
    assert svc.copy_up("filled", str(src)) is False
    assert not os.path.exists(os.path.join(mp, "other"))


def test_size(svc):
    v = svc.create("sized")
    with open(os.path.join(v["Mountpoint"], "a"), "wb") as f:
        f.write(b"1" * 123)
    os.link(os.path.join(v["Mountpoint"], "a"), os.path.join(v["Mountpoint"], "b"))
    assert svc.size("sized") == 123


def _blocking(monkeypatch, name):
    """Make the module's `name` helper wait until released; returns (entered, release)."""
    import threading

    import dockyard.volumes.service as module

    entered, release = threading.Event(), threading.Event()
    real = getattr(module, name)

    def slow(*args):
        entered.set()
        assert release.wait(10)
        return real(*args)

    monkeypatch.setattr(module, name, slow)
    return entered, release


def _finishes(fn, timeout=3.0):
    import threading

    out = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(timeout)
    return bool(out), out


@pytest.mark.parametrize("helper", ["_copy_tree", "_rmtree"])
def test_long_copies_and_deletes_do_not_hold_the_service_lock(svc, tmp_path, monkeypatch, helper):
    import threading

    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    svc.create("big")
    svc.create("other")
    entered, release = _blocking(monkeypatch, helper)
    if helper == "_copy_tree":
        work = threading.Thread(target=svc.copy_up, args=("big", str(src)))
    else:
        work = threading.Thread(target=svc.remove, args=("big",))
    work.start()
    try:
        assert entered.wait(5)
        done, out = _finishes(lambda: svc.inspect("other")["Name"])
        assert done and out == ["other"]
        done, _ = _finishes(lambda: svc.create("new"))
        assert done
    finally:
        release.set()
        work.join(10)
    if helper == "_copy_tree":
        assert svc.copy_up("big", str(src)) is False  # filled by the first
        assert os.listdir(svc.inspect("big")["Mountpoint"]) == ["f"]
    else:
        assert not svc.exists("big") and not any(".tmp-rm-" in n for n in os.listdir(svc.root))


def test_prune_label_not_excludes_only_when_every_value_matches(tmp_path):
    """moby's volume prune: `label!=a` with two values keeps a volume only if all match."""
    from dockyard.volumes import VolumeService

    svc = VolumeService(str(tmp_path))
    svc.create("both", labels={"a": "1", "b": "2"})
    svc.create("onlya", labels={"a": "1"})
    report = svc.prune({"all": ["true"], "label!": ["a=1", "b=2"]})
    assert report["VolumesDeleted"] == ["onlya"]
    assert [v["Name"] for v in svc.list()] == ["both"]
