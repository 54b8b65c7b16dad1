"""Reading untrusted tars with Go's bounds (snapshots/safetar.py), and the fd walks of
snapshots/layer.py that archives, load and diff rely on: no root needed."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from dockyard.snapshots import layer
from dockyard.snapshots.safetar import MAX_SPECIAL, members, open_tar


def _header(name: str, typeflag: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = typeflag, size
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _tar(entries: list[tuple[str, bytes]], fmt: int = tarfile.PAX_FORMAT, **pax) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.pax_headers = dict(pax)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _names(data: bytes) -> list[str]:
    with open_tar(io.BytesIO(data)) as tar:
        return [m.name for m in members(tar)]


def test_ordinary_archives_read_as_tarfile_reads_them():
    long = "d/" + "n" * 300
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        data = _tar([("a", b"1"), (long, b"2"), ("é", b"3")], fmt=fmt)
        assert _names(data) == ["a", long, "é"]
    data = _tar([("x", b"1")], **{"SCHILY.xattr.user.k": "v", "mtime": "1.5"})
    with open_tar(io.BytesIO(data)) as tar:
        (m,) = list(members(tar))
        assert m.pax_headers["SCHILY.xattr.user.k"] == "v" and m.mtime == 1.5


@pytest.mark.parametrize(
    ("typeflag", "what"),
    [(tarfile.XHDTYPE, "PAX header"), (tarfile.GNUTYPE_LONGNAME, "GNU long name")],
)
def test_special_headers_above_a_mib_are_refused_before_they_are_read(typeflag, what):
    data = _header("././@x", typeflag, 4 << 30) + b"\0" * 1024
    with pytest.raises(tarfile.TarError) as e:
        _names(data)
    assert str(e.value) == f"archive/tar: {what} of {4 << 30} bytes is larger than {MAX_SPECIAL}"


def test_pax_records_parse_in_linear_time():
    # CVE-2024-6232's input: CPython < 3.11.10 backtracks quadratically on it
    body = b"1" * (MAX_SPECIAL - 512)
    data = _header("././@PaxHeader", tarfile.XHDTYPE, len(body)) + body + b"\0" * 1536
    with pytest.raises(tarfile.TarError):
        _names(data)


def test_chains_of_special_headers_are_bounded():
    one = _header("././@LongLink", tarfile.GNUTYPE_LONGNAME, 4) + b"abc\0".ljust(512, b"\0")
    assert _names(one * 3 + _tar([("t", b"")], fmt=tarfile.GNU_FORMAT)) == ["abc"]
    with pytest.raises(tarfile.TarError, match="too many special headers"):
        _names(one * 5000 + _tar([("t", b"")], fmt=tarfile.GNU_FORMAT))


def test_members_are_forgotten_once_handled():
    data = _tar([(f"f{i}", b"") for i in range(100)])
    with open_tar(io.BytesIO(data)) as tar:
        held = max(len(tar.members) for _ in members(tar))
    assert held == 1


def test_locate_follows_links_inside_and_bounds_loops(tmp_path):
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("x")
    os.symlink("/d/f", root / "abs")
    os.symlink("../../../../d", root / "up")
    os.symlink("self", root / "self")
    os.symlink("/", root / "top")
    r = layer._Root(str(root))
    try:
        for path in ("abs", "up/f", "top/top/d/f", "d/../d/f"):
            fd, name = r.locate(path)
            try:
                assert name == "f" and os.stat(name, dir_fd=fd).st_size == 1
            finally:
                os.close(fd)
        with pytest.raises(layer.LayerError, match="too many levels of symbolic links"):
            r.locate("self")
        with pytest.raises(FileNotFoundError):
            r.locate("top/etc/passwd")  # the host has one; the root has not
    finally:
        r.close()


def test_extract_tar_keeps_everything_inside(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()

    def tar(*entries: tarfile.TarInfo) -> io.BytesIO:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            for e in entries:
                t.addfile(e, io.BytesIO(b"x" * e.size) if e.isreg() else None)
        buf.seek(0)
        return buf

    link = tarfile.TarInfo("out")
    link.type, link.linkname = tarfile.SYMTYPE, str(outside)
    through = tarfile.TarInfo("out/f")
    through.size = 1
    wh = tarfile.TarInfo(".wh.x")
    suid = tarfile.TarInfo("s")
    suid.size, suid.mode = 1, 0o4755
    layer.extract_tar(
        tar(link, through, wh, suid), str(dest), allow_devices=False, same_owner=False,
        keep_setid=False,
    )  # fmt: skip
    assert os.listdir(outside) == []
    assert (dest / str(outside).lstrip("/") / "f").read_bytes() == b"x"
    assert (dest / ".wh.x").is_file()  # an ordinary name outside layers
    assert (dest / "s").stat().st_mode & 0o7777 == 0o755
    climb = tarfile.TarInfo("../../x")
    with pytest.raises(layer.LayerError, match="outside of the layer root"):
        layer.extract_tar(
            tar(climb), str(dest), allow_devices=False, same_owner=False, keep_setid=True
        )


def test_walk_tree_order_and_links(tmp_path):
    top = tmp_path / "t"
    (top / "b" / "c").mkdir(parents=True)
    (top / "a").mkdir()
    (top / "a" / "f").write_text("")
    os.symlink("/", top / "ln")
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        seen = [(rel, [n for n, _ in entries]) for rel, _fd, entries in layer.walk_tree(fd)]
    finally:
        os.close(fd)
    assert seen == [
        (".", ["a", "b", "ln"]),
        ("a", ["f"]),
        ("b", ["c"]),
        ("b/c", []),
    ]
