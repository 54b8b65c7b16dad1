"""RFC 3339 timestamps as Docker writes them (nanoseconds, `Z`) and reads them."""

from __future__ import annotations

import datetime
import re
import time

ZERO_TIME = "0001-01-01T00:00:00Z"
_FRACTION = re.compile(r"\.(\d+)")


def now_rfc3339() -> str:
    ns = time.time_ns()
    dt = datetime.datetime.fromtimestamp(ns // 1_000_000_000, datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}Z"


def parse_rfc3339(text: str | None) -> float:
    """Seconds since the epoch (0 for missing or unparseable input)."""
    if not text:
        return 0.0
    s = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    s = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), s, count=1)
    try:
        dt = datetime.datetime.fromisoformat(s)
    except ValueError:
        return 0.0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    return dt.timestamp()
