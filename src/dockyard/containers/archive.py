"""`docker cp`, `docker export` and `docker diff` on a container's file system.

Paths are walked inside the container's view (its root plus the volumes and binds mounted on
it) with directory fds, every symlink resolved within that view (containers/scopedfs.py), so
no request reaches outside it, even while a running container changes its files.
"""

from __future__ import annotations

import base64
import errno
import json
import lzma
import os
import posixpath
import stat
import tarfile
import threading
import zlib
from collections.abc import Iterator
from typing import IO, Any

from dockyard.containers import scopedfs
from dockyard.containers.jsonlog import format_time
from dockyard.containers.scopedfs import ScopedFS
from dockyard.errors import InvalidParameter, NotFound
from dockyard.linux import pathrs
from dockyard.snapshots.layer import walk_tree
from dockyard.snapshots.safetar import members, open_tar

# Go's os.FileMode type bits, as X-Docker-Container-Path-Stat reports them.
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27
GO_MODE_DEVICE = 1 << 26
GO_MODE_PIPE = 1 << 25
GO_MODE_SOCKET = 1 << 24
GO_MODE_SETUID = 1 << 23
GO_MODE_SETGID = 1 << 22
GO_MODE_CHARDEV = 1 << 21
GO_MODE_STICKY = 1 << 20


def go_mode(mode: int) -> int:
    out = stat.S_IMODE(mode) & 0o777
    if stat.S_ISDIR(mode):
        out |= GO_MODE_DIR
    elif stat.S_ISLNK(mode):
        out |= GO_MODE_SYMLINK
    elif stat.S_ISCHR(mode):
        out |= GO_MODE_DEVICE | GO_MODE_CHARDEV
    elif stat.S_ISBLK(mode):
        out |= GO_MODE_DEVICE
    elif stat.S_ISFIFO(mode):
        out |= GO_MODE_PIPE
    elif stat.S_ISSOCK(mode):
        out |= GO_MODE_SOCKET
    if mode & stat.S_ISUID:
        out |= GO_MODE_SETUID
    if mode & stat.S_ISGID:
        out |= GO_MODE_SETGID
    if mode & stat.S_ISVTX:
        out |= GO_MODE_STICKY
    return out


class ContainerFS:
    """The container's file system as the host sees it: the root plus its mounts. Every
    operation walks it with directory fds (see scopedfs), safe while the container runs."""

    def __init__(self, rootfs: str, mounts: list[dict[str, Any]]) -> None:
        self.rootfs = rootfs
        self.scoped = ScopedFS(
            rootfs,
            {
                m["Destination"]: m["Source"]
                for m in mounts
                if m["Type"] in ("bind", "volume") and m.get("Source")
            },
        )

    def resolve(self, path: str, follow_last: bool = False) -> str:
        """Host path of container path `path` (the last component unresolved unless asked).
        For display and tests: operations use the fds, never this string."""
        with self.scoped.resolve(path, follow_last) as res:
            host = os.readlink(f"/proc/self/fd/{res.dir_fd}")
            return os.path.join(host, res.name) if res.name else host

    def stat(self, path: str) -> dict[str, Any]:
        try:
            with self.scoped.resolve(path) as res:
                st = scopedfs.lstat(res)
                link = os.readlink(res.name, dir_fd=res.dir_fd) if stat.S_ISLNK(st.st_mode) else ""
        except (FileNotFoundError, NotFound):
            raise NotFound(f"Could not find the file {path} in container") from None
        name = os.path.basename(os.path.normpath(path)) or "/"
        return {
            "name": name,
            "size": st.st_size,
            "mode": go_mode(st.st_mode),
            "mtime": format_time(int(st.st_mtime * 1e9), fixed=False),
            "linkTarget": link,
        }


def stat_header(info: dict[str, Any]) -> str:
    """The X-Docker-Container-Path-Stat header value."""
    return base64.b64encode(json.dumps(info).encode()).decode()


