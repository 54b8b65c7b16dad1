"""Mount descriptions (as containerd returns them) and the mount(2)/umount2(2) calls."""

from __future__ import annotations

import ctypes
import os
import re
from dataclasses import dataclass, field

from ..errors import SystemError_

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2

_FLAGS = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "bind": MS_BIND,
    "rbind": MS_BIND | MS_REC,
}
_CLEAR = {"rw": MS_RDONLY, "suid": MS_NOSUID, "dev": MS_NODEV, "exec": MS_NOEXEC}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    rc = _libc.mount(
        os.fsencode(source),
        os.fsencode(target),
        os.fsencode(fstype) if fstype else None,
        flags,
        os.fsencode(data) if data else None,
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise SystemError_(
            f"mount {source} on {target} ({fstype or 'bind'}, {data!r}): {os.strerror(err)}"
        )


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
        else:
            _mount(self.source, target, self.type, flags, data)

    def to_dict(self) -> dict:
        return {"Type": self.type, "Source": self.source, "Options": list(self.options)}


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
    rc = _libc.umount2(os.fsencode(target), MNT_DETACH if detach else 0)
    if rc != 0:
        err = ctypes.get_errno()
        if err == 16 and not detach:  # EBUSY
            unmount(target, detach=True)
            return
        raise SystemError_(f"umount {target}: {os.strerror(err)}")


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
