"""Where a mount may land in a container: Docker's and runc's rules for destinations.

- the destination is an absolute path and does not normalise to `/` (moby's
  linuxValidateAbsolute / linuxValidateNotRoot: "destination can't be '/'");
- nothing is mounted inside /proc (runc's checkProcMount) except onto the few files lxcfs
  emulates (ALLOWED_IN_PROC), and /proc itself takes only a proc mount or a bind of a procfs.

Both the daemon (at create, a 400) and the runtime (config.json validation) check them. The
check here is lexical; the runtime repeats it on the destination it resolved in the rootfs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import posixpath

from dockyard.errors import InvalidParameter

# runc's validProcMounts (libcontainer/rootfs_linux.go, checkProcMount). /proc/net/dev was
# removed from it in 2025: /proc/net is a per-process symlink.
ALLOWED_IN_PROC = frozenset(
    {
        "/proc/cpuinfo",
        "/proc/diskstats",
        "/proc/meminfo",
        "/proc/stat",
        "/proc/swaps",
        "/proc/uptime",
        "/proc/loadavg",
        "/proc/slabinfo",
        "/proc/sys/kernel/ns_last_pid",
        "/proc/sys/crypto/fips_enabled",
    }
)
PROC_SUPER_MAGIC = 0x9FA0
ROOT_ERROR = "invalid specification: destination can't be '/'"


def normalise(dest: str) -> str:
    """The destination as moby cleans it (Go's path.Clean; backslashes read as slashes)."""
    path = posixpath.normpath(dest.replace("\\", "/"))
    if path.startswith("//"):  # POSIX keeps a leading "//", Go's path.Clean does not
        path = "/" + path.lstrip("/")
    return path


def check_not_root(dest: str) -> None:
    """moby's linuxValidateNotRoot."""
    if normalise(dest) == "/":
        raise InvalidParameter(ROOT_ERROR)


def check_absolute(dest: str) -> None:
    """moby's linuxValidateAbsolute."""
    if not dest.replace("\\", "/").startswith("/"):
        raise InvalidParameter(f"invalid mount path: '{dest}' mount path must be absolute")


class _Statfs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 112)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _fs_type(path: str) -> int | None:
    buf = _Statfs()
    if _libc.statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
        return None
    return buf.f_type & 0xFFFFFFFF


def is_procfs(path: str) -> bool:
    """True when `path` (on the host) is on a proc filesystem."""
    return _fs_type(path) == PROC_SUPER_MAGIC


def fd_is_procfs(fd: int) -> bool:
    buf = _Statfs()
    if _libc.fstatfs(fd, ctypes.byref(buf)) != 0:
        return False
    return buf.f_type & 0xFFFFFFFF == PROC_SUPER_MAGIC


def check_resolved(root_fd: int, target_fd: int, kind: str, source: str | None = None) -> None:
    """runc's checkProcMount on the destination as resolved inside the root (after symlinks:
    an image's /x -> /proc/sys makes a bind onto /x one inside /proc). `target_fd` is the
    mount point opened inside the root `root_fd`; the check uses where it really is."""
    root = os.readlink(f"/proc/self/fd/{root_fd}")
    where = os.readlink(f"/proc/self/fd/{target_fd}")
    rel = os.path.relpath(where, root)
    if rel == ".." or rel.startswith("../"):
        raise InvalidParameter(f"mountpoint {where!r} is outside of the rootfs {root!r}")
    dest = "/" + rel if rel != "." else "/"
    if dest == "/":
        raise InvalidParameter(f"mountpoint {where!r} is on the top of the rootfs {root!r}")
    if fd_is_procfs(target_fd) and not (dest == "/proc" or dest.startswith("/proc/")):
        raise InvalidParameter(f'"{dest}" cannot be mounted because it is inside a procfs')
    check_proc(dest, kind, source)


def check_proc(dest: str, kind: str, source: str | None = None) -> None:
    """runc's checkProcMount on a normalised absolute destination. `kind` is the mount type
    ("bind", "proc", "tmpfs", "volume", ...); `source` the host path of a bind, if known."""
    path = normalise(dest)
    if path != "/proc" and not path.startswith("/proc/"):
        return
    if path == "/proc":
        if kind == "proc":
            return
        if kind == "bind" and source is not None and is_procfs(source):
            return
        raise InvalidParameter(f'"{path}" cannot be mounted because it is not of type proc')
    if path in ALLOWED_IN_PROC:
        return
    raise InvalidParameter(f'"{path}" cannot be mounted because it is inside /proc')


def check(dest: str, kind: str, source: str | None = None) -> str:
    """Every rule, in moby's order (not '/', absolute) then runc's (/proc); returns the
    normalised destination."""
    check_not_root(dest)
    check_absolute(dest)
    check_proc(dest, kind, source)
    return normalise(dest)
