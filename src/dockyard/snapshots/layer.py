"""Applying OCI layer tarballs into a snapshot directory safely, and diffing one out.

`apply_layer` walks the tar member by member (never `extractall`). Every path is cleaned
lexically (a name or hard-link target that climbs above the root is refused, as Docker
refuses it) and then resolved component by component from a directory fd with
O_NOFOLLOW: a symlink met on the way is followed *inside* the target (like a chroot), so
nothing the layer contains can make us write outside the target directory.

The target directory is used as an overlayfs lower/upper directory, so OCI whiteouts
become overlay whiteouts: `.wh.NAME` -> a 0/0 character device NAME, `.wh..wh..opq` -> the
`trusted.overlay.opaque=y` xattr on its directory. `diff` converts back.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import InvalidParameter
from .safetar import members, open_tar

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_MAX_LINK_HOPS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# errors that a malformed entry (not the system) causes: the layer is refused
_BAD_ENTRY_ERRNOS = {
    errno.ENOENT,
    errno.EEXIST,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ELOOP,
    errno.EINVAL,
    errno.ENAMETOOLONG,
    errno.ENOTEMPTY,
    errno.EMLINK,
}
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class LayerError(InvalidParameter):
    """A layer tarball that is malformed or tries to escape its snapshot."""


@dataclass
class AppliedLayer:
    diff_id: str  # sha256 of the uncompressed tar
    size: int  # bytes of regular file content unpacked
    tar_size: int  # bytes of the uncompressed tar


class _Prefixed(io.RawIOBase):
    """A stream with some bytes already read from it put back in front."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(b))
        b[: len(data)] = data
        return len(data)


