"""`docker cp`, `docker export` and `docker diff` on a container's file system.

Paths are resolved inside the container's root (or inside the volume or bind mounted at that
place), every symlink resolved within that root, so no request reaches outside it.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import tarfile
import threading
from collections.abc import Iterator
from typing import IO, Any

from dockyard.containers.jsonlog import format_time
from dockyard.errors import InvalidParameter, NotFound
from dockyard.runtime.user import resolve_in_root

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
    """The container's file system as the host sees it: the root plus its mounts."""

    def __init__(self, rootfs: str, mounts: list[dict[str, Any]]) -> None:
        self.rootfs = rootfs
        # (destination, host source) for binds and volumes, longest first
        self.mounts = sorted(
            (
                (m["Destination"], m["Source"])
                for m in mounts
                if m["Type"] in ("bind", "volume") and m.get("Source")
            ),
            key=lambda m: len(m[0]),
            reverse=True,
        )

    def _root_for(self, path: str) -> tuple[str, str]:
        norm = "/" + os.path.normpath(path).lstrip("/")
        for dest, source in self.mounts:
            if norm == dest or norm.startswith(dest.rstrip("/") + "/"):
                return source, norm[len(dest) :] or "/"
        return self.rootfs, norm

    def resolve(self, path: str, follow_last: bool = False) -> str:
        """Host path of container path `path` (the last component unresolved unless asked)."""
        if not path.startswith("/"):
            path = "/" + path
        trailing = path.endswith("/") or path.endswith("/.")
        norm = "/" + os.path.normpath(path).lstrip("/")
        parent, base = os.path.split(norm)
        if base in ("", "/") or follow_last or trailing:
            root, rel = self._root_for(norm)
            return resolve_in_root(root, rel)
        root, rel = self._root_for(parent)
        host_parent = resolve_in_root(root, rel)
        full = os.path.join(host_parent, base)
        # a mount point inside the parent directory: the mount itself
        for dest, source in self.mounts:
            if os.path.normpath(os.path.join(parent, base)) == dest:
                return source
        return full

    def stat(self, path: str) -> dict[str, Any]:
        host = self.resolve(path)
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            raise NotFound(f"Could not find the file {path} in container") from None
        link = ""
        if stat.S_ISLNK(st.st_mode):
            link = os.readlink(host)
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
    host = fs.resolve(path)
    if not os.path.lexists(host):
        raise NotFound(f"Could not find the file {path} in container")
    contents_only = path.endswith("/.")
    name = "." if contents_only else (os.path.basename(os.path.normpath(path)) or ".")

    def build(out: IO[bytes]) -> None:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _add_tree(tar, host, name)

    return _stream_tar(build)


def _add_tree(tar: tarfile.TarFile, host: str, name: str) -> None:
    info = tar.gettarinfo(host, arcname=name)
    info.uname = info.gname = ""
    if info.isreg():
        with open(host, "rb") as f:
            tar.addfile(info, f)
        return
    if info.isdir():
        tar.addfile(info)
        for entry in sorted(os.listdir(host)):
            _add_tree(tar, os.path.join(host, entry), f"{name}/{entry}" if name != "." else entry)
        return
    tar.addfile(info)


