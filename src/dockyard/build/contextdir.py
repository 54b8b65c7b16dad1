"""The daemon's side of the build context: a tar stream unpacked safely into a directory.

The context arrives as a tar (plain, gzip, bzip2 or xz). Nothing in it may land outside the
directory: names are cleaned, `..` escapes and absolute names are refused, no entry is written
through a symbolic link, hard links must point at files inside. Symbolic links themselves are
kept as written: COPY and ADD resolve them *inside* the context (`resolve`), as Docker does.

After unpacking, the server side of `.dockerignore` is applied as Docker's daemon does it:
the files the patterns exclude are removed (the Dockerfile is read first, so a Dockerfile the
patterns exclude can still be built from, but not copied).
"""

from __future__ import annotations

import errno
import hashlib
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zlib
from typing import BinaryIO

from dockyard.dockerfile import dockerignore
from dockyard.errors import InvalidParameter, NotFound
from dockyard.runtime.user import resolve_in_root
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

    def _parent_dir(self, rel: str) -> str:
        """The host directory that will hold `rel`, created, with no symlink on the way."""
        parent = self.root
        for part in rel.split("/")[:-1]:
            parent = os.path.join(parent, part)
            try:
                st = os.lstat(parent)
            except FileNotFoundError:
                os.mkdir(parent, 0o755)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise ContextError(f"invalid path in the build context: {rel}")
        return parent

    def _extract(self, tar: tarfile.TarFile, m: tarfile.TarInfo, rel: str) -> None:
        parent = self._parent_dir(rel)
        path = os.path.join(parent, rel.rsplit("/", 1)[-1])
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and not (m.isdir() and stat.S_ISDIR(st.st_mode)):
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        if m.isdir():
            if st is None or not stat.S_ISDIR(st.st_mode):
                os.mkdir(path, 0o700)
            return
        if m.isreg():
            src = tar.extractfile(m)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                if src is not None:
                    shutil.copyfileobj(src, out, 1 << 20)
            os.chmod(path, m.mode & 0o7777)
        elif m.issym():
            os.symlink(m.linkname, path)
        elif m.islnk():
            target = clean_member_name(m.linkname)
            source = os.path.join(self.root, target)
            if target:
                self._parent_dir(target)  # no symlink on the way to the source
            try:
                regular = bool(target) and stat.S_ISREG(os.lstat(source).st_mode)
            except (FileNotFoundError, NotADirectoryError):
                regular = False
            if not regular:
                raise ContextError(f"invalid hard link in the build context: {m.name}")
            os.link(source, path, follow_symlinks=False)
        else:
            return  # devices and fifos have no place in a build context
        os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)

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
        try:
            path = self.resolve(name)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, InvalidParameter):
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
        self._prune(matcher, "")

    def _prune(self, matcher: dockerignore.PatternMatcher, rel: str) -> None:
        directory = os.path.join(self.root, rel) if rel else self.root
        with os.scandir(directory) as it:
            entries = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in it)
        for name, is_dir in entries:
            path = f"{rel}/{name}" if rel else name
            full = os.path.join(self.root, path)
            if matcher.matches(path):
                if is_dir and matcher.has_exclusions and matcher.may_include_inside(path):
                    self._prune(matcher, path)
                    if not os.listdir(full):
                        os.rmdir(full)
                    continue
                if is_dir:
                    shutil.rmtree(full)
                else:
                    os.unlink(full)
            elif is_dir:
                self._prune(matcher, path)

    # --- sources for COPY and ADD ---------------------------------------------------------

    def resolve(self, path: str) -> str:
        """The host path of context path `path`, symlinks resolved inside the context.

        Raises forbidden-path errors (InvalidParameter) for `..` leaving the context.
        """
        clean = posixpath.normpath("/" + path)
        raw = posixpath.normpath(path) if path else "."
        if raw == ".." or raw.startswith("../"):
            raise InvalidParameter(f"forbidden path outside the build context: {path} ()")
        return resolve_in_root(self.root, clean)

    def hash_path(self, host_path: str) -> str:
        """A content hash of a file or tree: names, types, modes, link targets and contents."""
        cached = self._hashes.get(host_path)
        if cached is not None:
            return cached
        h = hashlib.sha256()
        st = os.lstat(host_path)
        if stat.S_ISDIR(st.st_mode):
            for dirpath, dirnames, filenames in os.walk(host_path):
                dirnames.sort()
                rel_dir = os.path.relpath(dirpath, host_path)
                h.update(f"d {rel_dir} {stat.S_IMODE(os.lstat(dirpath).st_mode):o}\0".encode())
                for name in sorted(filenames):
                    _hash_entry(h, os.path.join(dirpath, name), f"{rel_dir}/{name}")
                for name in dirnames:
                    full = os.path.join(dirpath, name)
                    if os.path.islink(full):
                        _hash_entry(h, full, f"{rel_dir}/{name}")
        else:
            _hash_entry(h, host_path, ".")
        digest = h.hexdigest()
        self._hashes[host_path] = digest
        return digest


def _hash_entry(h: hashlib._Hash, full: str, rel: str) -> None:
    st = os.lstat(full)
    h.update(f"f {rel} {st.st_mode:o}\0".encode("utf-8", "surrogateescape"))
    if stat.S_ISLNK(st.st_mode):
        h.update(os.readlink(full).encode("utf-8", "surrogateescape") + b"\0")
    elif stat.S_ISREG(st.st_mode):
        with open(full, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        h.update(b"\0")