class _Hashing(io.RawIOBase):
    """Reads through `stream`, hashing and counting what passes."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.hash = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self._stream.read(len(b))
        self.hash.update(data)
        self.count += len(data)
        b[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def decompressed(stream: BinaryIO) -> BinaryIO:
    """The uncompressed bytes of a gzip, bzip2, xz, zstd (with `zstandard`) or plain stream."""
    head = b""
    while len(head) < 4:
        chunk = stream.read(4 - len(head))
        if not chunk:
            break
        head += chunk
    raw = io.BufferedReader(_Prefixed(head, stream), 1 << 16)
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        import bz2

        return bz2.BZ2File(raw, "rb")  # type: ignore[return-value]
    if head.startswith(b"\xfd7zX"):
        import lzma

        return lzma.LZMAFile(raw, "rb")  # type: ignore[return-value]
    if head.startswith(_ZSTD_MAGIC):
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            raise LayerError("zstd-compressed layers need the zstandard module") from None
        return zstandard.ZstdDecompressor().stream_reader(raw)  # type: ignore[no-any-return]
    return raw  # type: ignore[return-value]


def clean_name(name: str) -> str:
    """A member name made relative to the root and cleaned; '.' is the root itself.

    Raises LayerError when the cleaned name climbs above the root.
    """
    cleaned = posixpath.normpath("/" + name)
    # normpath keeps a leading '//' and never lets '..' climb above '/', so check raw parts
    depth = 0
    for part in name.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                raise LayerError(f"{name!r} is outside of the layer root")
        elif part not in ("", "."):
            depth += 1
    rel = cleaned.lstrip("/")
    return rel or "."


class _Root:
    """Scoped path resolution under a root directory fd (the securejoin idea, with fds)."""

    _CACHE_SIZE = 64

    def __init__(self, root: str | int) -> None:
        # a path we trust, or the fd of a directory already resolved (dup'ed: ours to close)
        self.fd = os.dup(root) if isinstance(root, int) else os.open(root, _DIR_FLAGS)
        # resolved directories by cleaned relative path; valid while nothing is removed
        self._cache: OrderedDict[str, int] = OrderedDict()

    def close(self) -> None:
        self.invalidate()
        os.close(self.fd)

    def invalidate(self) -> None:
        """Forget resolved directories (after anything was removed or replaced)."""
        while self._cache:
            os.close(self._cache.popitem()[1])

    def open_dir(self, rel: str, create: bool) -> int:
        """An fd of directory `rel` (relative, cleaned), symlinks followed inside the root.

        Missing directories are created (0755) when `create`. The caller closes the fd.
        """
        return os.dup(self._get(posixpath.normpath(rel) if rel else ".", create))

    def _get(self, rel: str, create: bool) -> int:
        """A cache-owned fd of `rel`; the common case costs one open per directory."""
        if rel in (".", ""):
            return self.fd
        fd = self._cache.get(rel)
        if fd is not None:
            self._cache.move_to_end(rel)
            return fd
        parent, name = posixpath.split(rel)
        if name in ("..", "."):
            fd = self._resolve(rel, create)
        else:
            pfd = self._get(parent or ".", create)
            try:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(name, 0o755, dir_fd=pfd)
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                fd = self._resolve(rel, create)
            elif stat.S_ISDIR(st.st_mode):
                fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
            else:
                raise LayerError(f"{rel!r}: a parent is not a directory")
        self._cache[rel] = fd
        if len(self._cache) > self._CACHE_SIZE:
            os.close(self._cache.popitem(last=False)[1])
        return fd

    def _resolve(self, rel: str, create: bool) -> int:
        """Resolve `rel` component by component from the root, following symlinks inside."""
        stack: list[int] = []
        pending = [p for p in rel.split("/") if p not in ("", ".")]
        hops = 0
        try:
            while pending:
                comp = pending.pop(0)
                cur = stack[-1] if stack else self.fd
                if comp == "..":
                    if stack:
                        os.close(stack.pop())
                    continue
                try:
                    st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(comp, 0o755, dir_fd=cur)
                    st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    hops += 1
                    if hops > _MAX_LINK_HOPS:
                        raise LayerError(f"too many levels of symbolic links in {rel!r}")
                    target = os.readlink(comp, dir_fd=cur)
                    if target.startswith("/"):
                        while stack:
                            os.close(stack.pop())
                    pending[:0] = [p for p in target.split("/") if p not in ("", ".")]
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    raise LayerError(f"{rel!r}: a parent is not a directory")
                stack.append(os.open(comp, _DIR_FLAGS, dir_fd=cur))
            result = os.dup(stack[-1] if stack else self.fd)
        finally:
            for fd in stack:
                os.close(fd)
        return result

    def locate(self, rel: str) -> tuple[int, str | None]:
        """Resolve `rel` inside the root, a symlink in the last component followed too (at
        most _MAX_LINK_HOPS links in all): the fd of the directory holding the entry and its
        name, or (fd, None) for a directory reached by `..` or the root. FileNotFoundError
        if it is missing, LayerError for a loop or a non-directory on the way. The caller
        closes the fd."""
        stack: list[int] = []
        pending = [p for p in rel.split("/") if p not in ("", ".")]
        hops = 0
        try:
            while pending:
                comp = pending.pop(0)
                cur = stack[-1] if stack else self.fd
                if comp == "..":
                    if stack:
                        os.close(stack.pop())
                    continue
                st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    hops += 1
                    if hops > _MAX_LINK_HOPS:
                        raise LayerError(f"{rel}: too many levels of symbolic links")
                    target = os.readlink(comp, dir_fd=cur)
                    if target.startswith("/"):
                        while stack:
                            os.close(stack.pop())
                    pending[:0] = [p for p in target.split("/") if p not in ("", ".")]
                    continue
                if not pending:
                    return os.dup(cur), comp
                if not stat.S_ISDIR(st.st_mode):
                    raise LayerError(f"{rel}: a parent is not a directory")
                stack.append(os.open(comp, _DIR_FLAGS, dir_fd=cur))
            return os.dup(stack[-1] if stack else self.fd), None
        finally:
            for fd in stack:
                os.close(fd)


def _remove_entry(dir_fd: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _proc_path(dir_fd: int, name: str) -> str:
    return f"/proc/self/fd/{dir_fd}/{name}"


def _xattrs(member: tarfile.TarInfo) -> dict[str, bytes]:
    out = {}
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            out[key[len("SCHILY.xattr.") :]] = value.encode("utf-8", "surrogateescape")
    return out


class _Applier:
    def __init__(
        self,
        target: str | int,
        allow_devices: bool,
        same_owner: bool,
        whiteouts: bool = True,
        mode_mask: int = 0o7777,
    ) -> None:
        self.root = _Root(target)
        self.allow_devices = allow_devices
        self.same_owner = same_owner
        self.whiteouts = whiteouts
        self.mode_mask = mode_mask
        self.size = 0
        self.dir_times: list[tuple[str, int]] = []
        self.is_root = os.geteuid() == 0

    def close(self) -> None:
        self.root.close()

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        rel = clean_name(member.name)
        parent, base = posixpath.split(rel) if rel != "." else ("", ".")
        if self.whiteouts and base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent, base)
            return
        pfd = self.root.open_dir(parent, create=True)
        try:
            self._create(pfd, base, rel, member, tar)
        finally:
            os.close(pfd)

    def _whiteout(self, parent: str, base: str) -> None:
        pfd = self.root.open_dir(parent, create=True)
        try:
            if base == OPAQUE_MARKER:
                os.setxattr(pfd, OPAQUE_XATTR, b"y")
                return
            name = base[len(WHITEOUT_PREFIX) :]
            if name in ("", ".", "..") or "/" in name:
                raise LayerError(f"invalid whiteout {posixpath.join(parent, base)!r}")
            _remove_entry(pfd, name)
            self.root.invalidate()
            os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
        finally:
            os.close(pfd)

    def _create(
        self, pfd: int, base: str, rel: str, m: tarfile.TarInfo, tar: tarfile.TarFile
    ) -> None:
        if base == ".":
            if not m.isdir():
                raise LayerError("the layer root must be a directory")
            fd = os.dup(pfd)
            try:
                self._metadata_fd(fd, m)
            finally:
                os.close(fd)
            self.dir_times.append((".", int(m.mtime)))
            return
        try:
            existing = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None and not (stat.S_ISDIR(existing.st_mode) and m.isdir()):
            _remove_entry(pfd, base)
            self.root.invalidate()
            existing = None
        if m.isreg():
            fd = os.open(
                base,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=pfd,
            )
            try:
                src = tar.extractfile(m)
                assert src is not None
                remaining = m.size
                while remaining > 0:
                    chunk = src.read(min(remaining, 1 << 20))
                    if not chunk:
                        raise LayerError(f"{rel!r}: unexpected end of layer")
                    _write_all(fd, chunk)
                    remaining -= len(chunk)
                self.size += m.size
                self._metadata_fd(fd, m)
            finally:
                os.close(fd)
            return
        if m.isdir():
            if existing is None:
                os.mkdir(base, 0o700, dir_fd=pfd)
            fd = os.open(base, _DIR_FLAGS, dir_fd=pfd)
            try:
                self._metadata_fd(fd, m)
            finally:
                os.close(fd)
            self.dir_times.append((rel, int(m.mtime)))
            return
        if m.issym():
            target = m.linkname
            if not target.startswith("/"):
                # Docker refuses a relative symlink that climbs above the root
                clean_name(posixpath.join(posixpath.dirname(rel), target))
            os.symlink(target, base, dir_fd=pfd)
            self._metadata_link(pfd, base, m)
            return
        if m.islnk():
            target = clean_name(m.linkname)
            if target == ".":
                raise LayerError(f"{rel!r}: invalid hard link target")
            tparent, tbase = posixpath.split(target)
            try:
                tfd = self.root.open_dir(tparent, create=False)
            except (FileNotFoundError, NotADirectoryError):
                raise LayerError(f"{rel!r}: hard link target {m.linkname!r} not found") from None
            try:
                tst = os.stat(tbase, dir_fd=tfd, follow_symlinks=False)
                if stat.S_ISDIR(tst.st_mode):
                    raise LayerError(f"{rel!r}: hard link to a directory")
                os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                raise LayerError(f"{rel!r}: hard link target {m.linkname!r} not found") from None
            finally:
                os.close(tfd)
            return
        if m.isfifo() or m.ischr() or m.isblk():
            if m.isfifo():
                mode = stat.S_IFIFO
            else:
                if not self.allow_devices:
                    return  # Docker skips device nodes it may not create (rootless, userns)
                mode = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(base, mode | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
            self._metadata_link(pfd, base, m, chmod=True)
            return
        raise LayerError(f"{rel!r}: unhandled tar entry type {m.type!r}")

    def _metadata_fd(self, fd: int, m: tarfile.TarInfo) -> None:
        if self.same_owner and self.is_root:
            os.fchown(fd, m.uid, m.gid)
        for key, value in _xattrs(m).items():
            try:
                os.setxattr(fd, key, value)
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
                    raise
        os.fchmod(fd, m.mode & self.mode_mask)
        if not m.isdir():
            os.utime(fd, ns=(int(m.mtime * 1e9),) * 2)

    def _metadata_link(self, pfd: int, base: str, m: tarfile.TarInfo, chmod: bool = False) -> None:
        if self.same_owner and self.is_root:
            os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        if chmod:
            os.chmod(base, m.mode & self.mode_mask, dir_fd=pfd)
        os.utime(base, ns=(int(m.mtime * 1e9),) * 2, dir_fd=pfd, follow_symlinks=False)

    def finish(self) -> None:
        # directory mtimes last: creating their entries changed them
        for rel, mtime in reversed(self.dir_times):
            try:
                fd = self.root.open_dir(rel, create=False)
            except (FileNotFoundError, NotADirectoryError, LayerError):
                continue
            try:
                os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def apply_layer(
    stream: BinaryIO,
    target_dir: str,
    *,
    allow_devices: bool | None = None,
    same_owner: bool = True,
    expected_diff_id: str | None = None,
) -> AppliedLayer:
    """Unpack the (gzip, zstd or plain) layer tar `stream` into `target_dir`.

    Returns the diff_id (sha256 of the uncompressed tar) and sizes. Device nodes are created
    only when `allow_devices` (default: when running as root); otherwise they are skipped.
    When `expected_diff_id` is given and differs, raises LayerError (the caller discards the
    directory). Raises LayerError for entries that try to escape the target.
    """
    if allow_devices is None:
        allow_devices = os.geteuid() == 0
    hashing = _Hashing(decompressed(stream))
    buffered = io.BufferedReader(hashing, 1 << 16)
    applier = _Applier(target_dir, allow_devices, same_owner)
    try:
        _unpack(buffered, applier, "layer tar")
        # the diff_id covers the whole uncompressed blob, padding after the end marker too
        try:
            while buffered.read(1 << 20):
                pass
        except (EOFError, zlib.error, lzma.LZMAError, OSError) as e:
            if isinstance(e, OSError) and e.errno is not None:
                raise
            raise LayerError(f"invalid layer tar: {e}") from None
    finally:
        applier.close()
    diff_id = "sha256:" + hashing.hash.hexdigest()
    if expected_diff_id is not None and diff_id != expected_diff_id:
        raise LayerError(f"layer diff_id mismatch: expected {expected_diff_id}, got {diff_id}")
    return AppliedLayer(diff_id, applier.size, hashing.count)


def extract_tar(
    stream: BinaryIO,
    target_dir: str | int,
    *,
    allow_devices: bool,
    same_owner: bool,
    keep_setid: bool,
) -> int:
    """Unpack a (plain, gzip, bzip2, xz or zstd) tar into `target_dir` (a path, or the fd of
    a directory) with the rules of
    `apply_layer` (nothing lands outside the directory, symlinks resolved inside it, names
    climbing above it refused) but `.wh.` names taken literally: ADD of a local archive, and
    the archive of `docker load`. `keep_setid` false clears the set-id and sticky bits.
    Returns the bytes of file content written."""
    applier = _Applier(
        target_dir,
        allow_devices,
        same_owner,
        whiteouts=False,
        mode_mask=0o7777 if keep_setid else 0o777,
    )
    try:
        _unpack(decompressed(stream), applier, "tar archive")
    finally:
        applier.close()
    return applier.size


def _unpack(stream: BinaryIO, applier: _Applier, what: str) -> None:
    """Apply every member of the tar `stream`, one at a time (bounded memory per entry)."""
    try:
        with open_tar(stream) as tar:  # type: ignore[arg-type]
            for member in members(tar):
                try:
                    applier.apply(member, tar)
                except OSError as e:
                    if e.errno is not None and e.errno not in _BAD_ENTRY_ERRNOS:
                        raise
                    if e.errno is None:  # a corrupt compressed stream (BadGzipFile)
                        raise LayerError(f"invalid {what}: {e}") from None
                    raise LayerError(f"{member.name!r}: {e.strerror}") from None
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise LayerError(f"invalid {what}: {e}") from None
    except OSError as e:
        if e.errno is not None:
            raise
        raise LayerError(f"invalid {what}: {e}") from None
    applier.finish()


# --- diff -------------------------------------------------------------------------------


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(dir_fd: int) -> bool:
    try:
        return os.getxattr(dir_fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _pax_xattrs(dir_fd: int, name: str) -> dict[str, str]:
    """The xattrs of entry `name` of directory `dir_fd` (never following a link)."""
    # /proc/self/fd/N is the directory itself, whatever happened to its path since
    path = f"/proc/self/fd/{dir_fd}/{name}"
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for key in sorted(names):
        if key.startswith("trusted.overlay.") or key == "system.nfs4_acl":
            continue
        try:
            value = os.getxattr(path, key, follow_symlinks=False)
        except OSError:
            continue
        out["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
    return out


@dataclass
class _Level:
    rel: str
    fd: int
    subdirs: list[str]
    owned: bool


def walk_tree(top_fd: int) -> Iterator[tuple[str, int, list[tuple[str, os.stat_result]]]]:
    """The directories below directory `top_fd` in os.walk's top-down order (a directory's
    entries, then each subdirectory in name order): (relative path, directory fd, sorted
    (name, lstat) of its entries). Every directory is opened from its parent's fd with
    O_NOFOLLOW, so a tree that a running container changes meanwhile cannot lead the walk
    out of it (a directory swapped for a symlink is skipped); entries that vanish are
    skipped. Iterative: any depth. The fd is valid until the next step of the iteration."""

    def listing(fd: int) -> list[tuple[str, os.stat_result]]:
        out = []
        for name in sorted(os.listdir(fd)):
            try:
                out.append((name, os.stat(name, dir_fd=fd, follow_symlinks=False)))
            except FileNotFoundError:
                continue
        return out

    entries = listing(top_fd)
    stack = [_Level(".", top_fd, [n for n, st in entries if stat.S_ISDIR(st.st_mode)], False)]
    yield ".", top_fd, entries
    try:
        while stack:
            level = stack[-1]
            if not level.subdirs:
                stack.pop()
                if level.owned:
                    os.close(level.fd)
                continue
            name = level.subdirs.pop(0)
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=level.fd)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                    continue  # removed, or replaced by a link or a file, since the listing
                raise
            rel = name if level.rel == "." else f"{level.rel}/{name}"
            try:
                entries = listing(fd)
            except BaseException:
                os.close(fd)
                raise
            subdirs = [n for n, st in entries if stat.S_ISDIR(st.st_mode)]
            stack.append(_Level(rel, fd, subdirs, True))
            yield rel, fd, entries
    finally:
        for level in stack:
            if level.owned:
                os.close(level.fd)


def write_diff(lowers: Iterable[str], upper: str, out: BinaryIO) -> str:
    """Write the OCI layer tar of overlay upper directory `upper` to `out`.

    Overlay whiteouts (0/0 char devices) become `.wh.NAME` entries and opaque directories a
    `.wh..wh..opq` entry. Output is deterministic for a given tree: entries sorted, owners
    as they are, no user/group names, mtimes to the second. `lowers` are accepted for the
    snapshotter's interface (an overlay upper directory is a complete diff on its own).
    The tree is read through directory fds (`walk_tree`): a container that runs while it is
    committed cannot make this read anything outside it. Returns the diff_id.
    """
    del lowers
    hasher = _HashingWriter(out)
    top = os.open(upper, _DIR_FLAGS)
    try:
        with tarfile.open(
            fileobj=hasher,
            mode="w|",
            format=tarfile.PAX_FORMAT,
            encoding="utf-8",
            errors="surrogateescape",
        ) as tar:
            inodes: dict[tuple[int, int], str] = {}
            for rel_dir, dfd, entries in walk_tree(top):
                names = [n for n, _ in entries]
                if rel_dir != "." and _is_opaque(dfd) and OPAQUE_MARKER not in names:
                    marker = f"{rel_dir}/{OPAQUE_MARKER}"
                    tar.addfile(_plain_info(marker, os.fstat(dfd)))
                for name, st in entries:
                    arcname = name if rel_dir == "." else f"{rel_dir}/{name}"
                    _add_diff_entry(tar, dfd, name, arcname, st, inodes)
    finally:
        os.close(top)
    return hasher.digest()


def _add_diff_entry(
    tar: tarfile.TarFile,
    dfd: int,
    name: str,
    arcname: str,
    st: os.stat_result,
    inodes: dict[tuple[int, int], str],
) -> None:
    if stat.S_ISSOCK(st.st_mode):
        return  # sockets cannot be archived; Docker leaves them out too
    if _is_whiteout(st):
        wh = posixpath.join(posixpath.dirname(arcname), WHITEOUT_PREFIX + name)
        tar.addfile(_plain_info(wh, st))
        return
    if not stat.S_ISREG(st.st_mode):
        try:
            info = _info_for(dfd, name, arcname, st)
        except FileNotFoundError:
            return  # removed since the listing
        tar.addfile(info)
        return
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ELOOP):
            return  # removed, or replaced by a link, since the listing
        raise
    with os.fdopen(fd, "rb") as f:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode):
            return
        info = _info_for(dfd, name, arcname, now)
        if now.st_nlink > 1:
            key = (now.st_dev, now.st_ino)
            if key in inodes:
                info.type = tarfile.LNKTYPE
                info.linkname = inodes[key]
                info.size = 0
                tar.addfile(info)
                return
            inodes[key] = arcname
        tar.addfile(info, _Exactly(f, now.st_size))


class _Exactly:
    """A file read as exactly `size` bytes (zero-padded if it shrank meanwhile), so a file
    that changes while it is archived cannot corrupt the tar stream."""

    def __init__(self, f: BinaryIO, size: int) -> None:
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


def _plain_info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    info.mtime = int(st.st_mtime)
    info.uname = info.gname = ""
    return info


def _info_for(dfd: int, name: str, arcname: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dfd)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        raise LayerError(f"{arcname}: cannot archive a socket or unknown file type")
    info.pax_headers = _pax_xattrs(dfd, name)
    return info


class _HashingWriter(io.RawIOBase):
    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self._out.write(b)
        self._hash.update(b)
        self.count += len(b)
        return len(b)

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def diff(lowers: Iterable[str], upper: str) -> BinaryIO:
    """The OCI layer tar of `upper` as a readable stream (a temporary file at offset 0)."""
    f = tempfile.TemporaryFile()
    try:
        write_diff(lowers, upper, f)  # type: ignore[arg-type]
        f.seek(0)
    except BaseException:
        f.close()
        raise
    return f  # type: ignore[return-value]