class _Chunks:
    """A write-only file object handing what tarfile writes to a bounded queue."""

    def __init__(self) -> None:
        import queue

        self.queue: queue.Queue[bytes | None | BaseException] = queue.Queue(maxsize=16)

    def write(self, data: bytes) -> int:
        if data:
            self.queue.put(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def _stream_tar(build) -> Iterator[bytes]:
    """Run `build(fileobj)` in a thread; yield what it writes."""
    chunks = _Chunks()

    def worker() -> None:
        try:
            build(chunks)
            chunks.queue.put(None)
        except BaseException as e:  # noqa: BLE001 (handed to the reader)
            chunks.queue.put(e)

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    while True:
        item = chunks.queue.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def tar_path(fs: ContainerFS, path: str) -> Iterator[bytes]:
    """GET archive: a tar of `path` named by its base name ("dir/." gives the contents)."""
    contents_only = path.endswith("/.")
    name = "." if contents_only else (os.path.basename(os.path.normpath(path)) or ".")
    try:
        res = fs.scoped.resolve(path)
    except NotFound:
        raise NotFound(f"Could not find the file {path} in container") from None
    try:
        scopedfs.lstat(res)
    except FileNotFoundError:
        res.close()
        raise NotFound(f"Could not find the file {path} in container") from None

    def build(out: IO[bytes]) -> None:
        try:
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                _add_entry(tar, res.dir_fd, res.name, name)
        finally:
            res.close()

    return _stream_tar(build)


_TAR_TYPES = {
    stat.S_IFREG: tarfile.REGTYPE,
    stat.S_IFDIR: tarfile.DIRTYPE,
    stat.S_IFLNK: tarfile.SYMTYPE,
    stat.S_IFCHR: tarfile.CHRTYPE,
    stat.S_IFBLK: tarfile.BLKTYPE,
    stat.S_IFIFO: tarfile.FIFOTYPE,
}


def _add_entry(tar: tarfile.TarFile, dir_fd: int, name: str | None, arcname: str) -> None:
    """Add entry `name` of directory `dir_fd` (the directory itself if None), and everything
    below it, depth first, opening every file and directory relative to its parent's fd and
    never following a link. Iterative: a tree of any depth (one fd per level)."""
    stack: list[tuple[int, str, list[str]]] = []
    try:
        sub = _add_one(tar, dir_fd, name, arcname)
        if sub is not None:
            stack.append((sub, arcname, sorted(os.listdir(sub), reverse=True)))
        while stack:
            fd, arc, names = stack[-1]
            if not names:
                stack.pop()
                os.close(fd)
                continue
            entry = names.pop()
            child = f"{arc}/{entry}" if arc != "." else entry
            sub = _add_one(tar, fd, entry, child)
            if sub is not None:
                stack.append((sub, child, sorted(os.listdir(sub), reverse=True)))
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def _add_one(tar: tarfile.TarFile, dir_fd: int, name: str | None, arcname: str) -> int | None:
    """Add one entry; for a directory, its header, and return its fd (the caller closes it)."""
    try:
        st = (
            os.fstat(dir_fd)
            if name is None
            else os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        )
    except FileNotFoundError:
        return None  # removed since the listing
    kind = _TAR_TYPES.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        return None  # sockets: skipped, as tar does
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    info.type = kind
    inode = (st.st_ino, st.st_dev)
    if kind == tarfile.REGTYPE and st.st_nlink > 1:
        if inode in tar.inodes and tar.inodes[inode] != arcname:
            info.type, info.linkname = tarfile.LNKTYPE, tar.inodes[inode]
            tar.addfile(info)
            return None
        tar.inodes[inode] = arcname
    if kind == tarfile.SYMTYPE:
        assert name is not None
        try:
            info.linkname = os.readlink(name, dir_fd=dir_fd)
        except OSError:
            return None  # replaced or removed since the stat
    elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    if kind == tarfile.REGTYPE:
        assert name is not None
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd
            )
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOENT):
                return None  # replaced by a link, or removed, since the stat
            raise
        with os.fdopen(fd, "rb") as f:
            now = os.fstat(fd)
            if not stat.S_ISREG(now.st_mode):
                return None  # replaced since the stat
            info.size = now.st_size
            tar.addfile(info, _Exactly(f, now.st_size))
        return None
    if kind == tarfile.DIRTYPE:
        sub = os.dup(dir_fd) if name is None else _open_subdir(dir_fd, name)
        if sub is not None:
            tar.addfile(info)
        return sub
    tar.addfile(info)
    return None


