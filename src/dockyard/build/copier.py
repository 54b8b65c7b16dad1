"""COPY and ADD: finding the sources and copying them into a root filesystem, Docker's rules.

Sources (`find_sources`): paths relative to a source root (the build context, or the root
filesystem of a stage or image for `--from`); `..` may not leave the root; symbolic links
are resolved inside the root; wildcards (`*`, `?`, `[...]`, Go's filepath.Match) are
matched against every path of the root. Docker's words for what goes wrong. A source is
read only by descriptor: opened inside its root (dockyard.linux.pathrs), its tree walked
with scandir on directory fds and every entry opened relative to its directory with
O_NOFOLLOW (`walk`, `open_source`), for the copy and for the cache's hash (`hash_source`).

Copying (`copy_sources`), into a mounted root filesystem, by file descriptor: the destination
is resolved inside the root (dockyard.linux.pathrs) and every entry is made relative to its
parent directory's fd with O_EXCL / O_NOFOLLOW, so a link the image already has is followed
inside the root only, never on the host:
- a directory source copies its *contents* into the destination (which is created);
- a file goes *into* the destination when it ends with `/` or is an existing directory,
  otherwise it becomes the destination;
- several sources need a destination ending with `/`;
- everything copied is owned by 0:0, or by `--chown` (names looked up in the destination
  image's /etc/passwd and /etc/group; a user without group means gid = uid); directories
  created on the way are owned likewise; `--chmod` sets the mode of what is copied;
- ADD extracts local tar archives (plain, gzip, bzip2, xz, zstd) into the destination, every
  entry kept inside it (snapshots.layer.extract_tar).
"""

from __future__ import annotations

import errno
import hashlib
import lzma
import os
import posixpath
import re
import shutil
import stat
import tarfile
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from dockyard.errors import InvalidParameter
from dockyard.linux import pathrs
from dockyard.pathmatch import BadPattern, compile_pattern
from dockyard.runtime.user import resolve_user
from dockyard.snapshots.layer import LayerError, decompressed, extract_tar
from dockyard.snapshots.safetar import open_tar

_WILDCARD = re.compile(r"[*?\[]")


class CopyError(InvalidParameter):
    """COPY or ADD failed; the message is Docker's."""


@dataclass(frozen=True)
class Source:
    """One resolved source: `name` as matched (relative to its root); `root`, the trusted
    host directory it lives in (the build context, the root filesystem of a stage or image,
    a temporary directory of the daemon); `path`, where it is inside that root ("/...",
    symbolic links resolved inside it). It is only ever opened inside `root` (open_source)."""

    name: str
    root: str
    path: str
    is_dir: bool


def _clean(src: str) -> str:
    """Docker's source path clean-up: leading `/` and `./` dropped, `a/../b` folded."""
    cleaned = posixpath.normpath(src) if src else "."
    cleaned = cleaned.lstrip("/") if cleaned != "/" else "."
    return cleaned or "."


