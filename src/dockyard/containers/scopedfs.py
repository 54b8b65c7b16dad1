"""Path walks in a container's file system that a running container cannot redirect.

The container's view is its root directory plus the binds and volumes mounted on it. A path
is walked one component at a time from a directory fd (`openat` with O_NOFOLLOW), symlinks
are read and followed *inside* that view as a chroot would (an absolute target restarts at
the container's root, `..` never climbs above it), and a mount destination switches to the
mount's source. No step goes through a host path string that the container could change
between a check and a use (the CVE-2018-15664 class of races in `docker cp`): a directory
swapped for a symlink during a walk makes the open fail, never leave the root.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from dataclasses import dataclass

from dockyard.errors import InvalidParameter, NotFound

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_LINK_HOPS = 40  # Linux's MAXSYMLINKS: a loop is an error after 40 links


@dataclass
class Resolved:
    """A walked path: the directory fd holding the entry and the entry's name, or (name is
    None) the directory itself (the root or a mount's root). The caller closes `dir_fd`."""

    dir_fd: int
    name: str | None
    path: str  # the container path reached (symlinks resolved)

    def close(self) -> None:
        os.close(self.dir_fd)

    def __enter__(self) -> Resolved:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split_path(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


class ScopedFS:
    """A container's root directory and mounts (destination -> host source)."""

    def __init__(self, rootfs: str, mounts: dict[str, str]) -> None:
        self.rootfs = rootfs
        self.mounts = {posixpath.normpath("/" + d.lstrip("/")): s for d, s in mounts.items()}

    def _open_mount(self, dest: str) -> int:
        # The source is a host path the daemon chose (volume) or the user gave (bind).
        return os.open(self.mounts[dest], DIR_FLAGS)

    def walk_dir(self, parts: list[str], create: bool = False, start: str = "/") -> Resolved:
        """The directory at `start` + `parts`, every symlink followed inside the container;
        missing directories are made (0755) when `create`. NotFound, or InvalidParameter when
        a component is not a directory."""
        stack: list[tuple[str, int]] = []
        pending = split_path(start) + list(parts)
        hops = 0
        stack.append(("/", os.open(self.rootfs, DIR_FLAGS)))
        try:
            while pending:
                comp = pending.pop(0)
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if len(stack) > 1:
                        os.close(stack.pop()[1])
                    continue
                cpath, cur = stack[-1]
                child = posixpath.join(cpath, comp)
                if child in self.mounts:
                    stack.append((child, self._open_mount(child)))
                    continue
                try:
                    st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        raise NotFound(f"Could not find the file {child} in container") from None
                    _mkdir(comp, cur)
                    st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    hops += 1
                    if hops > _MAX_LINK_HOPS:
                        raise InvalidParameter(f"too many levels of symbolic links at {child}")
                    try:
                        target = os.readlink(comp, dir_fd=cur)
                    except OSError as exc:
                        if exc.errno not in (errno.EINVAL, errno.ENOENT):
                            raise
                        pending.insert(0, comp)  # no longer a symlink: look again
                        continue
                    if target.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop()[1])
                    pending[:0] = split_path(target)
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    raise InvalidParameter(f"{child} is not a directory")
                stack.append((child, _open_dir(comp, cur, child)))
            cpath, fd = stack.pop()
            return Resolved(fd, None, cpath)
        finally:
            for _, fd in stack:
                os.close(fd)

    def resolve(self, path: str, follow_last: bool = False, create: bool = False) -> Resolved:
        """Walk container path `path`: its parent directory and its last name (unresolved
        unless `follow_last` or the path ends in "/" or "/."), or the directory itself."""
        parts = split_path(path)
        trailing = path.endswith("/") or path.endswith("/.")
        if not parts or follow_last or trailing or parts[-1] == "..":
            return self.walk_dir(parts, create)
        parent = self.walk_dir(parts[:-1], create)
        child = posixpath.join(parent.path, parts[-1])
        if child in self.mounts:
            parent.close()
            return Resolved(self._open_mount(child), None, child)
        return Resolved(parent.dir_fd, parts[-1], child)


def _open_dir(name: str, dir_fd: int, cpath: str) -> int:
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            # swapped for a symlink or a file since the stat: refuse, never follow
            raise InvalidParameter(f"{cpath} changed while it was being resolved") from None
        if exc.errno == errno.ENOENT:
            raise NotFound(f"Could not find the file {cpath} in container") from None
        raise


def _mkdir(name: str, dir_fd: int) -> None:
    try:
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    except FileExistsError:
        pass


def lstat(res: Resolved) -> os.stat_result:
    """The entry's own stat (a symlink's, not its target's); FileNotFoundError if missing."""
    if res.name is None:
        return os.fstat(res.dir_fd)
    return os.stat(res.name, dir_fd=res.dir_fd, follow_symlinks=False)
