"""pathrs: resolution inside a root, by openat2 and by the fallback walk, with every escape
a path or a symlink can try (absolute and climbing links, loops, missing components)."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from dockyard.linux import pathrs


@pytest.fixture(params=["openat2", "walk"])
def mode(request, monkeypatch):
    if request.param == "openat2":
        if not pathrs.have_openat2():
            pytest.skip("the kernel has no openat2")
        monkeypatch.setattr(pathrs, "use_openat2", True)
    else:
        monkeypatch.setattr(pathrs, "use_openat2", False)
    return request.param


@pytest.fixture
def tree(tmp_path):
    """root/ holds etc/passwd, links that try to leave; outside/ is the 'host'."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("HOST\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("ROOT\n")
    os.symlink("/etc", root / "abs")  # absolute: the root's /etc, not the host's
    os.symlink("../../../../outside", root / "etc" / "climb")
    os.symlink(str(outside), root / "hostabs")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.symlink("missing/deeper", root / "dangling")
    (root / "file").write_text("x")
    fd = pathrs.open_root(str(root))
    yield root, outside, fd
    os.close(fd)


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 100, 0).decode()
    finally:
        os.close(fd)


def _where(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def test_plain_and_absolute_links_stay_inside(tree, mode):
    root, _, fd = tree
    assert _read(pathrs.open_in_root(fd, "/etc/passwd", os.O_RDONLY)) == "ROOT\n"
    assert _read(pathrs.open_in_root(fd, "abs/passwd", os.O_RDONLY)) == "ROOT\n"
    assert _read(pathrs.open_in_root(fd, "/../../etc/../etc/passwd", os.O_RDONLY)) == "ROOT\n"


def test_climbing_and_host_absolute_links_cannot_leave(tree, mode):
    root, outside, fd = tree
    # ../../../../outside from /etc is /outside inside the root: missing
    with pytest.raises(FileNotFoundError):
        pathrs.open_in_root(fd, "/etc/climb/passwd", os.O_RDONLY)
    with pytest.raises(FileNotFoundError):
        pathrs.open_in_root(fd, "/hostabs/passwd", os.O_RDONLY)
    (root / str(outside).lstrip("/")).mkdir(parents=True)
    (root / str(outside).lstrip("/") / "passwd").write_text("INSIDE\n")
    assert _read(pathrs.open_in_root(fd, "/hostabs/passwd", os.O_RDONLY)) == "INSIDE\n"


def test_symlink_loops_are_eloop(tree, mode):
    _, _, fd = tree
    with pytest.raises(OSError) as e:
        pathrs.open_in_root(fd, "/loop1/x")
    assert e.value.errno == errno.ELOOP
    assert e.value.filename == "/loop1/x"


def test_a_long_chain_of_links_is_bounded(tmp_path, mode):
    for i in range(60):
        os.symlink(f"l{i + 1}", tmp_path / f"l{i}")
    os.mkdir(tmp_path / "l60")
    fd = pathrs.open_root(str(tmp_path))
    try:
        os.close(pathrs.open_in_root(fd, "l30"))  # 30 hops: fine
        with pytest.raises(OSError) as e:
            pathrs.open_in_root(fd, "l0")  # 60 hops: refused
        assert e.value.errno == errno.ELOOP
    finally:
        os.close(fd)


def test_missing_and_non_directory_components(tree, mode):
    _, _, fd = tree
    with pytest.raises(FileNotFoundError):
        pathrs.open_in_root(fd, "/nope/x")
    with pytest.raises(NotADirectoryError):
        pathrs.open_in_root(fd, "/file/x")
    with pytest.raises(NotADirectoryError):
        pathrs.open_in_root(fd, "/file", os.O_PATH | os.O_DIRECTORY)


def test_nofollow_gives_the_link_itself(tree, mode):
    _, _, fd = tree
    link = pathrs.open_in_root(fd, "/hostabs", os.O_PATH | os.O_NOFOLLOW)
    try:
        assert stat.S_ISLNK(os.fstat(link).st_mode)
    finally:
        os.close(link)


def test_magic_links_are_refused(tmp_path, mode):
    (tmp_path / "proc").mkdir()
    fd = pathrs.open_root(str(tmp_path))
    os.system(f"mount -t proc proc {tmp_path}/proc")  # noqa: S605 - root only, below
    try:
        if not os.path.exists(tmp_path / "proc" / "self"):
            pytest.skip("needs root to mount a procfs")
        with pytest.raises(OSError) as e:
            pathrs.open_in_root(fd, "/proc/self/fd/0")
        assert e.value.errno == errno.ELOOP
        with pytest.raises(OSError) as e:
            pathrs.open_in_root(fd, "/proc/self/cwd/x")
        assert e.value.errno == errno.ELOOP
        # plain links of /proc still work
        os.close(pathrs.open_in_root(fd, "/proc/self/status", os.O_RDONLY))
    finally:
        os.system(f"umount {tmp_path}/proc 2>/dev/null")  # noqa: S605
        os.close(fd)


def test_create_through_a_dangling_link_stays_inside(tree, mode):
    root, outside, fd = tree
    os.symlink(str(outside / "new"), root / "newlink")
    with pytest.raises(FileNotFoundError):  # its directory does not exist inside the root
        pathrs.open_in_root(fd, "/newlink", os.O_WRONLY | os.O_CREAT, 0o600)
    os.symlink("/etc/../../new", root / "newlink2")
    os.close(pathrs.open_in_root(fd, "/newlink2", os.O_WRONLY | os.O_CREAT, 0o600))
    assert sorted(os.listdir(outside)) == ["passwd"]
    assert (root / "new").is_file()


def test_mkdir_all_follows_links_inside_and_creates_the_rest(tree, mode):
    root, outside, fd = tree
    d = pathrs.mkdir_all_in_root(fd, "/dangling/a/b")
    try:
        assert _where(os.dup(d)) == str(root / "missing" / "deeper" / "a" / "b")
    finally:
        os.close(d)
    d = pathrs.mkdir_all_in_root(fd, "/etc/climb/made")
    os.close(d)
    assert (root / "outside" / "made").is_dir()
    assert sorted(os.listdir(outside)) == ["passwd"]
    with pytest.raises(NotADirectoryError):
        pathrs.mkdir_all_in_root(fd, "/file/sub")
    with pytest.raises(OSError) as e:
        pathrs.mkdir_all_in_root(fd, "/loop1/sub")
    assert e.value.errno == errno.ELOOP


def test_open_parent_in_root(tree, mode):
    root, outside, fd = tree
    parent, name = pathrs.open_parent_in_root(fd, "/hostabs/x/y", mkdir=True)
    try:
        assert name == "y"
        os.symlink("target", name, dir_fd=parent)
    finally:
        os.close(parent)
    assert os.path.islink(os.path.join(root, str(outside).lstrip("/"), "x", "y"))
    assert sorted(os.listdir(outside)) == ["passwd"]
    with pytest.raises(OSError):
        pathrs.open_parent_in_root(fd, "/etc/..")


def test_resolve_path_keeps_missing_components_lexically(tree):
    root, outside, fd = tree
    assert pathrs.resolve_path(fd, "/abs/passwd") == "/etc/passwd"
    assert pathrs.resolve_path(fd, "/etc/climb/x") == "/outside/x"
    assert pathrs.resolve_path(fd, "missing/../../abs/y") == "/etc/y"
    assert pathrs.resolve_path(fd, "file/sub/../../../x") == "/x"
    assert pathrs.resolve_path(fd, "/") == "/"
    with pytest.raises(OSError) as e:
        pathrs.resolve_path(fd, "/loop1")
    assert e.value.errno == errno.ELOOP


def test_character_device_check(tmp_path):
    null = os.open("/dev/null", os.O_PATH)
    try:
        assert pathrs.is_char_device(null, 1, 3)
        assert not pathrs.is_char_device(null, 1, 5)
    finally:
        os.close(null)
    f = os.open(tmp_path, os.O_PATH)
    try:
        assert not pathrs.is_char_device(f, 1, 3)
    finally:
        os.close(f)


def test_top_level_directory_must_not_be_a_symlink(tmp_path):
    os.symlink("/etc", tmp_path / "dev")
    os.symlink("../../..", tmp_path / "proc")
    fd = pathrs.open_root(str(tmp_path))
    try:
        for name in ("dev", "proc"):
            with pytest.raises(OSError) as e:
                pathrs.require_directory_entry(fd, name)
            assert str(e.value) == f"rootfs /{name} cannot be a symlink"
        os.close(pathrs.require_directory_entry(fd, "sys"))  # made when missing
        assert (tmp_path / "sys").is_dir()
    finally:
        os.close(fd)


def test_create_exclusive_refuses_an_existing_file(tree, mode):
    _, _, fd = tree
    with pytest.raises(FileExistsError):
        pathrs.open_in_root(fd, "/abs/passwd", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    os.close(pathrs.open_in_root(fd, "/abs/new", os.O_WRONLY | os.O_CREAT | os.O_EXCL))


def test_lstat_beneath_follows_no_link(tmp_path):
    top = tmp_path / "layer"
    (top / "d").mkdir(parents=True)
    (top / "d" / "f").write_text("x")
    os.symlink("/etc", top / "a")  # absolute, out of the layer
    os.symlink("d", top / "rel")  # relative, inside: still not followed
    assert pathrs.lstat_beneath(str(top), "/d/f") is not None
    assert pathrs.lstat_beneath(str(top), "d/f") is not None
    st = pathrs.lstat_beneath(str(top), "/a")
    assert st is not None and stat.S_ISLNK(st.st_mode)  # the link itself
    assert pathrs.lstat_beneath(str(top), "/a/passwd") is None  # the host's is not seen
    assert pathrs.lstat_beneath(str(top), "/rel/f") is None
    assert pathrs.lstat_beneath(str(top), "/missing/f") is None
    assert pathrs.lstat_beneath(str(top), "/d/../../etc/passwd") is None
    opened = pathrs.open_parent_beneath(str(top), "/d/f")
    assert opened is not None and opened[1] == "f"
    os.close(opened[0])
