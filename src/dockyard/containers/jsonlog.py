"""Docker's json-file log driver: writing with max-size/max-file rotation, and reading back.

Each line of output becomes one JSON object per line in the log file:
`{"log":"hello\\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}`.
Rotated files are `<path>.1` (newest) to `<path>.<max-file - 1>` (oldest).
"""

from __future__ import annotations

import calendar
import errno
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator

from dockyard.errors import InvalidParameter

BUFFER_SIZE = 16 * 1024  # like Docker: a line longer than this is logged in parts

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(value: str) -> int:
    """Docker's RAMInBytes as used by max-size: "10m", "1k", "512", "1.5g"."""
    v = value.strip().lower()
    if v.endswith("b") and len(v) > 1 and v[-2] in "kmg":
        v = v[:-1]
    unit = v[-1] if v and v[-1] in "kmgb" else ""
    number = v[: len(v) - len(unit)] if unit else v
    try:
        size = float(number)
    except ValueError:
        raise InvalidParameter(f"invalid size: '{value}'") from None
    if size < 0:
        raise InvalidParameter(f"invalid size: '{value}'")
    return int(size * _UNITS[unit])


def log_options(log_config: dict | None) -> tuple[int | None, int]:
    """(max_size in bytes or None, max_file) from HostConfig.LogConfig, validated."""
    log_config = log_config or {}
    log_type = log_config.get("Type") or "json-file"
    if log_type not in ("json-file", "none"):
        raise InvalidParameter(f'logging driver "{log_type}" is not supported')
    cfg = log_config.get("Config") or {}
    unknown = set(cfg) - {"max-size", "max-file", "compress", "labels", "env", "tag"}
    if unknown:
        raise InvalidParameter(f"unknown log opt '{sorted(unknown)[0]}' for json-file log driver")
    for key in ("labels", "env", "tag"):
        if cfg.get(key):  # they only decorate `logs --details`, which dockyard does not offer
            raise InvalidParameter(f"log opt '{key}' is not supported by dockyard")
    if cfg.get("compress", "false").lower() not in ("", "false", "0", "f"):
        raise InvalidParameter("log opt 'compress' is not supported by dockyard")
    max_size = parse_size(cfg["max-size"]) if cfg.get("max-size") else None
    try:
        max_file = int(cfg.get("max-file", "1"))
    except ValueError:
        raise InvalidParameter("invalid value for max-file") from None
    if max_file < 1:
        raise InvalidParameter("max-file cannot be less than 1")
    if max_file > 1 and max_size is None:
        raise InvalidParameter("max-file can only be used with max-size")
    return max_size, max_file


