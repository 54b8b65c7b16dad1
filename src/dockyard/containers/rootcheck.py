"""Refuse at create an image whose root the runtime would refuse at start.

runc (and our runtime, dockyard.linux.pathrs) will not set up a container whose `/dev` or
`/proc` is a symbolic link: it is the way an image reaches host paths while the runtime
builds the container's root. The runtime's refusal comes at start; checked here against the
image's layers, the same image is refused at `create` with a 400 and nothing is made.
"""

from __future__ import annotations

import os
import stat

from dockyard.errors import InvalidParameter

GUARDED = ("dev", "proc")


def _entry(layer: str, name: str) -> os.stat_result | None:
    fd = os.open(layer, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    finally:
        os.close(fd)


def check_image_root(lower_dirs: list[str]) -> None:
    """`lower_dirs`: the image's layer directories, nearest first (overlay's lowerdir)."""
    for name in GUARDED:
        for layer in lower_dirs:
            st = _entry(layer, name)
            if st is None:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                break  # an overlay whiteout: the entry is gone from this layer up
            if stat.S_ISLNK(st.st_mode):
                raise InvalidParameter(
                    f"invalid rootfs: /{name} is a symbolic link in the image "
                    f"(runc refuses it: rootfs /{name} cannot be a symlink)"
                )
            if not stat.S_ISDIR(st.st_mode):
                raise InvalidParameter(f"invalid rootfs: /{name} is not a directory in the image")
            break
