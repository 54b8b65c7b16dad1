"""ctypes bindings of the Linux calls that resolve paths and make mounts on file descriptors.

openat2(2), open_tree(2), move_mount(2), mount_setattr(2), mount(2), fstatfs(2) and the
TIOCGPTPEER ioctl. The numbers of the calls from 424 upwards are the same on every
architecture. Every wrapper raises OSError with the errno and a message naming the call.
"""

from __future__ import annotations

import ctypes
import fcntl
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]

SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_OPENAT2 = 437
SYS_MOUNT_SETATTR = 442

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC

MOVE_MOUNT_F_EMPTY_PATH = 0x04
MOVE_MOUNT_T_EMPTY_PATH = 0x40

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

PROC_SUPER_MAGIC = 0x9FA0
TMPFS_MAGIC = 0x01021994
DEVPTS_SUPER_MAGIC = 0x1CD1

TIOCGPTPEER = 0x5441


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _fail(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def openat2(dir_fd: int, path: str, flags: int, mode: int, resolve: int) -> int:
    creates = flags & os.O_CREAT or flags & os.O_TMPFILE == os.O_TMPFILE
    how = _OpenHow(flags | os.O_CLOEXEC, mode if creates else 0, resolve)
    fd = _libc.syscall(
        ctypes.c_long(SYS_OPENAT2),
        ctypes.c_int(dir_fd),
        os.fsencode(path),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        raise _fail(f"openat2 {path}")
    return int(fd)


def open_tree(dir_fd: int, path: str, flags: int) -> int:
    fd = _libc.syscall(
        ctypes.c_long(SYS_OPEN_TREE),
        ctypes.c_int(dir_fd),
        os.fsencode(path),
        ctypes.c_uint(flags | OPEN_TREE_CLOEXEC),
    )
    if fd < 0:
        raise _fail(f"open_tree {path or f'fd {dir_fd}'}")
    return int(fd)


def move_mount(from_fd: int, to_fd: int, what: str) -> None:
    """Attach the detached mount `from_fd` onto the object `to_fd` refers to."""
    rc = _libc.syscall(
        ctypes.c_long(SYS_MOVE_MOUNT),
        ctypes.c_int(from_fd),
        b"",
        ctypes.c_int(to_fd),
        b"",
        ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
    )
    if rc < 0:
        raise _fail(f"move_mount onto {what}")


def mount_setattr(fd: int, attr_set: int, attr_clr: int = 0, recursive: bool = False) -> None:
    """mount_setattr(2) on the mount `fd` refers to (AT_EMPTY_PATH)."""
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    rc = _libc.syscall(
        ctypes.c_long(SYS_MOUNT_SETATTR),
        ctypes.c_int(fd),
        b"",
        ctypes.c_uint(AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    if rc < 0:
        raise _fail(f"mount_setattr(set {attr_set:#x}, clear {attr_clr:#x})")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None, what: str
) -> None:
    def b(s: str | None) -> bytes | None:
        return None if s is None else os.fsencode(s)

    if _libc.mount(b(source), b(target), b(fstype), flags, b(data)) < 0:
        raise _fail(what)


class _StatFs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 112)]


_libc.fstatfs.argtypes = [ctypes.c_int, ctypes.POINTER(_StatFs)]


def fs_type(fd: int) -> int:
    """The f_type of the file system holding `fd` (fstatfs)."""
    buf = _StatFs()
    if _libc.fstatfs(fd, ctypes.byref(buf)) < 0:
        raise _fail("fstatfs")
    return int(buf.f_type) & 0xFFFFFFFF


def pty_peer(master: int) -> int:
    """Open the slave of the pty `master` from the master itself (TIOCGPTPEER), never by a
    path in /dev/pts that could have been swapped."""
    fd = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    return int(fd)
