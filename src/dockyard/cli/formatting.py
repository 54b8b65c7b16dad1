"""Output as docker prints it: tab-aligned tables, `--format` templates, times and sizes.

- `tabwrite(lines)`: Go's tabwriter as docker configures it (minwidth 10, padding 3).
- `render_rows(rows, fmt, default_table, headers)`: `table ...`, a plain template, `json`.
- `human_duration`, `time_ago`, `human_size` (decimal units: 1.23MB), `bytes_size` (binary).
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from collections.abc import Iterable
from typing import Any

from dockyard.cli.gotemplate import Template, TemplateError
from dockyard.units import bytes_size, human_duration, human_size  # noqa: F401 (re-exported)

MIN_WIDTH = 10
PADDING = 3


def _width(s: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def tabwrite(lines: Iterable[str]) -> str:
    """Align tab-separated cells; the text after a line's last tab is not padded."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), _width(cell) + PADDING, MIN_WIDTH)
    out = []
    for row in rows:
        parts = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row[:-1])]
        parts.append(row[-1])
        out.append("".join(parts))
    return "".join(line + "\n" for line in out)


def tabwrite_plain(lines: list[str], min_width: int = 20, padding: int = 1) -> str:
    """docker version's layout: a label column (minwidth 20, padding 1) per block of lines
    that have a tab; lines without a tab end a block."""
    out: list[str] = []
    block: list[list[str]] = []

    def flush() -> None:
        if not block:
            return
        w = max(max(_width(r[0]) + padding, min_width) for r in block)
        out.extend(r[0] + " " * (w - _width(r[0])) + r[1] for r in block)
        block.clear()

    for line in lines:
        if "\t" in line:
            block.append(line.split("\t", 1))
        else:
            flush()
            out.append(line)
    flush()
    return "".join(line + "\n" for line in out)


def render_rows(
    rows: list[dict[str, Any]],
    fmt: str | None,
    default_table: str,
    headers: dict[str, str],
    quiet_field: str | None = None,
    quiet: bool = False,
) -> str:
    """Rows through a docker `--format` (or the default table), as text to print."""
    if quiet and quiet_field:
        return "".join(f"{r[quiet_field]}\n" for r in rows)
    fmt = fmt or default_table
    if fmt == "json":
        fmt = "{{json .}}"
    table = fmt.startswith("table")
    body = fmt[5:].lstrip() if table else fmt
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    try:
        tmpl = Template(body)
        lines = []
        if table:
            lines.append(Template(body).execute(HeaderContext(headers)))
        for row in rows:
            lines.append(tmpl.execute(row))
    except TemplateError as exc:
        raise FormatError(f"template: {exc}") from None
    if table:
        return tabwrite("\n".join(lines).split("\n"))
    return "".join(line + "\n" for line in lines)


class FormatError(Exception):
    """A `--format` template that cannot be parsed or executed."""


class HeaderContext(dict):
    """A row whose every field renders as its column header (as docker's header context)."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(headers)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key in self:
            return dict.__getitem__(self, key)
        return key.upper()


def render_each(objects: list[Any], fmt: str) -> str:
    """`inspect --format`: the template once per object."""
    fmt = fmt.replace("\\t", "\t").replace("\\n", "\n")
    if fmt == "json":
        fmt = "{{json .}}"
    try:
        tmpl = Template(fmt)
        return "".join(tmpl.execute(o) + "\n" for o in objects)
    except TemplateError as exc:
        raise FormatError(f"template: {exc}") from None


def indent_json(objects: Any) -> str:
    """docker inspect's default output: an indented JSON array."""
    return json.dumps(objects, indent=4, ensure_ascii=False) + "\n"


# ----------------------------------------------------------------------------- times


def parse_time(value: str | int | float | None) -> float | None:
    """A Docker timestamp (RFC 3339 with nanoseconds, or unix seconds) as unix seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    if value.startswith("0001-01-01"):
        return None
    s = value.strip()
    frac = 0.0
    if "." in s:
        head, _, rest = s.partition(".")
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        frac = float("0." + digits) if digits else 0.0
        s = head + rest[i:]
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    return dt.timestamp() + frac


def time_ago(value: str | int | float | None, now: float | None = None) -> str:
    t = parse_time(value)
    if t is None:
        return ""
    now = time.time() if now is None else now
    return human_duration(max(0.0, now - t)) + " ago"


# ----------------------------------------------------------------------------- sizes


def truncate_id(value: str, no_trunc: bool = False) -> str:
    v = value.split(":", 1)[1] if value.startswith("sha256:") else value
    return value if no_trunc else v[:12]


def eprint(*args: Any) -> None:
    print(*args, file=sys.stderr)