def _resolve(root_fd: int, path: str) -> str:
    """`path` resolved inside the root (pathrs.resolve_path); a loop is a CopyError naming
    `path` only (no host path reaches the user)."""
    try:
        return pathrs.resolve_path(root_fd, path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise CopyError(f"{path}: too many levels of symbolic links") from None
        raise


def _kind(root_fd: int, resolved: str, name: str | None = None) -> bool | None:
    """Whether `resolved` (inside the root) is a directory; None when it does not exist.
    Below a file (ENOTDIR): None without `name`, else a CopyError naming `name`."""
    try:
        fd = pathrs.open_in_root(root_fd, resolved, os.O_PATH)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        if name is None:
            return None
        raise CopyError(f"stat {name}: not a directory") from None
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def find_sources(root: str, srcs: list[str], *, from_context: bool) -> list[Source]:
    """The sources COPY/ADD `srcs` name under `root` (see the module docstring)."""
    found: list[Source] = []
    root_fd = _open_root(root)
    try:
        for src in srcs:
            raw = posixpath.normpath(src) if src else "."
            if not raw.startswith("/") and (raw == ".." or raw.startswith("../")):
                raise CopyError(f"forbidden path outside the build context: {src} ()")
            cleaned = _clean(src)
            if _WILDCARD.search(cleaned):
                found.extend(_wildcard(root, root_fd, cleaned))
                continue
            resolved = _resolve(root_fd, cleaned)
            is_dir = _kind(root_fd, resolved, cleaned)
            if is_dir is None:
                where = (
                    "file not found in build context or excluded by .dockerignore: "
                    if from_context
                    else ""
                )
                raise CopyError(f"{where}stat {cleaned}: file does not exist")
            found.append(Source(cleaned, root, resolved, is_dir))
    finally:
        os.close(root_fd)
    if not found:
        raise CopyError("no source files were specified")
    return found


def walk(dir_fd: int, rel: str = ".") -> Iterator[tuple[str, int, list[tuple[str, int]]]]:
    """os.walk (top-down, subdirectories in name order) by descriptor: (the directory's path
    relative to the top, its fd, its entries as (name, st_mode without following) in name
    order). Only real directories are entered, never a symbolic link; a directory that
    cannot be opened is skipped, as os.walk skips it. The walk keeps its own stack (one
    descriptor a level): a deep tree cannot exhaust Python's recursion."""
    entries = _entries(dir_fd)
    yield rel, dir_fd, entries
    # (directory fd, its path, the subdirectories left to enter, whether we opened the fd)
    stack: list[tuple[int, str, Iterator[str], bool]] = [(dir_fd, rel, _subdirs(entries), False)]
    try:
        while stack:
            fd, path, children, owned = stack[-1]
            name = next(children, None)
            if name is None:
                stack.pop()
                if owned:
                    os.close(fd)
                continue
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                continue
            sub_path = name if path == "." else f"{path}/{name}"
            try:
                sub_entries = _entries(sub)
            except BaseException:
                os.close(sub)
                raise
            stack.append((sub, sub_path, _subdirs(sub_entries), True))
            yield sub_path, sub, sub_entries
    finally:
        for fd, _path, _children, owned in stack:
            if owned:
                os.close(fd)


def _entries(dir_fd: int) -> list[tuple[str, int]]:
    with os.scandir(dir_fd) as it:
        return sorted((e.name, e.stat(follow_symlinks=False).st_mode) for e in it)


def _subdirs(entries: list[tuple[str, int]]) -> Iterator[str]:
    return iter([name for name, mode in entries if stat.S_ISDIR(mode)])


def _wildcard(root: str, root_fd: int, pattern: str) -> list[Source]:
    try:
        regex = compile_pattern(pattern)
    except BadPattern as e:
        raise CopyError(str(e)) from None
    out: list[Source] = []
    for rel_dir, _fd, entries in walk(root_fd):
        for name, _mode in entries:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if regex.fullmatch(rel):
                resolved = _resolve(root_fd, rel)
                is_dir = _kind(root_fd, resolved, rel)
                if is_dir is not None:
                    out.append(Source(rel, root, resolved, is_dir))
    return out


@contextmanager
def open_source(source: Source) -> Iterator[int]:
    """A descriptor of `source`, opened inside its root: O_RDONLY for a directory, O_PATH
    otherwise (read a regular file through `reopen`: nothing else is ever opened)."""
    root_fd = pathrs.open_root(source.root)
    try:
        flags = os.O_RDONLY | os.O_DIRECTORY if source.is_dir else os.O_PATH
        fd = pathrs.open_in_root(root_fd, source.path, flags)
    finally:
        os.close(root_fd)
    try:
        yield fd
    finally:
        os.close(fd)


def reopen(fd: int) -> int:
    """A read-only descriptor of the regular file that the O_PATH `fd` holds."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise OSError(errno.EINVAL, "not a regular file")
    return os.open(pathrs.proc_fd_path(fd), os.O_RDONLY | os.O_CLOEXEC)


def _open_file_at(dir_fd: int, name: str) -> int:
    """A read-only descriptor of regular file `name` of directory `dir_fd` (not followed)."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", name)
    return fd


