"""The daemon's side of the build context: a tar stream unpacked safely into a directory.

The context arrives as a tar (plain, gzip, bzip2 or xz). Nothing in it may land outside the
directory: names are cleaned, `..` escapes and absolute names are refused, no entry is written
through a symbolic link, hard links must point at files inside. Symbolic links themselves are
kept as written: COPY and ADD resolve them *inside* the context (dockyard.linux.pathrs), as
Docker does, and read the sources by descriptor (dockyard.build.copier).

After unpacking, the server side of `.dockerignore` is applied as Docker's daemon does it:
the files the patterns exclude are removed (the Dockerfile is read first, so a Dockerfile the
patterns exclude can still be built from, but not copied).
"""

from __future__ import annotations

import errno
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zlib
from typing import BinaryIO

from dockyard.build.copier import Source, hash_source
from dockyard.dockerfile import dockerignore
from dockyard.errors import InvalidParameter, NotFound
from dockyard.linux import pathrs
from dockyard.snapshots.layer import decompressed
from dockyard.snapshots.safetar import members, open_tar

_COMPRESSED_MAGIC = (b"BZh", b"\xfd7zXZ\x00")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# read into memory: bounded (the context itself is streamed to disk)
MAX_DOCKERFILE = 16 << 20
MAX_DOCKERIGNORE = 4 << 20


class ContextError(InvalidParameter):
    """A build context that cannot be unpacked."""


def _open_stream(stream: BinaryIO) -> tarfile.TarFile:
    """A streaming tar reader over plain, gzip, zstd (via `decompressed`), bzip2 or xz."""
    head = stream.read(6)
    rest = _Prefixed(head, stream)
    if head.startswith(_COMPRESSED_MAGIC[0]):
        return open_tar(rest, mode="r|bz2")  # type: ignore[arg-type]
    if head.startswith(_COMPRESSED_MAGIC[1]):
        return open_tar(rest, mode="r|xz")  # type: ignore[arg-type]
    return open_tar(decompressed(rest))  # type: ignore[arg-type]


