"""Volume copy-up: a new volume filled from the image's directory at its destination, as
Docker fills it. Both sides are walked by directory descriptors (see copy_tree)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator

from dockyard.faults import crash_point

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def copy_tree(src_fd: int, dst_fd: int) -> None:
    """Copy the contents of directory `src_fd` into directory `dst_fd`: files, directories,
    symlinks (as links), fifos and device nodes, with their modes, owners and times (volume
    copy-up, as Docker fills a new volume from the image). Everything is made relative to a
    directory fd with O_EXCL / O_NOFOLLOW, so neither side is followed out of its tree, even
    if another container changes the destination meanwhile: an entry that already exists
    there is left as it is, never written through. The walk keeps its own stack (two
    descriptors a level), so an image's deep tree cannot exhaust Python's recursion."""
    # frames: (source dir fd, destination dir fd, names left, the dir's stat to apply at
    # its end; None for the top, whose descriptors are the caller's)
    stack: list[tuple[int, int, Iterator[str], os.stat_result | None]] = [
        (src_fd, dst_fd, iter(sorted(os.listdir(src_fd))), None)
    ]
    try:
        while stack:
            sfd, dfd, names, dir_st = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                if dir_st is not None:
                    try:
                        os.fchown(dfd, dir_st.st_uid, dir_st.st_gid)
                        os.fchmod(dfd, stat.S_IMODE(dir_st.st_mode))
                        os.utime(dfd, ns=(dir_st.st_atime_ns, dir_st.st_mtime_ns))
                    finally:
                        os.close(sfd)
                        os.close(dfd)
                continue
            try:
                st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            try:
                if stat.S_ISDIR(st.st_mode):
                    os.mkdir(name, 0o700, dir_fd=dfd)
                    sub_src = os.open(name, DIR_FLAGS, dir_fd=sfd)
                    try:
                        sub_dst = os.open(name, DIR_FLAGS, dir_fd=dfd)
                    except BaseException:
                        os.close(sub_src)
                        raise
                    stack.append((sub_src, sub_dst, iter(sorted(os.listdir(sub_src))), st))
                else:
                    _copy_entry(sfd, dfd, name, st)
            except FileExistsError:
                continue
            crash_point("volume.copy_up.entry")
    finally:
        for sfd, dfd, _names, dir_st in stack:
            if dir_st is not None:
                os.close(sfd)
                os.close(dfd)


def _copy_entry(src_fd: int, dst_fd: int, name: str, st: os.stat_result) -> None:
    """One entry that is not a directory."""
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
    elif stat.S_ISREG(st.st_mode):
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        sfd = os.open(name, flags, dir_fd=src_fd)
        try:
            if not stat.S_ISREG(os.fstat(sfd).st_mode):
                return
            wflags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            dfd = os.open(name, wflags, 0o600, dir_fd=dst_fd)
            try:
                with os.fdopen(sfd, "rb", closefd=False) as fin:
                    with os.fdopen(dfd, "wb", closefd=False) as fout:
                        shutil.copyfileobj(fin, fout, 1 << 20)
                os.fchown(dfd, st.st_uid, st.st_gid)
                os.fchmod(dfd, mode)  # after chown, which clears set-id bits
                os.utime(dfd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)
        return
    elif stat.S_ISFIFO(st.st_mode):
        os.mkfifo(name, 0o600, dir_fd=dst_fd)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        os.mknod(name, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev, dir_fd=dst_fd)
    else:
        return  # sockets
    os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_fd, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        # a fifo or a device node just made: chmod by name cannot follow a link (EEXIST
        # would have stopped a planted one), and there is no fchmodat(AT_SYMLINK_NOFOLLOW)
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst_fd)
        try:
            os.chmod(f"/proc/self/fd/{fd}", mode)
            os.utime(f"/proc/self/fd/{fd}", ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd)