def source_hash(sources: list[Source], hasher) -> str:  # noqa: ANN001 (BuildContext.hash_path)
    """Docker's `file:<hex>`, `dir:<hex>` or `multi:<hex>` for the history and the cache."""
    hashes = [hasher(s) for s in sources]
    if len(sources) == 1:
        return ("dir:" if sources[0].is_dir else "file:") + hashes[0]
    return "multi:" + hashlib.sha256("".join(hashes).encode()).hexdigest()


def hash_source(source: Source) -> str:
    """A content hash of a source, file or tree: names, types, modes, link targets and
    contents, read by descriptor inside the source's root. The bytes hashed are those of a
    walk in name order: for each directory `d <rel> <mode>`, then each entry but the
    directories (`f <rel> <mode>`, a link's target, a file's contents), the links to
    directories last (whether a link leads to a directory is resolved inside the root)."""
    h = hashlib.sha256()
    root_fd = pathrs.open_root(source.root)
    try:
        with open_source(source) as fd:
            if not source.is_dir:
                _hash_entry(h, os.fstat(fd).st_mode, ".", lambda: os.readlink("", dir_fd=fd),
                            lambda: reopen(fd))  # fmt: skip
                return h.hexdigest()
            for rel_dir, dfd, entries in walk(fd):
                mode = stat.S_IMODE(os.fstat(dfd).st_mode)
                h.update(f"d {rel_dir} {mode:o}\0".encode("utf-8", "surrogateescape"))
                to_dirs = []
                for name, mode in entries:
                    if stat.S_ISDIR(mode):
                        continue
                    inside = posixpath.normpath(posixpath.join(source.path, rel_dir, name))
                    if stat.S_ISLNK(mode) and _link_to_dir(root_fd, inside):
                        to_dirs.append((name, mode))
                        continue
                    _hash_at(h, dfd, name, mode, f"{rel_dir}/{name}")
                for name, mode in to_dirs:
                    _hash_at(h, dfd, name, mode, f"{rel_dir}/{name}")
    finally:
        os.close(root_fd)
    return h.hexdigest()


def _link_to_dir(root_fd: int, path: str) -> bool:
    """Whether link `path` leads to a directory, resolved inside the root (a loop: no)."""
    try:
        return bool(_kind(root_fd, pathrs.resolve_path(root_fd, path)))
    except OSError as e:
        if e.errno == errno.ELOOP:
            return False
        raise


def _hash_at(h: Any, dir_fd: int, name: str, mode: int, rel: str) -> None:
    _hash_entry(h, mode, rel, lambda: os.readlink(name, dir_fd=dir_fd),
                lambda: _open_file_at(dir_fd, name))  # fmt: skip