class _Prefixed:
    """A file object that yields `prefix` and then the rest of `stream`."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            if n is None or n < 0:
                out, self._prefix = self._prefix + self._stream.read(), b""
                return out
            out, self._prefix = self._prefix[:n], self._prefix[n:]
            if len(out) < n:
                out += self._stream.read(n - len(out))
            return out
        return self._stream.read(n)


def clean_member_name(name: str) -> str:
    """The relative path a tar entry names, or ContextError when it would leave the root."""
    cleaned = posixpath.normpath("/" + name).lstrip("/")
    raw = posixpath.normpath(name)
    if raw == ".." or raw.startswith("../") or name.startswith("/") and ".." in name.split("/"):
        raise ContextError(f"invalid path in the build context: {name}")
    return "" if cleaned in ("", ".") else cleaned


class BuildContext:
    """An unpacked build context in a temporary directory (remove it with `close`)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._hashes: dict[str, str] = {}

    @classmethod
    def from_tar(cls, stream: BinaryIO, tmp_dir: str | None = None) -> BuildContext:
        root = tempfile.mkdtemp(prefix="dockyard-build-", dir=tmp_dir)
        ctx = cls(root)
        try:
            ctx._unpack(stream)
        except BaseException:
            ctx.close()
            raise
        return ctx

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- unpacking ------------------------------------------------------------------------

    def _unpack(self, stream: BinaryIO) -> None:
        dirs: list[tuple[str, int, int]] = []
        try:
            with _open_stream(stream) as tar:
                for member in members(tar):
                    rel = clean_member_name(member.name)
                    if not rel:
                        continue
                    self._extract(tar, member, rel)
                    if member.isdir():
                        dirs.append((rel, member.mode, int(member.mtime)))
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as e:
            if isinstance(e, OSError) and e.errno not in (errno.ELOOP, errno.ENOTDIR, None):
                raise
            raise ContextError(f"failed to read the build context: {e}") from None
        for rel, mode, mtime in reversed(dirs):  # directory times last: their files changed
            # a later entry may have replaced the directory by a symlink: never follow it
            fd = self._open_dir_nofollow(rel)
            if fd is None:
                continue
            try:
                os.fchmod(fd, (mode & 0o7777) | 0o700)
                os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)

    def _open_dir_nofollow(self, rel: str) -> int | None:
        """An fd of directory `rel` of the context, no symlink followed on the way."""
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for part in rel.split("/"):
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nxt
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                return None
            raise
        return fd

    def _parent_fd(self, rel: str, *, make: bool) -> int:
        """An fd of the directory that holds `rel`, reached from the root one component at a
        time with O_NOFOLLOW (no symlink followed on the way): missing directories are made
        (0755) when `make`, else FileNotFoundError; ContextError when one is not a directory."""
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for part in rel.split("/")[:-1]:
                try:
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not make:
                        raise
                    os.mkdir(part, 0o755, dir_fd=fd)
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as e:
                    if e.errno in (errno.ENOTDIR, errno.ELOOP):
                        raise ContextError(f"invalid path in the build context: {rel}") from None
                    raise
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _extract(self, tar: tarfile.TarFile, m: tarfile.TarInfo, rel: str) -> None:
        parent = self._parent_fd(rel, make=True)
        try:
            self._extract_at(tar, m, parent, rel.rsplit("/", 1)[-1])
        finally:
            os.close(parent)

    def _extract_at(self, tar: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, name: str) -> None:
        """Entry `m` as `name` of directory `pfd`, made with *at calls that never follow."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and not (m.isdir() and stat.S_ISDIR(st.st_mode)):
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=pfd)
            else:
                os.unlink(name, dir_fd=pfd)
        if m.isdir():
            if st is None or not stat.S_ISDIR(st.st_mode):
                os.mkdir(name, 0o700, dir_fd=pfd)
            return
        if m.isreg():
            src = tar.extractfile(m)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(name, flags, 0o600, dir_fd=pfd)
            with os.fdopen(fd, "wb") as out:
                if src is not None:
                    shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fchmod(fd, m.mode & 0o7777)
        elif m.issym():
            os.symlink(m.linkname, name, dir_fd=pfd)
        elif m.islnk():
            self._hard_link(m, pfd, name)
        else:
            return  # devices and fifos have no place in a build context
        os.utime(name, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)

    def _hard_link(self, m: tarfile.TarInfo, pfd: int, name: str) -> None:
        """A hard link to a regular file already in the context (no symlink on the way)."""
        target = clean_member_name(m.linkname)
        invalid = ContextError(f"invalid hard link in the build context: {m.name}")
        if not target:
            raise invalid
        try:
            src_parent = self._parent_fd(target, make=False)
        except FileNotFoundError:
            raise invalid from None
        try:
            src_name = target.rsplit("/", 1)[-1]
            try:
                st = os.stat(src_name, dir_fd=src_parent, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                raise invalid from None
            if not stat.S_ISREG(st.st_mode):
                raise invalid
            os.link(src_name, name, src_dir_fd=src_parent, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(src_parent)

    # --- the Dockerfile and .dockerignore -------------------------------------------------

    def read_dockerfile(self, name: str) -> bytes:
        """The Dockerfile's bytes (`name` relative to the context; `dockerfile` as fallback)."""
        candidates = [name]
        if name == "Dockerfile":
            candidates.append("dockerfile")
        for candidate in candidates:
            data = self.read_file(candidate, MAX_DOCKERFILE)
            if data is not None:
                return data
        raise NotFound(f"Cannot locate specified Dockerfile: {name}")

    def read_file(self, name: str, limit: int) -> bytes | None:
        """The bytes of regular file `name` of the context (symlinks resolved inside it), or
        None when it is missing or not a regular file; ContextError above `limit` bytes."""
        raw = posixpath.normpath(name) if name else "."
        if raw == ".." or raw.startswith("../"):
            return None
        try:
            root = pathrs.open_root(self.root)
            try:  # the context holds no fifo or device: opening reads nothing yet
                fd = pathrs.open_in_root(root, "/" + name, os.O_RDONLY | os.O_NONBLOCK)
            finally:
                os.close(root)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ContextError(f"{name} is larger than the limit of {limit} bytes")
        return data

    def apply_dockerignore(self) -> None:
        """Remove what .dockerignore excludes (the daemon's side of the rule)."""
        raw = self.read_file(".dockerignore", MAX_DOCKERIGNORE)
        patterns = dockerignore.read_patterns(raw.decode("utf-8", "replace")) if raw else []
        if not patterns:
            return
        matcher = dockerignore.PatternMatcher(patterns)
        root = os.open(self.root, _DIR_FLAGS)
        try:
            self._prune(matcher, root, "")
        finally:
            os.close(root)

    def _prune(self, matcher: dockerignore.PatternMatcher, dir_fd: int, rel: str) -> None:
        """Remove what `matcher` excludes below directory `dir_fd` (context path `rel`),
        every entry reached relative to its directory's fd, no symlink followed."""
        with os.scandir(dir_fd) as it:
            entries = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in it)
        for name, is_dir in entries:
            path = f"{rel}/{name}" if rel else name
            if matcher.matches(path):
                if is_dir and matcher.has_exclusions and matcher.may_include_inside(path):
                    sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                    try:
                        self._prune(matcher, sub, path)
                        empty = not os.listdir(sub)
                    finally:
                        os.close(sub)
                    if empty:
                        os.rmdir(name, dir_fd=dir_fd)
                    continue
                if is_dir:
                    shutil.rmtree(name, dir_fd=dir_fd)
                else:
                    os.unlink(name, dir_fd=dir_fd)
            elif is_dir:
                sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                try:
                    self._prune(matcher, sub, path)
                finally:
                    os.close(sub)

    # --- sources for COPY and ADD ---------------------------------------------------------

    def hash_path(self, source: Source) -> str:
        """copier.hash_source of `source`, kept for the build when it is in the context."""
        if source.root != self.root:
            return hash_source(source)
        cached = self._hashes.get(source.path)
        if cached is None:
            cached = self._hashes[source.path] = hash_source(source)
        return cached
