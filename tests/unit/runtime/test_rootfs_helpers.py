"""Mount option parsing and resolving paths inside a root without leaving it."""

from __future__ import annotations

import errno
import os

import pytest

from dockyard.linux import pathrs
from dockyard.linux import syscalls as lsc
from dockyard.runtime import syscalls as sc
from dockyard.runtime.rootfs import dev_is_tmpfs, mount_attrs, parse_options


def test_parse_options():
    flags, prop, data = parse_options(["rbind", "ro", "nosuid", "rprivate", "mode=755", "size=1m"])
    assert flags == sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY | sc.MS_NOSUID
    assert prop == [sc.MS_PRIVATE | sc.MS_REC]
    assert data == "mode=755,size=1m"
    flags, _, _ = parse_options(["ro", "rw", "nodev", "dev"])
    assert flags == 0


def _resolve(root, path: str) -> str:
    """pathrs.resolve_path inside `root` (what COPY, WORKDIR and the user lookup use)."""
    fd = pathrs.open_root(str(root))
    try:
        return pathrs.resolve_path(fd, path)
    finally:
        os.close(fd)


def test_resolve_in_root_stays_inside(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc/../../..", root / "up")
    os.symlink("../../../../outside", root / "etc" / "rel")
    os.symlink("/etc", root / "abs")
    assert _resolve(root, "/up/passwd") == "/passwd"
    assert _resolve(root, "etc/rel/x") == "/outside/x"
    assert _resolve(root, "/abs/hosts") == "/etc/hosts"
    assert _resolve(root, "../../x") == "/x"
    assert _resolve(root, "/") == "/"


def test_resolve_in_root_past_missing_and_non_directories(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "file").write_text("x")
    os.symlink("/etc", root / "abs")
    # ".." after a missing component or a file is still taken inside the root
    assert _resolve(root, "missing/../../../x") == "/x"
    assert _resolve(root, "etc/file/../../../../x") == "/x"
    assert _resolve(root, "etc/file/sub") == "/etc/file/sub"
    # a link after a missing component is resolved as well
    assert _resolve(root, "missing/../abs/y") == "/etc/y"


def test_dev_is_tmpfs():
    assert dev_is_tmpfs([{"destination": "/dev", "type": "tmpfs"}])
    assert not dev_is_tmpfs([{"destination": "/dev", "type": "bind", "source": "/dev"}])
    assert not dev_is_tmpfs([{"destination": "/proc", "type": "proc"}])


def test_a_symlink_loop_is_eloop(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(OSError) as e:
        _resolve(tmp_path, "/x/../a/file")
    assert e.value.errno == errno.ELOOP


def test_mount_attrs_of_bind_flags():
    flags, _, _ = parse_options(["rbind", "ro", "nosuid", "nodev", "noexec", "noatime"])
    attr_set, attr_clr = mount_attrs(flags & ~(sc.MS_BIND | sc.MS_REC))
    assert attr_set == (
        lsc.MOUNT_ATTR_RDONLY
        | lsc.MOUNT_ATTR_NOSUID
        | lsc.MOUNT_ATTR_NODEV
        | lsc.MOUNT_ATTR_NOEXEC
        | lsc.MOUNT_ATTR_NOATIME
    )
    assert attr_clr == lsc.MOUNT_ATTR__ATIME
    assert mount_attrs(0) == (0, 0)


def test_rootfs_module_joins_no_path_under_the_root():
    """The rule of the module: no os.path.join / string paths under the rootfs."""
    import inspect

    from dockyard.runtime import rootfs

    source = inspect.getsource(rootfs)
    assert "secure_join" not in source
    assert "os.path.join(rootfs" not in source and "os.path.join(root," not in source