def _hash_entry(
    h: Any, mode: int, rel: str, readlink: Callable[[], str], open_file: Callable[[], int]
) -> None:
    h.update(f"f {rel} {mode:o}\0".encode("utf-8", "surrogateescape"))
    if stat.S_ISLNK(mode):
        h.update(readlink().encode("utf-8", "surrogateescape") + b"\0")
    elif stat.S_ISREG(mode):
        with os.fdopen(open_file(), "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        h.update(b"\0")


# --- ownership ---------------------------------------------------------------------------


def parse_chown(rootfs: str, chown: str) -> tuple[int, int]:
    """--chown=user[:group] resolved in the destination image, as Docker's classic builder
    does: without a group, the user's name (or number) names the group too."""
    if not chown:
        return 0, 0
    parts = chown.split(":")
    if len(parts) > 2:
        raise CopyError(f"invalid chown string format: {chown}")
    user, group = parts[0], parts[-1]
    return _chown_id(rootfs, user, "uid", "user"), _chown_id(rootfs, group, "gid", "group")


def _chown_id(rootfs: str, name: str, kind: str, what: str) -> int:
    if name.isdecimal():
        return int(name)
    try:
        if kind == "uid":
            return resolve_user(rootfs, name)[0]
        return resolve_user(rootfs, f"0:{name}")[1]
    except InvalidParameter:
        raise CopyError(
            "unable to convert uid/gid chown string to host mapping: "
            f"can't find {kind} for {what} {name}: no such {what}: {name}"
        ) from None


def parse_chmod(chmod: str) -> int | None:
    if not chmod:
        return None
    try:
        mode = int(chmod, 8)
    except ValueError:
        raise CopyError(f"invalid chmod parameter: {chmod}") from None
    if mode > 0o7777:
        raise CopyError(f"invalid chmod parameter: {chmod}")
    return mode


# --- copying -----------------------------------------------------------------------------


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class _Owner:
    """Who owns what is copied: uid/gid, or (`preserve`) the source's own owner."""

    uid: int
    gid: int
    mode: int | None
    preserve: bool = False

    def ids(self, st: os.stat_result | None) -> tuple[int, int]:
        if self.preserve and st is not None:
            return st.st_uid, st.st_gid
        return self.uid, self.gid

    def chown_at(self, dir_fd: int, name: str, st: os.stat_result | None) -> None:
        os.chown(name, *self.ids(st), dir_fd=dir_fd, follow_symlinks=False)


def make_dirs(rootfs: str, path: str, uid: int = 0, gid: int = 0) -> None:
    """Create directory `path` in rootfs (WORKDIR): new directories 0755, owned uid:gid."""
    root = _open_root(rootfs)
    try:
        os.close(_mkdir_all(root, path, _Owner(uid, gid, None)))
    finally:
        os.close(root)


def _open_root(rootfs: str) -> int:
    return os.open(rootfs, _DIR_FLAGS)


def _resolved(root: int, path: str) -> str:
    """`path` with every symlink resolved inside the root (missing components kept)."""
    try:
        return pathrs.resolve_path(root, path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise CopyError(f"{path}: too many levels of symbolic links") from None
        raise


def _mkdir_all(root: int, path: str, owner: _Owner) -> int:
    """The fd of directory `path` inside the root (symlinks resolved in it), the missing
    directories made (0755) and chowned on the way, each relative to its parent's fd."""
    cur = os.dup(root)
    try:
        for comp in [p for p in _resolved(root, path).split("/") if p]:
            try:
                nxt = os.open(comp, _DIR_FLAGS, dir_fd=cur)
            except FileNotFoundError:
                os.mkdir(comp, 0o755, dir_fd=cur)
                owner.chown_at(cur, comp, None)
                nxt = os.open(comp, _DIR_FLAGS, dir_fd=cur)
            except OSError as e:
                if e.errno in (errno.ENOTDIR, errno.ELOOP):
                    raise CopyError(f"mkdir {path}: not a directory") from None
                raise
            os.close(cur)
            cur = nxt
    except BaseException:
        os.close(cur)
        raise
    return cur


def _set_meta(fd: int, st: os.stat_result, owner: _Owner) -> None:
    os.fchown(fd, *owner.ids(st))
    os.fchmod(fd, owner.mode if owner.mode is not None else stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_file(
    st: os.stat_result, open_src: Callable[[], int], dfd: int, name: str, owner: _Owner
) -> None:
    """Copy the source file whose (unfollowed) stat is `st` to entry `name` of directory
    `dfd`, replacing what is there unless it is a directory. A regular file's contents are
    read from the descriptor `open_src` gives (opened inside its root, never by a path)."""
    try:
        existing = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    if existing is not None:
        if stat.S_ISDIR(existing.st_mode):
            raise CopyError(f"cannot overwrite directory {name!r} with a file")
        os.unlink(name, dir_fd=dfd)
    if stat.S_ISREG(st.st_mode):
        with os.fdopen(open_src(), "rb") as fin:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(name, flags, 0o600, dir_fd=dfd)
            with os.fdopen(fd, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
                fout.flush()
                _set_meta(fd, st, owner)
    elif stat.S_ISFIFO(st.st_mode):
        os.mkfifo(name, 0o600, dir_fd=dfd)
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            os.chown(name, *owner.ids(st), dir_fd=dfd, follow_symlinks=False)
            proc = f"/proc/self/fd/{fd}"  # the fifo itself: chmod by name could follow
            os.chmod(proc, owner.mode if owner.mode is not None else stat.S_IMODE(st.st_mode))
            os.utime(proc, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd)
    # sockets and devices are not copied


def _remove_at(dfd: int, name: str) -> os.stat_result | None:
    """Remove entry `name` of `dfd` unless it is a real directory; the directory's stat."""
    try:
        existing = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(existing.st_mode):
        return existing
    os.unlink(name, dir_fd=dfd)
    return None


def _copy_tree(sfd: int, dfd: int, owner: _Owner) -> None:
    """The contents of source directory `sfd` into directory `dfd` (symlinks kept as links),
    every source entry read relative to its directory's fd, never followed. The walk keeps
    its own stack (two descriptors a level), so a deep tree cannot exhaust the recursion."""
    # (source dir fd, destination dir fd, entries left, the dir's stat for its end; None at
    # the top, whose descriptors are the caller's)
    stack: list[tuple[int, int, Iterator[tuple[str, os.stat_result]], os.stat_result | None]]
    stack = [(sfd, dfd, iter(_stat_entries(sfd)), None)]
    try:
        while stack:
            src, dst, entries, dir_st = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                if dir_st is not None:
                    try:
                        _set_meta(dst, dir_st, owner)
                    finally:
                        os.close(src)
                        os.close(dst)
                continue
            name, st = entry
            if stat.S_ISLNK(st.st_mode):
                if _remove_at(dst, name) is not None:
                    shutil.rmtree(name, dir_fd=dst)
                os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
                owner.chown_at(dst, name, st)
                os.utime(
                    name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False
                )
            elif stat.S_ISDIR(st.st_mode):
                if _remove_at(dst, name) is None:
                    os.mkdir(name, 0o700, dir_fd=dst)
                sub = os.open(name, _DIR_FLAGS, dir_fd=dst)
                try:
                    src_sub = os.open(name, _DIR_FLAGS, dir_fd=src)
                except BaseException:
                    os.close(sub)
                    raise
                try:
                    sub_entries = iter(_stat_entries(src_sub))
                except BaseException:
                    os.close(sub)
                    os.close(src_sub)
                    raise
                stack.append((src_sub, sub, sub_entries, st))
            else:
                _copy_file(st, lambda n=name, fd=src: _open_file_at(fd, n), dst, name, owner)
    finally:
        for src, dst, _entries_left, dir_st in stack:
            if dir_st is not None:
                os.close(src)
                os.close(dst)


def _stat_entries(dir_fd: int) -> list[tuple[str, os.stat_result]]:
    with os.scandir(dir_fd) as it:
        return sorted((e.name, e.stat(follow_symlinks=False)) for e in it)


def _is_archive(fd: int) -> bool:
    """Whether ADD extracts the regular file `fd` (O_PATH) holds: a (compressed) tar whose
    first header reads, as Docker's isArchivePath decides (anything else is copied as a
    file)."""
    try:
        with os.fdopen(reopen(fd), "rb") as f, open_tar(decompressed(f)) as tar:  # type: ignore[arg-type]
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, LayerError):
        return False


def _extract(fd: int, name: str, dest: int) -> None:
    """ADD of a local archive (`fd`, O_PATH; `name` for errors): unpacked into `dest` as
    Docker unpacks it (chrooted there): names and links cannot leave `dest`, a symlink met
    on the way (one the image already had, or one the archive made) is resolved inside
    `dest`; owners, modes (set-id bits too) and device nodes kept, as Docker keeps them;
    `.wh.` names are ordinary names here."""
    try:
        with os.fdopen(reopen(fd), "rb") as f:
            extract_tar(f, dest, allow_devices=os.geteuid() == 0, same_owner=True, keep_setid=True)
    except LayerError as err:
        raise CopyError(f"failed to extract {name}: {err.message}") from None


def copy_sources(
    rootfs: str,
    sources: list[Source],
    dest: str,
    *,
    uid: int = 0,
    gid: int = 0,
    mode: int | None = None,
    decompress: bool = False,
    preserve_owner: bool = False,
) -> None:
    """Copy `sources` to image path `dest` (absolute; a trailing `/` kept) inside `rootfs`.

    `preserve_owner` keeps the sources' owners (COPY --from without --chown, as Docker).
    """
    owner = _Owner(uid, gid, mode, preserve_owner)
    root = _open_root(rootfs)
    try:
        for source in sources:
            _copy_source(root, source, dest, owner, decompress)
    finally:
        os.close(root)


def _copy_source(root: int, source: Source, dest: str, owner: _Owner, decompress: bool) -> None:
    with open_source(source) as sfd:
        if source.is_dir:
            target = _mkdir_all(root, dest, owner)
            try:
                _copy_tree(sfd, target, owner)
                if owner.mode is not None:
                    os.fchmod(target, owner.mode)
            finally:
                os.close(target)
            return
        st = os.fstat(sfd)
        if decompress and stat.S_ISREG(st.st_mode) and _is_archive(sfd):
            target = _mkdir_all(root, dest, owner)
            try:
                _extract(sfd, posixpath.basename(source.path), target)
            finally:
                os.close(target)
            return
        resolved = _resolved(root, dest)
        try:
            os.close(pathrs.open_in_root(root, resolved, os.O_PATH | os.O_DIRECTORY))
            is_dir = True
        except OSError:
            is_dir = False
        if dest.endswith("/") or is_dir:
            parent, name = dest, posixpath.basename(source.name)
        else:
            parent, name = posixpath.dirname(resolved) or "/", posixpath.basename(resolved)
        target = _mkdir_all(root, parent, owner)
        try:
            _copy_file(st, lambda: reopen(sfd), target, name, owner)
        finally:
            os.close(target)


def check_several(cmd: str, sources: list[Source], dest: str) -> None:
    """Several sources need a destination (as written) that ends with `/`."""
    if len(sources) > 1 and not dest.endswith("/"):
        raise CopyError(
            f"When using {cmd} with more than one source file, "
            "the destination must be a directory and end with a /"
        )


def normalize_dest(workdir: str, dest: str) -> str:
    """Docker's normalizeDest: a relative destination is joined to WORKDIR; `/` kept."""
    if dest.startswith("/"):
        return dest
    joined = posixpath.normpath(posixpath.join("/", workdir or "/", dest))
    return joined + "/" if dest.endswith("/") and joined != "/" else joined


# --- ADD of URLs ------------------------------------------------------------------


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


def download(url: str, directory: str) -> Source:
    """ADD of a URL: the file, named after the URL's last path element, mode 0600."""
    name = posixpath.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise CopyError(f"cannot determine filename from url: {url}")
    path = os.path.join(directory, name)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(path, "wb") as f:  # noqa: S310
            while chunk := resp.read(1 << 20):
                f.write(chunk)
            modified = resp.headers.get("Last-Modified")
    except OSError as err:
        raise CopyError(f"ADD failed: {url}: {err}") from None
    os.chmod(path, 0o600)
    if modified:
        try:
            ts = parsedate_to_datetime(modified).timestamp()
            os.utime(path, (ts, ts))
        except (TypeError, ValueError):
            pass
    return Source(name, directory, "/" + name, False)
