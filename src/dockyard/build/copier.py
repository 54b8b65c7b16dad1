"""COPY and ADD: finding the sources and copying them into a root filesystem, Docker's rules.

Sources (`find_sources`): paths relative to a source root (the build context, or the root
filesystem of a stage or image for `--from`); `..` may not leave the root; symbolic links
are resolved inside the root; wildcards (`*`, `?`, `[...]`, Go's filepath.Match) are
matched against every path of the root. Docker's words for what goes wrong.

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
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from dockyard.errors import InvalidParameter
from dockyard.linux import pathrs
from dockyard.pathmatch import BadPattern, compile_pattern
from dockyard.runtime.user import resolve_in_root, resolve_user
from dockyard.snapshots.layer import LayerError, decompressed, extract_tar
from dockyard.snapshots.safetar import open_tar

_WILDCARD = re.compile(r"[*?\[]")


class CopyError(InvalidParameter):
    """COPY or ADD failed; the message is Docker's."""


@dataclass(frozen=True)
class Source:
    """One resolved source: `name` as matched (relative to its root), `path` on the host."""

    name: str
    path: str
    is_dir: bool


def _resolve(root: str, path: str) -> str:
    """resolve_in_root, its refusals (a symlink loop) as CopyError."""
    try:
        return resolve_in_root(root, path)
    except CopyError:
        raise
    except InvalidParameter as e:
        raise CopyError(e.message) from None


def _clean(src: str) -> str:
    """Docker's source path clean-up: leading `/` and `./` dropped, `a/../b` folded."""
    cleaned = posixpath.normpath(src) if src else "."
    cleaned = cleaned.lstrip("/") if cleaned != "/" else "."
    return cleaned or "."


def find_sources(root: str, srcs: list[str], *, from_context: bool) -> list[Source]:
    """The sources COPY/ADD `srcs` name under `root` (see the module docstring)."""
    found: list[Source] = []
    for src in srcs:
        raw = posixpath.normpath(src) if src else "."
        if not raw.startswith("/") and (raw == ".." or raw.startswith("../")):
            raise CopyError(f"forbidden path outside the build context: {src} ()")
        cleaned = _clean(src)
        if _WILDCARD.search(cleaned):
            found.extend(_wildcard(root, cleaned))
            continue
        host = _resolve(root, cleaned)
        try:
            st = os.stat(host)
        except FileNotFoundError:
            where = (
                "file not found in build context or excluded by .dockerignore: "
                if from_context
                else ""
            )
            raise CopyError(f"{where}stat {cleaned}: file does not exist") from None
        found.append(Source(cleaned, host, stat.S_ISDIR(st.st_mode)))
    if not found:
        raise CopyError("no source files were specified")
    return found


def _wildcard(root: str, pattern: str) -> list[Source]:
    try:
        regex = compile_pattern(pattern)
    except BadPattern as e:
        raise CopyError(str(e)) from None
    out: list[Source] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if regex.fullmatch(rel):
                host = _resolve(root, rel)
                try:
                    st = os.stat(host)
                except FileNotFoundError:
                    continue
                out.append(Source(rel, host, stat.S_ISDIR(st.st_mode)))
    return out


def source_hash(sources: list[Source], hasher) -> str:  # noqa: ANN001 (BuildContext.hash_path)
    """Docker's `file:<hex>`, `dir:<hex>` or `multi:<hex>` for the history and the cache."""
    hashes = [hasher(s.path) for s in sources]
    if len(sources) == 1:
        return ("dir:" if sources[0].is_dir else "file:") + hashes[0]
    return "multi:" + hashlib.sha256("".join(hashes).encode()).hexdigest()


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


def _copy_file(src: str, dfd: int, name: str, owner: _Owner) -> None:
    """Copy file `src` (of the context or a stage: a path we trust) to entry `name` of
    directory `dfd`, replacing what is there unless it is a directory."""
    st = os.stat(src)
    try:
        existing = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    if existing is not None:
        if stat.S_ISDIR(existing.st_mode):
            raise CopyError(f"cannot overwrite directory {name!r} with a file")
        os.unlink(name, dir_fd=dfd)
    if stat.S_ISREG(st.st_mode):
        with open(src, "rb") as fin:
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


def _copy_tree(src: str, dfd: int, owner: _Owner) -> None:
    """The contents of directory `src` into directory `dfd` (symlinks kept as links)."""
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        name = entry.name
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            if _remove_at(dfd, name) is not None:
                shutil.rmtree(name, dir_fd=dfd)
            os.symlink(os.readlink(entry.path), name, dir_fd=dfd)
            owner.chown_at(dfd, name, st)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dfd, follow_symlinks=False)
        elif stat.S_ISDIR(st.st_mode):
            if _remove_at(dfd, name) is None:
                os.mkdir(name, 0o700, dir_fd=dfd)
            sub = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            try:
                _copy_tree(entry.path, sub, owner)
                _set_meta(sub, st, owner)
            finally:
                os.close(sub)
        else:
            _copy_file(entry.path, dfd, name, owner)


def _is_archive(path: str) -> bool:
    """Whether ADD extracts `path`: a (compressed) tar whose first header reads, as Docker's
    isArchivePath decides (anything else is copied as a file)."""
    try:
        with open(path, "rb") as f, open_tar(decompressed(f)) as tar:  # type: ignore[arg-type]
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, LayerError):
        return False


def _extract(archive: str, dest: int) -> None:
    """ADD of a local archive: unpacked into `dest` as Docker unpacks it (chrooted there):
    names and links cannot leave `dest`, a symlink met on the way (one the image already
    had, or one the archive made) is resolved inside `dest`; owners, modes (set-id bits too)
    and device nodes kept, as Docker keeps them; `.wh.` names are ordinary names here."""
    try:
        with open(archive, "rb") as f:
            extract_tar(f, dest, allow_devices=os.geteuid() == 0, same_owner=True, keep_setid=True)
    except LayerError as err:
        raise CopyError(f"failed to extract {os.path.basename(archive)}: {err.message}") from None


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
    if source.is_dir:
        target = _mkdir_all(root, dest, owner)
        try:
            _copy_tree(source.path, target, owner)
            if owner.mode is not None:
                os.fchmod(target, owner.mode)
        finally:
            os.close(target)
        return
    if decompress and _is_archive(source.path):
        target = _mkdir_all(root, dest, owner)
        try:
            _extract(source.path, target)
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
        _copy_file(source.path, target, name, owner)
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
    return Source(name, path, False)
