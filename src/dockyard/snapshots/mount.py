"""Mount descriptions (as containerd returns them) and how to mount and unmount them.

The system calls themselves are runtime/syscalls.py's; this module turns their OSError into
SystemError_ and knows overlay's option strings.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
from dataclasses import dataclass, field

from ..errors import SystemError_
from ..runtime import syscalls
from ..runtime.syscalls import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
)

_FLAGS = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "bind": MS_BIND,
    "rbind": MS_BIND | MS_REC,
}
_CLEAR = {"rw": MS_RDONLY, "suid": MS_NOSUID, "dev": MS_NODEV, "exec": MS_NOEXEC}


def _mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    try:
        syscalls.mount(source, target, fstype or None, flags, data or None)
    except OSError as e:
        raise SystemError_(
            f"mount {source} on {target} ({fstype or 'bind'}, {data!r}): {os.strerror(e.errno)}"
        ) from None


@dataclass
class Mount:
    """One mount: `type` (overlay, bind, ...), `source` and options like mount(8) takes."""

    type: str
    source: str
    options: list[str] = field(default_factory=list)

    def flags_and_data(self) -> tuple[int, str]:
        flags = 0
        data: list[str] = []
        for opt in self.options:
            if opt in _FLAGS:
                flags |= _FLAGS[opt]
            elif opt in _CLEAR:
                flags &= ~_CLEAR[opt]
            else:
                data.append(opt)
        if self.type == "bind":
            flags |= MS_BIND
        return flags, ",".join(data)

    def mount(self, target: str) -> None:
        """Mount on `target` (a directory). A read-only bind is a bind plus a remount."""
        flags, data = self.flags_and_data()
        if flags & MS_BIND:
            _mount(self.source, target, "", flags & (MS_BIND | MS_REC), data)
            if flags & ~(MS_BIND | MS_REC):
                _mount("", target, "", flags | MS_REMOUNT, data)
        elif self.type == "overlay" and len(data) >= _PAGE_DATA_MAX:
            _mount_overlay_fsconfig(target, flags, [o for o in self.options if o not in _FLAGS])
        else:
            _mount(self.source, target, self.type, flags, data)

    def to_dict(self) -> dict:
        return {"Type": self.type, "Source": self.source, "Options": list(self.options)}


# mount(2) data is one page: longer overlay option strings (many layers) go through the
# new mount API, which takes each lower directory on its own ("lowerdir+", Linux 6.8+)
_PAGE_DATA_MAX = os.sysconf("SC_PAGE_SIZE") - 1
_SYS_MOVE_MOUNT, _SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 429, 430, 431, 432
_FSCONFIG_SET_FLAG, _FSCONFIG_SET_STRING, _FSCONFIG_CMD_CREATE = 0, 1, 6
_MOUNT_ATTR_RDONLY, _MOVE_MOUNT_F_EMPTY_PATH, _AT_FDCWD = 0x1, 0x4, -100


def _syscall(nr: int, *args: object, what: str) -> int:
    try:
        return syscalls.syscall(nr, *args, what=what)
    except OSError as e:
        raise SystemError_(f"{what}: {os.strerror(e.errno)}") from None


def _mount_overlay_fsconfig(target: str, flags: int, options: list[str]) -> None:
    c_str, c_int, c_uint = ctypes.c_char_p, ctypes.c_int, ctypes.c_uint
    fs = _syscall(_SYS_FSOPEN, c_str(b"overlay"), c_uint(1), what="fsopen overlay")
    try:
        for opt in options:
            key, eq, value = opt.partition("=")
            if key == "rw":
                continue
            if not eq:
                _syscall(
                    _SYS_FSCONFIG,
                    c_int(fs),
                    c_uint(_FSCONFIG_SET_FLAG),
                    c_str(key.encode()),
                    None,
                    c_int(0),
                    what=f"overlay option {key}",
                )
                continue
            values = value.split(":") if key == "lowerdir" else [value]
            name = b"lowerdir+" if key == "lowerdir" else key.encode()
            for v in values:
                _syscall(
                    _SYS_FSCONFIG,
                    c_int(fs),
                    c_uint(_FSCONFIG_SET_STRING),
                    c_str(name),
                    c_str(os.fsencode(v)),
                    c_int(0),
                    what=f"overlay option {key}={v}",
                )
        _syscall(
            _SYS_FSCONFIG,
            c_int(fs),
            c_uint(_FSCONFIG_CMD_CREATE),
            None,
            None,
            c_int(0),
            what="overlay create",
        )
        attrs = _MOUNT_ATTR_RDONLY if flags & MS_RDONLY else 0
        mnt = _syscall(_SYS_FSMOUNT, c_int(fs), c_uint(1), c_uint(attrs), what="fsmount")
        try:
            _syscall(
                _SYS_MOVE_MOUNT,
                c_int(mnt),
                c_str(b""),
                c_int(_AT_FDCWD),
                c_str(os.fsencode(target)),
                c_uint(_MOVE_MOUNT_F_EMPTY_PATH),
                what=f"move_mount overlay to {target}",
            )
        finally:
            os.close(mnt)
    finally:
        os.close(fs)


def mount_all(mounts: list[Mount], target: str) -> None:
    """Mount every mount on `target` in order (snapshotters return one mount)."""
    done = 0
    try:
        for m in mounts:
            m.mount(target)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target)
        raise


def unmount(target: str, detach: bool = False) -> None:
    """Unmount `target`; on EBUSY fall back to a lazy (detached) unmount."""
    try:
        syscalls.umount2(target, MNT_DETACH if detach else 0)
    except OSError as e:
        if e.errno == errno.EBUSY and not detach:
            unmount(target, detach=True)
            return
        raise SystemError_(f"umount {target}: {os.strerror(e.errno)}") from None


def is_mountpoint(target: str) -> bool:
    """Is something mounted on `target`? (Also bind mounts from the same file system.)"""
    path = os.path.realpath(target)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            point = line.split(" ", 5)[4]
            if "\\" in point:
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point)
            if point == path:
                return True
    return False


def unmount_all(target: str) -> None:
    """Unmount every mount stacked on `target` (ignores a target that is not mounted)."""
    while is_mountpoint(target):
        unmount(target)
