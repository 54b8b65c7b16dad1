"""Small file-system helpers shared by every store: atomic writes and JSON records, and the
space reserve that lets removals write their records on a full disk."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

RESERVE_NAME = ".space-reserve"
RESERVE_SIZE = 4 << 20


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part.

    The data goes to a temporary file in the same directory, is fsynced, then renamed
    over `path`; the directory is fsynced so the rename survives a crash.
    """
    on_full_disk(lambda: _atomic_write(path, data, mode))


def _atomic_write(path: str, data: bytes, mode: int) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def fsync_dir(directory: str) -> None:
    """fsync a directory so that renames and creations in it are durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: str, obj: Any, mode: int = 0o644) -> None:
    """Atomically write `obj` as JSON."""
    atomic_write(path, json.dumps(obj, indent=None, separators=(",", ":")).encode(), mode)


def tree_stats(top: str) -> Iterator[os.stat_result]:
    """The lstat of `top` and of everything below it, walked by directory descriptors
    (os.fwalk) without following a link: a tree that a running container changes meanwhile
    cannot lead the walk out of it. Entries that vanish during the walk are skipped."""
    try:
        yield os.stat(top, follow_symlinks=False)
    except FileNotFoundError:
        return
    for _dirpath, dirnames, filenames, dir_fd in os.fwalk(top):
        for name in dirnames + filenames:
            try:
                yield os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue


def read_json(path: str) -> Any:
    """Read a JSON file written by `write_json`."""
    with open(path, "rb") as f:
        return json.load(f)


# ----- the space reserve ---------------------------------------------------------------------
#
# Every record is written as a new file renamed over the old one, so even a removal needs a
# few free blocks for a moment (the smaller references file, a container's "removing" mark).
# On a full disk that would leave nothing removable through the API. So the daemon keeps
# RESERVE_SIZE bytes of its data root allocated in one file; a write made inside
# `freeing_space()` (a removal or prune) that fails with ENOSPC gives that file back and tries
# again. The reserve is taken anew when the removal is over, if there is room by then.

_reserve_lock = threading.Lock()
_reserve_path: str | None = None
_freeing = threading.local()


def make_reserve(root: str, size: int = RESERVE_SIZE) -> bool:
    """Allocate (or top up) the reserve file in `root`; False when the disk has no room."""
    global _reserve_path
    path = os.path.join(root, RESERVE_NAME)
    with _reserve_lock:
        _reserve_path = path
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            log.warning("space reserve %s: %s", path, e.strerror)
            return False
        try:
            os.posix_fallocate(fd, 0, size)
            return True
        except OSError as e:
            os.ftruncate(fd, 0)  # all or nothing: a part of it would be given back the same
            log.warning("space reserve %s not allocated: %s", path, e.strerror)
            return False
        finally:
            os.close(fd)


def release_reserve() -> bool:
    """Give the reserve's blocks back to the file system; False when there were none."""
    with _reserve_lock:
        if _reserve_path is None:
            return False
        try:
            if os.stat(_reserve_path).st_blocks == 0:
                return False
            with open(_reserve_path, "r+b") as f:
                f.truncate(0)
        except OSError:
            return False
        log.warning("disk full: the space reserve %s was released for a removal", _reserve_path)
        return True


@contextlib.contextmanager
def freeing_space() -> Iterator[None]:
    """Mark the writes of this thread as part of a removal: on a full disk they may use the
    space reserve. The reserve is taken again when the outermost removal ends."""
    depth = getattr(_freeing, "depth", 0)
    _freeing.depth = depth + 1
    try:
        yield
    finally:
        _freeing.depth = depth
        if depth == 0 and _reserve_path is not None:
            with _reserve_lock:
                path = _reserve_path
            try:
                empty = os.stat(path).st_blocks == 0
            except OSError:
                empty = True
            if empty:
                make_reserve(os.path.dirname(path))


def frees_space(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorate a removal: its writes run inside `freeing_space()`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with freeing_space():
            return fn(*args, **kwargs)

    return wrapper


def on_full_disk(write: Callable[[], T]) -> T:
    """Run `write`; if it fails with ENOSPC inside `freeing_space()`, release the reserve and
    run it once more."""
    try:
        return write()
    except OSError as e:
        if e.errno != errno.ENOSPC or not getattr(_freeing, "depth", 0):
            raise
        if not release_reserve():
            raise
    return write()
