"""Docker's textual units: Go durations ("1m30s"), go-units byte sizes ("512m", "1.23MB"), ages.

Shared by the Dockerfile parser (HEALTHCHECK flags), the compose loader
(healthcheck, stop_grace_period, mem_limit) and the CLI (`--memory 512m`); human_duration is
go-units' HumanDuration ("About an hour") for ages and uptimes.
"""

from __future__ import annotations

import re

_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_DURATION_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration_ns(text: str) -> int:
    """Parse a duration as Go's time.ParseDuration does; return nanoseconds.

    "300ms", "-1.5h", "2h45m" and "0" are valid; a unit is required for non-zero values.
    Raises ValueError with Go's wording ("time: invalid duration ...").
    """
    original = text
    invalid = ValueError(f'time: invalid duration "{original}"')
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise invalid
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None or match.group(1) in ("", "."):
            if match is None and re.match(r"\d*\.?\d*$", text[pos:]):
                raise ValueError(f'time: missing unit in duration "{original}"')
            if match is None:
                unit = re.match(r"[\d.]*([^\d.]*)", text[pos:])
                if unit and unit.group(1):
                    raise ValueError(
                        f'time: unknown unit "{unit.group(1)}" in duration "{original}"'
                    )
            raise invalid
        total += float(match.group(1)) * _DURATION_UNITS_NS[match.group(2)]
        pos = match.end()
    if total > 2**63 - 1:
        raise invalid
    return sign * int(round(total))


def parse_duration(text: str) -> float:
    """Parse a Go duration and return seconds as a float."""
    return parse_duration_ns(text) / 1e9


def format_duration(ns: int) -> str:
    """Format nanoseconds as Go's Duration.String() does ("1m30s", "500ms", "0s")."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    hours, rest = divmod(ns, 3600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    seconds = rest / 1e9
    out = ""
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return sign + out + _trim(seconds) + "s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)([iI]?[bB]?)\Z", re.ASCII)
_BINARY_MULTIPLIERS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def parse_bytes(value: str | int) -> int:
    """Parse a memory size as go-units RAMInBytes does: "512m" is 512 MiB, "1g" is 1 GiB.

    Integers are bytes. Raises ValueError ("invalid size: '...'").
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid size: '{value}'")
    if isinstance(value, int):
        return value
    match = _SIZE.match(value.strip())
    if match is None:
        raise ValueError(f"invalid size: '{value}'")
    number, prefix, _suffix = match.groups()
    return int(float(number) * _BINARY_MULTIPLIERS[prefix.lower()])


def human_duration(seconds: float) -> str:
    """Go's units.HumanDuration ("Up 3 seconds", "2 hours ago"): docker's ages and uptimes."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _scaled(size: float, base: float, units: tuple[str, ...], precision: int) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    text = f"{size:.{precision}g}"
    if "e" in text:
        text = f"{size:.0f}"
    return f"{text}{units[i]}"


def human_size(size: float, precision: int = 4) -> str:
    """go-units' HumanSizeWithPrecision: decimal units ("1.235MB"); docker's image, history
    and container size columns use 3 significant digits ("1.23MB")."""
    return _scaled(float(size), 1000.0, _DECIMAL, precision)


def bytes_size(size: float) -> str:
    """go-units' BytesSize: binary units ("1.5GiB")."""
    return _scaled(float(size), 1024.0, _BINARY, 4)