def format_time(ns: int, fixed: bool = False) -> str:
    """RFC 3339 with nanoseconds in UTC; `fixed` keeps nine digits (docker logs -t)."""
    sec, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    digits = f"{frac:09d}"
    if not fixed:
        digits = digits.rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def parse_time(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 UTC time written by format_time."""
    text = text.rstrip("Z")
    base, _, frac = text.partition(".")
    sec = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return sec * 1_000_000_000 + int((frac + "000000000")[:9])


class LogWriter:
    """Appends a container's output to a json-file log, rotating by size.

    It never raises an I/O error: the container's output must keep flowing when the log
    cannot be written (a full disk, EIO). A line that cannot be written is dropped and
    counted (`dropped`, `error`), the partial write is cut off so the file keeps whole lines,
    and writing resumes by itself once the file system has room again (checked at most
    every RETRY_INTERVAL seconds, and only when RESUME_FREE bytes are free, so a disk on the
    edge is left to the writes that must happen: the container's state)."""

    RETRY_INTERVAL = 0.5
    RESUME_FREE = 1024 * 1024

    def __init__(
        self,
        path: str,
        max_size: int | None = None,
        max_file: int = 1,
        before_resume: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self._before_resume = before_resume  # called when a failing log tries again
        self.max_size = max_size
        self.max_file = max_file
        self._f = None
        self._size = 0
        self._partial: dict[str, bytes] = {}
        self.dropped = 0  # lines dropped since the log was opened
        self.error = ""  # the last write error, "" once writing works again
        self._retry_at = 0.0
        try:
            self._open("ab")
        except OSError as e:
            self._failed(e)

    def _open(self, mode: str) -> None:
        self._f = open(self.path, mode, buffering=0)  # noqa: SIM115 (held open for the log's life)
        self._size = os.fstat(self._f.fileno()).st_size

    @property
    def failing(self) -> bool:
        return bool(self.error)

    def write(self, stream: str, data: bytes) -> None:
        """Log `data` read from `stream`; complete lines are written, a rest waits for more."""
        buf = self._partial.pop(stream, b"") + data
        out = []
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line = buf[: nl + 1]
            while len(line) > BUFFER_SIZE:
                out.append(line[:BUFFER_SIZE])
                line = line[BUFFER_SIZE:]
            out.append(line)
            buf = buf[nl + 1 :]
        while len(buf) >= BUFFER_SIZE:
            out.append(buf[:BUFFER_SIZE])
            buf = buf[BUFFER_SIZE:]
        if buf:
            self._partial[stream] = buf
        for chunk in out:
            self._emit(stream, chunk)

    def flush(self) -> None:
        """Write what is left without a newline (at the end of a stream)."""
        for stream, buf in list(self._partial.items()):
            self._emit(stream, buf)
        self._partial.clear()

    def _emit(self, stream: str, chunk: bytes) -> None:
        if self.error and not self._may_retry():
            self.dropped += 1
            return
        entry = {
            "log": chunk.decode("utf-8", "replace"),
            "stream": stream,
            "time": format_time(time.time_ns()),
        }
        line = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        try:
            if self._f is None:
                self._open("ab")
            if (
                self.max_size is not None
                and self._size > 0
                and self._size + len(line) > self.max_size
            ):
                self._rotate()
            assert self._f is not None
            written = self._f.write(line) or 0
            if written < len(line):  # the disk filled up within the line
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as e:
            self._cut_back()
            self._failed(e)
            self.dropped += 1
            return
        self._size += len(line)
        self.error = ""

    def _may_retry(self) -> bool:
        now = time.monotonic()
        if now < self._retry_at:
            return False
        self._retry_at = now + self.RETRY_INTERVAL
        try:
            st = os.statvfs(os.path.dirname(self.path) or ".")
        except OSError:
            return False
        if st.f_bavail * st.f_frsize < self.RESUME_FREE:
            return False
        if self._before_resume is not None:
            self._before_resume()
        return True

    def _failed(self, e: OSError) -> None:
        self.error = os.strerror(e.errno) if e.errno else str(e)
        self._retry_at = time.monotonic() + self.RETRY_INTERVAL

    def _cut_back(self) -> None:
        """Drop a partly written line (the file ends with a whole line again)."""
        if self._f is None:
            return
        try:
            if os.fstat(self._f.fileno()).st_size > self._size:
                os.ftruncate(self._f.fileno(), self._size)
        except (OSError, ValueError):
            self._close_file()

    def _rotate(self) -> None:
        self._close_file()
        if self.max_file > 1:
            for n in range(self.max_file - 1, 1, -1):
                src = f"{self.path}.{n - 1}"
                if os.path.exists(src):
                    os.rename(src, f"{self.path}.{n}")
            os.rename(self.path, f"{self.path}.1")
            self._open("ab")
        else:
            self._open("wb")  # truncate: max-file 1

    def _close_file(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None
        self._size = 0

    def close(self) -> None:
        self.flush()
        self._close_file()


def log_files(path: str) -> list[str]:
    """The log's files, oldest first."""
    rotated = []
    n = 1
    while os.path.exists(f"{path}.{n}"):
        rotated.append(f"{path}.{n}")
        n += 1
    return list(reversed(rotated)) + ([path] if os.path.exists(path) else [])


def _entries(f) -> Iterator[tuple[int, str, bytes]]:
    for line in f:
        if not line.endswith(b"\n"):
            return  # a line being written: the follower reads it again later
        try:
            e = json.loads(line)
            yield parse_time(e["time"]), e["stream"], e["log"].encode()
        except (ValueError, KeyError, TypeError):
            continue


def read_log(
    path: str,
    *,
    stdout: bool = True,
    stderr: bool = True,
    since: float = 0,
    until: float = 0,
    timestamps: bool = False,
    details: bool = False,
    tail: int = -1,
    follow: bool = False,
    stopped: Callable[[], bool] = lambda: True,
    poll: float = 0.05,
) -> Iterator[tuple[str, bytes]]:
    """Yield (stream, data) of the log's entries like `docker logs`.

    `since`/`until` are Unix times (0: unbounded), `tail` < 0 means all. With `follow`,
    wait for new entries until `stopped()` is true and everything written was read.
    `details` puts the entry's attributes and a space before each line, as dockerd does;
    dockyard records no attributes (it refuses the labels/env/tag log opts), so a space.
    """
    streams = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}
    since_ns = int(since * 1e9)
    until_ns = int(until * 1e9) if until else 0

    def wanted(entry: tuple[int, str, bytes]) -> bool:
        t, stream, _ = entry
        return stream in streams and t >= since_ns and (not until_ns or t <= until_ns)

    def render(entry: tuple[int, str, bytes]) -> tuple[str, bytes]:
        t, stream, data = entry
        if details:
            data = b" " + data
        if timestamps:
            data = format_time(t, fixed=True).encode() + b" " + data
        return stream, data

    files = log_files(path)
    if tail == 0:
        selected: list | deque = []
    else:
        selected = deque(maxlen=tail) if tail > 0 else []
    pos = 0
    for name in files:
        try:
            with open(name, "rb") as f:
                for e in _entries(f):
                    if tail != 0 and wanted(e):
                        selected.append(e)
                if name == path:
                    pos = f.tell()
        except FileNotFoundError:
            continue
    for e in selected:
        yield render(e)
    if not follow or (until_ns and time.time_ns() > until_ns):
        return
    # Follow the live file: entries are appended; a rotation renames it away and starts a
    # new one, so finish the old file (still open) before switching to the new.
    try:
        f = open(path, "rb")  # noqa: SIM115 (held across the loop)
    except FileNotFoundError:
        return
    try:
        f.seek(pos)
        pending = b""
        while True:
            done = stopped()
            while True:
                pending += f.read()
                end = pending.rfind(b"\n") + 1
                for line in pending[:end].splitlines(keepends=True):
                    for e in _entries([line]):
                        if until_ns and e[0] > until_ns:
                            return
                        if wanted(e):
                            yield render(e)
                pending = pending[end:]
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    break  # between a rotation's rename and the new file: look again later
                if st.st_ino == os.fstat(f.fileno()).st_ino and st.st_size >= f.tell():
                    break
                f.close()  # rotated (or truncated): the rest of the old file was read above
                f = open(path, "rb")  # noqa: SIM115
                pending = b""
            if done:
                return
            time.sleep(poll)
    finally:
        f.close()