def _open_subdir(dir_fd: int, name: str) -> int | None:
    try:
        return os.open(name, scopedfs.DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
            return None  # replaced or removed since the stat
        raise


class _Exactly:
    """A file read as exactly `size` bytes (zero-padded if it shrank while being read), so a
    file that changes during the copy cannot corrupt the tar stream."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self._f = f
        self._left = size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n) or b""
        data = data + b"\0" * (n - len(data))
        self._left -= len(data)
        return data


def export(rootfs: str) -> Iterator[bytes]:
    """`docker export`: the container's root file system as a tar stream."""

    def build(out: IO[bytes]) -> None:
        root = os.open(rootfs, scopedfs.DIR_FLAGS)
        try:
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for entry in sorted(os.listdir(root)):
                    _add_entry(tar, root, entry, entry)
        finally:
            os.close(root)

    return _stream_tar(build)


def _safe_member_name(name: str) -> list[str]:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise InvalidParameter(f"invalid archive member name: {name!r} (outside the target)")
    return parts


def extract(
    fs: ContainerFS,
    path: str,
    stream: IO[bytes],
    no_overwrite_dir_non_dir: bool = False,
    copy_uid_gid: bool = False,
) -> None:
    """PUT archive: unpack a tar into directory `path`, never writing outside the container.
    Every member's parent is walked from the container's root with directory fds, and the
    member made relative to that fd (mkdirat, openat O_EXCL|O_NOFOLLOW, symlinkat, ...)."""
    try:
        with fs.scoped.resolve(path, follow_last=True) as dest:
            dest_path = dest.path
    except NotFound:
        raise NotFound(f"Could not find the file {path} in container") from None
    except InvalidParameter:
        raise InvalidParameter(f"extraction point is not a directory: {path}") from None
    try:
        tar = open_tar(stream, mode="r|*")
    except tarfile.TarError as e:
        raise InvalidParameter(f"invalid tar archive: {e}") from None
    try:
        with tar:
            for m in members(tar):  # one member in memory at a time
                parts = _safe_member_name(m.name)
                if not parts:
                    continue
                with fs.scoped.walk_dir(parts[:-1], create=True, start=dest_path) as parent:
                    _extract_member(fs, tar, m, parent.dir_fd, parts[-1], dest_path,
                                    no_overwrite_dir_non_dir, copy_uid_gid)  # fmt: skip
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise InvalidParameter(f"invalid tar archive: {e}") from None


def _extract_member(
    fs: ContainerFS,
    tar: tarfile.TarFile,
    m: tarfile.TarInfo,
    pfd: int,
    name: str,
    dest_path: str,
    no_overwrite_dir_non_dir: bool,
    copy_uid_gid: bool,
) -> None:
    try:
        existing: os.stat_result | None = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    is_dir = existing is not None and stat.S_ISDIR(existing.st_mode)
    if existing is not None and no_overwrite_dir_non_dir and is_dir != m.isdir():
        raise InvalidParameter(
            f"cannot overwrite {'directory' if is_dir else 'non-directory'} "
            f"{posixpath.join(dest_path, m.name)} with {'non-' if is_dir else ''}directory"
        )
    uid, gid = (m.uid, m.gid) if copy_uid_gid else (0, 0)
    mode = m.mode & 0o7777
    if m.isdir():
        if existing is not None and not is_dir:
            os.unlink(name, dir_fd=pfd)
        if not is_dir:
            os.mkdir(name, 0o700, dir_fd=pfd)
        fd = _open_subdir(pfd, name)
        if fd is None:
            raise InvalidParameter(f"{name} changed while it was being extracted")
        try:
            os.fchmod(fd, mode)
            os.fchown(fd, uid, gid)
            os.utime(fd, (m.mtime, m.mtime))
        finally:
            os.close(fd)
        return
    if existing is not None:
        _remove_at(pfd, name, is_dir)
    if m.isreg():
        src = tar.extractfile(m)
        fd = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
            dir_fd=pfd,
        )  # fmt: skip
        with os.fdopen(fd, "wb") as f:
            while True:
                chunk = src.read(1 << 20) if src else b""
                if not chunk:
                    break
                f.write(chunk)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)  # after chown, which clears set-id bits
            os.utime(fd, (m.mtime, m.mtime))
        return
    if m.issym():
        os.symlink(m.linkname, name, dir_fd=pfd)
        os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
        return
    if m.islnk():
        lparts = _safe_member_name(m.linkname)
        if not lparts:
            raise InvalidParameter(f"invalid hard link target: {m.linkname!r}")
        with fs.scoped.walk_dir(lparts[:-1], start=dest_path) as src_dir:
            os.link(lparts[-1], name, src_dir_fd=src_dir.dir_fd, dst_dir_fd=pfd,
                    follow_symlinks=False)  # fmt: skip
        return
    if m.ischr() or m.isblk() or m.isfifo():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
        os.mknod(name, kind | mode, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
        os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
        os.utime(name, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)


def _remove_at(dir_fd: int, name: str, is_dir: bool) -> None:
    if is_dir:
        import shutil

        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


# What Docker keeps in a container's "-init" layer, not in its own: never in `docker diff`.
INIT_LAYER_PATHS = frozenset(
    {
        "/dev/pts",
        "/dev/shm",
        "/dev/console",
        "/proc",
        "/sys",
        "/.dockerenv",
        "/etc/resolv.conf",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/mtab",
    }
)


def changes(upper: str, lowers: list[str]) -> list[dict[str, Any]]:
    """`docker diff` from the overlay upper directory: Kind 0 modified, 1 added, 2 deleted.

    Mount points the engine made for the init layer's files are left out, and so is a
    directory that is only in the upper layer because of them. The upper directory is read
    through directory fds (snapshots.layer.walk_tree): a running container that swaps a
    directory for a symlink meanwhile cannot make the walk list anything of the host."""
    out: dict[str, int] = {}
    dirs: set[str] = set()

    def in_lower(rel: str) -> bool:
        # looked up in each layer without following its links: a layer's `/a -> /etc`
        # must not make the host's /etc/passwd count as the image's /a/passwd
        return any(pathrs.lstat_beneath(lo, rel) is not None for lo in lowers)

    top = os.open(upper, scopedfs.DIR_FLAGS)
    try:
        for rel_dir, _fd, entries in walk_tree(top):
            base = "/" if rel_dir == "." else "/" + rel_dir
            for name, st in entries:
                rel = posixpath.join(base, name)
                if rel in INIT_LAYER_PATHS:
                    continue
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    out[rel] = 2  # an overlay whiteout
                    continue
                if stat.S_ISDIR(st.st_mode):
                    dirs.add(rel)
                out[rel] = 0 if in_lower(rel) else 1
    finally:
        os.close(top)
    for rel in [p for p, k in out.items() if k == 0]:
        if rel in dirs:
            prefix = rel.rstrip("/") + "/"
            held = [i for i in INIT_LAYER_PATHS if i.startswith(prefix)]
            if held and not any(p.startswith(prefix) for p in out):
                del out[rel]  # only there to hold init-layer mount points
    return [{"Path": p, "Kind": k} for p, k in sorted(out.items())]
