"""Layer application: hostile tarballs change nothing outside the target; whiteouts; diff."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile

import pytest

from dockyard.snapshots.layer import OPAQUE_XATTR, LayerError, apply_layer, diff
from unit.snapshots.tarbuild import make_tar

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="whiteouts need CAP_MKNOD and trusted xattrs")


@pytest.fixture
def box(tmp_path):
    """A target dir next to an 'outside' dir holding a sentinel file."""
    target = tmp_path / "target"
    target.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("keep")
    return target, outside


def outside_unchanged(outside) -> None:
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").read_text() == "keep"
    assert os.stat(outside / "secret").st_nlink == 1


def apply(data: bytes, target) -> object:
    return apply_layer(io.BytesIO(data), str(target))


def test_plain_and_gzip_give_the_diff_id_of_the_uncompressed_tar(tmp_path) -> None:
    entries = [{"name": "etc", "type": "dir", "mode": 0o755}, {"name": "etc/hi", "data": b"x"}]
    plain = make_tar(entries)
    gz = make_tar(entries, gz=True)
    want = "sha256:" + hashlib.sha256(plain).hexdigest()
    for i, data in enumerate((plain, gz)):
        d = tmp_path / f"t{i}"
        d.mkdir()
        res = apply(data, d)
        assert res.diff_id == want
        assert res.size == 1 and res.tar_size == len(plain)
        assert (d / "etc/hi").read_bytes() == b"x"


def test_expected_diff_id_mismatch(tmp_path) -> None:
    with pytest.raises(LayerError, match="diff_id mismatch"):
        apply_layer(
            io.BytesIO(make_tar([{"name": "a"}])),
            str(tmp_path),
            expected_diff_id="sha256:" + "0" * 64,
        )


def test_dotdot_traversal_is_refused(box) -> None:
    target, outside = box
    with pytest.raises(LayerError):
        apply(make_tar([{"name": "../outside/secret", "data": b"pwned"}]), target)
    with pytest.raises(LayerError):
        apply(make_tar([{"name": "a/../../outside/new", "data": b"pwned"}]), target)
    outside_unchanged(outside)


def test_absolute_names_stay_inside(box) -> None:
    target, outside = box
    apply(make_tar([{"name": str(outside / "secret"), "data": b"pwned"}]), target)
    outside_unchanged(outside)
    assert (target / str(outside / "secret").lstrip("/")).read_bytes() == b"pwned"


def test_file_through_symlink_placed_earlier(box) -> None:
    target, outside = box
    tar = make_tar(
        [
            {"name": "evil", "type": "sym", "link": str(outside)},
            {"name": "evil/secret", "data": b"pwned"},
            {"name": "evil/new", "data": b"pwned"},
        ]
    )
    apply(tar, target)
    outside_unchanged(outside)
    # followed inside the root, as a chroot would
    inside = target / str(outside).lstrip("/")
    assert (inside / "secret").read_bytes() == b"pwned"
    assert os.readlink(target / "evil") == str(outside)


def test_symlink_to_root_then_dotdot_names(box) -> None:
    target, outside = box
    rel = os.path.relpath(outside, target)
    tar = make_tar(
        [
            {"name": "up", "type": "sym", "link": "/"},
            {"name": "up/" + rel + "/secret", "data": b"pwned"},
        ]
    )
    apply(tar, target)  # "up/../outside/secret" is cleaned lexically to "outside/secret"
    outside_unchanged(outside)
    assert (target / "outside/secret").read_bytes() == b"pwned"
    tar = make_tar(
        [
            {"name": "d", "type": "dir", "mode": 0o755},
            {"name": "d/up", "type": "sym", "link": "/../../../../.."},
            {"name": "d/up/secret", "data": b"pwned"},
        ]
    )
    apply(tar, target)
    outside_unchanged(outside)
    assert (target / "secret").read_bytes() == b"pwned"


def test_relative_symlink_that_climbs_is_refused(box) -> None:
    target, outside = box
    with pytest.raises(LayerError):
        apply(make_tar([{"name": "a/evil", "type": "sym", "link": "../../outside"}]), target)
    outside_unchanged(outside)


def test_overwriting_a_symlink_replaces_it(box) -> None:
    target, outside = box
    tar = make_tar(
        [
            {"name": "x", "type": "sym", "link": str(outside / "secret")},
            {"name": "x", "data": b"pwned"},
            {"name": "d", "type": "sym", "link": str(outside)},
            {"name": "d", "type": "dir", "mode": 0o755},
            {"name": "d/secret", "data": b"pwned"},
        ]
    )
    apply(tar, target)
    outside_unchanged(outside)
    assert not os.path.islink(target / "x") and (target / "x").read_bytes() == b"pwned"
    assert (target / "d/secret").read_bytes() == b"pwned"


def test_hard_link_to_host_file(box) -> None:
    target, outside = box
    for link in (str(outside / "secret"), "../outside/secret", "../../../../" + str(outside)):
        with pytest.raises(LayerError):
            apply(make_tar([{"name": "h", "type": "link", "link": link}]), target)
    # through a symlink placed earlier: resolved inside the root, where there is no such file
    tar = make_tar(
        [
            {"name": "s", "type": "sym", "link": str(outside)},
            {"name": "h", "type": "link", "link": "s/secret"},
        ]
    )
    with pytest.raises(LayerError):
        apply(tar, target)
    outside_unchanged(outside)


def test_hard_link_inside_the_layer(tmp_path) -> None:
    apply(
        make_tar([{"name": "a", "data": b"1"}, {"name": "b", "type": "link", "link": "a"}]),
        tmp_path,
    )
    assert os.stat(tmp_path / "a").st_ino == os.stat(tmp_path / "b").st_ino


def test_whiteout_of_dotdot_is_refused(box) -> None:
    target, outside = box
    for name in ("a/.wh...", "a/.wh..", ".wh..."):
        with pytest.raises(LayerError):
            apply(make_tar([{"name": name}]), target)
    outside_unchanged(outside)
    assert os.path.exists(target)


def test_devices_only_when_allowed(tmp_path) -> None:
    tar = make_tar(
        [
            {"name": "null", "type": "chr", "dev": (1, 3), "mode": 0o666},
            {"name": "p", "type": "fifo"},
        ]
    )
    apply_layer(io.BytesIO(tar), str(tmp_path), allow_devices=False)
    assert not os.path.lexists(tmp_path / "null")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "p").st_mode)


@needs_root
def test_devices_when_allowed(tmp_path) -> None:
    tar = make_tar([{"name": "null", "type": "chr", "dev": (1, 3), "mode": 0o666}])
    apply_layer(io.BytesIO(tar), str(tmp_path), allow_devices=True)
    st = os.lstat(tmp_path / "null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3


@needs_root
def test_metadata_ownership_modes_times_xattrs(tmp_path) -> None:
    tar = make_tar(
        [
            {
                "name": "d",
                "type": "dir",
                "mode": 0o750,
                "uid": 1000,
                "gid": 1001,
                "mtime": 1234567890,
            },
            {
                "name": "d/f",
                "mode": 0o4755,
                "uid": 1000,
                "gid": 1001,
                "mtime": 1111111111,
                "data": b"abc",
                "xattrs": {"user.color": "blue"},
            },
            {"name": "d/l", "type": "sym", "link": "f", "uid": 7, "gid": 8},
        ]
    )
    apply(tar, tmp_path)
    st = os.stat(tmp_path / "d/f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (
        1000,
        1001,
        0o4755,
        1111111111,
    )
    assert os.getxattr(tmp_path / "d/f", "user.color") == b"blue"
    st = os.stat(tmp_path / "d")
    assert (stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (0o750, 1234567890)
    st = os.lstat(tmp_path / "d/l")
    assert (st.st_uid, st.st_gid) == (7, 8)


@needs_root
def test_whiteouts_become_overlay_whiteouts(tmp_path) -> None:
    tar = make_tar(
        [
            {"name": "etc", "type": "dir", "mode": 0o755},
            {"name": "etc/.wh.passwd"},
            {"name": "opt", "type": "dir", "mode": 0o755},
            {"name": "opt/.wh..wh..opq"},
            {"name": "opt/new", "data": b"n"},
        ]
    )
    apply(tar, tmp_path)
    st = os.lstat(tmp_path / "etc/passwd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert not os.path.lexists(tmp_path / "etc/.wh.passwd")
    assert os.getxattr(tmp_path / "opt", OPAQUE_XATTR) == b"y"
    assert not os.path.lexists(tmp_path / "opt/.wh..wh..opq")


def _tree(root) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            data = None
            if stat.S_ISREG(st.st_mode):
                data = open(p, "rb").read()
            elif stat.S_ISLNK(st.st_mode):
                data = os.readlink(p)
            try:
                opaque = os.getxattr(p, OPAQUE_XATTR, follow_symlinks=False)
            except OSError:
                opaque = None
            out[rel] = (
                st.st_mode,
                st.st_uid,
                st.st_gid,
                st.st_rdev,
                data,
                opaque,
                None if stat.S_ISDIR(st.st_mode) else int(st.st_mtime),
            )
    return out


@needs_root
def test_diff_round_trip_is_deterministic(tmp_path, busybox_rootfs) -> None:
    entries = [
        {"name": "bin", "type": "dir", "mode": 0o755},
        {"name": "bin/tool", "mode": 0o755, "data": b"#!/bin/sh\n", "uid": 5},
        {"name": "bin/alias", "type": "link", "link": "bin/tool"},
        {"name": "bin/sl", "type": "sym", "link": "tool"},
        {"name": "etc", "type": "dir", "mode": 0o755},
        {"name": "etc/.wh.gone"},
        {"name": "var", "type": "dir", "mode": 0o700},
        {"name": "var/.wh..wh..opq"},
        {"name": "var/x", "data": b"x", "xattrs": {"user.k": "v"}},
    ]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    apply(make_tar(entries), a)
    out = diff([], str(a)).read()
    assert out == diff([], str(a)).read()
    names = tarfile.open(fileobj=io.BytesIO(out)).getnames()
    assert "etc/.wh.gone" in names and "var/.wh..wh..opq" in names
    members = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(out))}
    assert members["bin/tool"].islnk() or members["bin/alias"].islnk()
    res = apply(out, b)
    assert res.diff_id == "sha256:" + hashlib.sha256(out).hexdigest()
    assert _tree(a) == _tree(b)


def test_diff_leaves_sockets_out(tmp_path) -> None:
    import socket

    (tmp_path / "f").write_text("x")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s.sock"))
        names = tarfile.open(fileobj=diff([], str(tmp_path))).getnames()
    finally:
        sock.close()
    assert names == ["f"]
