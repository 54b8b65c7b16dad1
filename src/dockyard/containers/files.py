"""Writing the container directory's derived files: atomically (a reader sees the old file or
the new one) but without fsync, for files that are regenerated at each start or rewritten
often (the OCI bundle, monitor.json, /etc files, the running state). They need to survive
the daemon's death (the page cache does), not a power cut: after one, containers are gone
and reconcile rewrites them. Records a client was told about use fsutil's durable writes."""

from __future__ import annotations

import json
import os
from typing import Any

from dockyard.fsutil import on_full_disk


def write_file(path: str, data: bytes, mode: int = 0o644) -> None:
    on_full_disk(lambda: _write_file(path, data, mode))


def _write_file(path: str, data: bytes, mode: int) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: str, obj: Any) -> None:
    write_file(path, json.dumps(obj, separators=(",", ":")).encode())
