"""mount(2) and umount2(2) through ctypes, with mount(8)-style option strings.

The local volume driver mounts `type=tmpfs`, `o=bind` and device volumes with these; the
option string `o` is split into mount flags (ro, nosuid, bind, ...) and the data string the
file system gets, as mount(8) and Docker's local driver do.
"""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# option -> (flags to set, flags to clear)
_FLAGS: dict[str, tuple[int, int]] = {
    "ro": (MS_RDONLY, 0),
    "rw": (0, MS_RDONLY),
    "nosuid": (MS_NOSUID, 0),
    "suid": (0, MS_NOSUID),
    "nodev": (MS_NODEV, 0),
    "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0),
    "exec": (0, MS_NOEXEC),
    "sync": (MS_SYNCHRONOUS, 0),
    "async": (0, MS_SYNCHRONOUS),
    "dirsync": (MS_DIRSYNC, 0),
    "remount": (MS_REMOUNT, 0),
    "mand": (MS_MANDLOCK, 0),
    "nomand": (0, MS_MANDLOCK),
    "atime": (0, MS_NOATIME),
    "noatime": (MS_NOATIME, 0),
    "diratime": (0, MS_NODIRATIME),
    "nodiratime": (MS_NODIRATIME, 0),
    "bind": (MS_BIND, 0),
    "rbind": (MS_BIND | MS_REC, 0),
    "relatime": (MS_RELATIME, 0),
    "norelatime": (0, MS_RELATIME),
    "strictatime": (MS_STRICTATIME, 0),
    "defaults": (0, 0),
}


def parse_options(options: str) -> tuple[int, str]:
    """Split a mount(8) option string into (flags, data) as Docker's mount.ParseOptions does."""
    flags = 0
    data: list[str] = []
    for opt in options.split(","):
        if not opt:
            continue
        if opt in _FLAGS:
            set_, clear = _FLAGS[opt]
            flags = (flags | set_) & ~clear
        else:
            data.append(opt)
    return flags, ",".join(data)


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    """mount(2); raises OSError with the errno."""
    res = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if res != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def unmount(target: str, detach: bool = True) -> None:
    """umount2(2), lazily by default; a target that is not mounted is not an error."""
    res = _libc.umount2(target.encode(), MNT_DETACH if detach else 0)
    if res != 0:
        err = ctypes.get_errno()
        if err in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
            return
        raise OSError(err, f"unmount {target}: {os.strerror(err)}")


def is_mountpoint(path: str) -> bool:
    """True when `path` is listed as a mount point in /proc/self/mountinfo."""
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and _unescape(fields[4]) == real:
                    return True
    except OSError:
        return os.path.ismount(path)
    return False


def _unescape(s: str) -> str:
    return (
        s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
    )
