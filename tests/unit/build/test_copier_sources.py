"""build.copier's source lookup: refusals are CopyErrors in Docker's words, no host paths."""

from __future__ import annotations

import hashlib
import os

import pytest

from dockyard.build import copier
from dockyard.linux import pathrs


def test_symlink_loop_in_sources_is_a_copy_error(tmp_path):
    os.symlink("loop", tmp_path / "loop")
    with pytest.raises(copier.CopyError) as e:
        copier.find_sources(str(tmp_path), ["loop/x"], from_context=True)
    assert e.value.message == "loop/x: too many levels of symbolic links"
    assert str(tmp_path) not in e.value.message


def test_wildcard_sources(tmp_path):
    for name in ("a.txt", "b.txt", "c.md"):
        (tmp_path / name).write_text(name)
    found = copier.find_sources(str(tmp_path), ["*.txt"], from_context=True)
    assert [s.name for s in found] == ["a.txt", "b.txt"]
    with pytest.raises(copier.CopyError, match="syntax error in pattern"):
        copier.find_sources(str(tmp_path), ["[-]"], from_context=True)


def _tree(root) -> None:
    """A small tree with every kind of entry the cache's hash tells apart."""
    root = str(root)
    os.makedirs(f"{root}/d/sub")
    for name, text, mode in (("d/b", "B", 0o644), ("d/a", "A", 0o755), ("d/sub/c", "C", 0o600)):
        with open(f"{root}/{name}", "w") as f:
            f.write(text)
        os.chmod(f"{root}/{name}", mode)
    os.symlink("sub", f"{root}/d/lsub")
    os.symlink("a", f"{root}/d/la")
    os.symlink("gone", f"{root}/d/ldead")
    os.chmod(f"{root}/d/sub", 0o750)
    os.chmod(f"{root}/d", 0o755)


@pytest.mark.parametrize("openat2", [True, False])
def test_the_cache_hash_is_unchanged_by_reading_through_descriptors(tmp_path, monkeypatch, openat2):
    # the digests the path-based hash gave for this tree: cache keys must not change
    if not openat2:
        monkeypatch.setattr(pathrs, "use_openat2", False)
    _tree(tmp_path)
    (d,) = copier.find_sources(str(tmp_path), ["d"], from_context=True)
    (a,) = copier.find_sources(str(tmp_path), ["d/la"], from_context=True)  # followed
    assert (d.path, d.is_dir, a.path, a.is_dir) == ("/d", True, "/d/a", False)
    assert copier.hash_source(d) == (
        "280844b9e0fdf9fa3218f5a922cd957cbab332950a0a800c0a538545592f073c"
    )
    assert copier.hash_source(a) == (
        "37f141cb4dc560505a4385f19f6552aedc64e0f0f1ed388b09a9ee53b06df3e1"
    )


def test_the_hash_does_not_look_at_the_host(tmp_path):
    # `l -> /etc` leads to a directory on the host, to nothing inside the root: the link is
    # hashed in its name's place (as a non-directory), whatever the host has at /etc
    os.mkdir(tmp_path / "d")
    os.chmod(tmp_path / "d", 0o755)
    os.symlink("/etc", tmp_path / "d" / "l")
    (tmp_path / "d" / "z").write_text("Z")
    os.chmod(tmp_path / "d" / "z", 0o644)
    (d,) = copier.find_sources(str(tmp_path), ["d"], from_context=True)
    h = hashlib.sha256()
    h.update(b"d . 755\0f ./l 120777\0/etc\0f ./z 100644\0Z\0")
    assert copier.hash_source(d) == h.hexdigest()
    os.mkdir(tmp_path / "etc")  # now it is a directory inside the root too: hashed last
    h = hashlib.sha256()
    h.update(b"d . 755\0f ./z 100644\0Z\0f ./l 120777\0/etc\0")
    assert copier.hash_source(d) == h.hexdigest()


def test_sources_resolve_inside_their_root_only(tmp_path):
    # a stage's root whose links climb out, absolutely and relatively, towards a host file
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("S")
    root = tmp_path / "stage"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "secret").write_text("inside")
    os.symlink(str(host), root / "abs")
    os.symlink("../../../../../../../" + str(host), root / "etc" / "rel")
    os.symlink("/etc", root / "ok")
    for src in ("abs/secret", "etc/rel/secret", "abs", "etc/rel"):
        with pytest.raises(copier.CopyError, match=f"^stat {src}: file does not exist$"):
            copier.find_sources(str(root), [src], from_context=False)
    (s,) = copier.find_sources(str(root), ["ok/secret"], from_context=False)
    assert (s.root, s.path) == (str(root), "/etc/secret")
    with copier.open_source(s) as fd, os.fdopen(copier.reopen(fd)) as f:
        assert f.read() == "inside"
    # a wildcard never walks into a link, matches it by name and follows it inside the root
    found = copier.find_sources(str(root), ["*/secret", "o?"], from_context=False)
    assert [(x.name, x.path, x.is_dir) for x in found] == [
        ("etc/secret", "/etc/secret", False),
        ("ok", "/etc", True),
    ]
    with pytest.raises(copier.CopyError, match="^stat etc/secret/x: not a directory$"):
        copier.find_sources(str(root), ["etc/secret/x"], from_context=False)


def test_a_tree_is_copied_by_descriptor_links_kept(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src)
    os.symlink(str(tmp_path / "dst"), src / "d" / "sub" / "out")  # copied as a link
    dst.mkdir()
    sources = copier.find_sources(str(src), ["d", "d/la"], from_context=True)
    copier.copy_sources(str(dst), sources, "/x/", preserve_owner=True)
    assert sorted(os.listdir(dst / "x")) == ["a", "b", "la", "ldead", "lsub", "sub"]
    assert os.readlink(dst / "x" / "sub" / "out") == str(tmp_path / "dst")
    assert os.readlink(dst / "x" / "lsub") == "sub"
    assert (dst / "x" / "sub" / "c").read_text() == "C"
    assert (dst / "x" / "la").is_file() and not (dst / "x" / "la").is_symlink()  # replaced
    assert oct((dst / "x" / "sub").stat().st_mode & 0o777) == "0o750"