def export(rootfs: str) -> Iterator[bytes]:
    """`docker export`: the container's root file system as a tar stream."""

    def build(out: IO[bytes]) -> None:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for entry in sorted(os.listdir(rootfs)):
                _add_tree(tar, os.path.join(rootfs, entry), entry)

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
    """PUT archive: unpack a tar into directory `path`, never writing outside the container."""
    dest = fs.resolve(path, follow_last=True)
    if not os.path.exists(dest):
        raise NotFound(f"Could not find the file {path} in container")
    if not os.path.isdir(dest):
        raise InvalidParameter(f"extraction point is not a directory: {path}")
    try:
        tar = tarfile.open(fileobj=stream, mode="r|*")
    except tarfile.TarError as e:
        raise InvalidParameter(f"invalid tar archive: {e}") from None
    with tar:
        for m in tar:
            parts = _safe_member_name(m.name)
            if not parts:
                continue
            rel = os.path.join(path, *parts)
            parent = fs.resolve(os.path.dirname(rel) or "/", follow_last=True)
            os.makedirs(parent, exist_ok=True)
            target = os.path.join(parent, parts[-1])
            _check_inside(fs, target)
            existing = os.path.lexists(target)
            if existing and no_overwrite_dir_non_dir:
                is_dir = os.path.isdir(target) and not os.path.islink(target)
                if is_dir != m.isdir():
                    raise InvalidParameter(
                        f"cannot overwrite {'directory' if is_dir else 'non-directory'} "
                        f"{rel} with {'non-' if is_dir else ''}directory"
                    )
            if m.isdir():
                if existing and not (os.path.isdir(target) and not os.path.islink(target)):
                    os.unlink(target)
                os.makedirs(target, exist_ok=True)
                os.chmod(target, m.mode & 0o7777)
            elif m.isreg():
                if existing:
                    _remove(target)
                src = tar.extractfile(m)
                fd = os.open(
                    target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, m.mode & 0o7777
                )
                with os.fdopen(fd, "wb") as f:
                    while True:
                        chunk = src.read(1 << 20) if src else b""
                        if not chunk:
                            break
                        f.write(chunk)
                os.chmod(target, m.mode & 0o7777)
            elif m.issym():
                if existing:
                    _remove(target)
                os.symlink(m.linkname, target)
            elif m.islnk():
                if existing:
                    _remove(target)
                lparts = _safe_member_name(m.linkname)
                src = fs.resolve(os.path.join(path, *lparts), follow_last=False)
                _check_inside(fs, src)
                os.link(src, target, follow_symlinks=False)
            elif m.ischr() or m.isblk() or m.isfifo():
                if existing:
                    _remove(target)
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
                os.mknod(target, kind | (m.mode & 0o7777), os.makedev(m.devmajor, m.devminor))
            else:
                continue
            uid, gid = (m.uid, m.gid) if copy_uid_gid else (0, 0)
            os.lchown(target, uid, gid)
            if not m.issym():
                os.utime(target, (m.mtime, m.mtime), follow_symlinks=False)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        import shutil

        shutil.rmtree(path)
    else:
        os.unlink(path)


def _check_inside(fs: ContainerFS, host_path: str) -> None:
    roots = [os.path.realpath(fs.rootfs)] + [os.path.realpath(s) for _, s in fs.mounts]
    real_parent = os.path.realpath(os.path.dirname(host_path))
    if not any(real_parent == r or real_parent.startswith(r.rstrip("/") + "/") for r in roots):
        raise InvalidParameter(f"path {host_path} is outside the container")


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
    directory that is only in the upper layer because of them."""
    out: dict[str, int] = {}

    def in_lower(rel: str) -> bool:
        return any(os.path.lexists(os.path.join(lo, rel.lstrip("/"))) for lo in lowers)

    for dirpath, dirnames, filenames in os.walk(upper):
        rel_dir = "/" + os.path.relpath(dirpath, upper) if dirpath != upper else "/"
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.join(rel_dir, name)
            if rel in INIT_LAYER_PATHS:
                continue
            st = os.lstat(full)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out[rel] = 2  # an overlay whiteout
                continue
            out[rel] = 0 if in_lower(rel) else 1
    for rel in [p for p, k in out.items() if k == 0]:
        full = os.path.join(upper, rel.lstrip("/"))
        if os.path.isdir(full) and not os.path.islink(full):
            prefix = rel.rstrip("/") + "/"
            held = [i for i in INIT_LAYER_PATHS if i.startswith(prefix)]
            if held and not any(p.startswith(prefix) for p in out):
                del out[rel]  # only there to hold init-layer mount points
    return [{"Path": p, "Kind": k} for p, k in sorted(out.items())]
