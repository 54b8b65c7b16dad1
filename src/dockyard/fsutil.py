"""Small file-system helpers shared by every store: atomic writes and JSON records."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part.

    The data goes to a temporary file in the same directory, is fsynced, then renamed
    over `path`; the directory is fsynced so the rename survives a crash.
    """
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


def read_json(path: str) -> Any:
    """Read a JSON file written by `write_json`."""
    with open(path, "rb") as f:
        return json.load(f)
