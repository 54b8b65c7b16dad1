"""`.env` and `env_file` files: KEY=VALUE lines, as Docker Compose reads them.

- Blank lines and lines starting with `#` are skipped; `export KEY=VALUE` is accepted.
- Unquoted values are trimmed and end at ` #` (an inline comment); `${VAR}` is interpolated.
- Single-quoted values are literal and may span lines.
- Double-quoted values may span lines, know the escapes \\n \\r \\t \\\\ \\" \\$ and are
  interpolated.
- A line with only a KEY takes its value from the environment, or is skipped.
Interpolation sees `lookup` (the shell's environment), then the variables defined earlier
in the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dockyard.compose.errors import ComposeError
from dockyard.compose.interpolation import Interpolator, InvalidTemplate, MissingRequired

_KEY = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.\-\[\]]*)\s*(=|:)?\s*")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "\\$"}


class _Chained(dict):
    """The outer lookup (the shell's environment) first, then the file's variables so far,
    as compose-go's dotenv looks them up."""

    def __init__(self, lookup: Callable[[str], str | None]) -> None:
        super().__init__()
        self._lookup = lookup

    def get(self, key, default=None):  # type: ignore[override]
        value = self._lookup(key)
        if value is not None:
            return value
        return self[key] if key in self else default


def parse_dotenv(
    text: str, source: str, lookup: Callable[[str], str | None] = lambda _name: None
) -> dict[str, str]:
    """The variables of an env file, in order. Raises ComposeError naming file and line."""
    values = _Chained(lookup)
    pos = 0
    line_no = 1
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            pos = end + 1
            line_no += 1
            continue
        match = _KEY.match(text, pos, end)
        if match is None:
            raise ComposeError(
                f'{source}: line {line_no}: unexpected character in variable name "{stripped}"'
            )
        key = match.group(1)
        if match.group(2) is None:
            if text[match.end() : end].strip():
                raise ComposeError(
                    f'{source}: line {line_no}: unexpected character "{text[match.end()]}" '
                    f'in variable name "{line.strip()}"'
                )
            value = lookup(key)
            if value is not None:
                values[key] = value
            pos = end + 1
            line_no += 1
            continue
        start = match.end()
        quote = text[start : start + 1]
        try:
            if quote in ("'", '"'):
                close = _closing_quote(text, start + 1, quote)
                if close < 0:
                    raise ComposeError(f"{source}: line {line_no}: unterminated quoted value")
                raw = text[start + 1 : close]
                if quote == "'":
                    value = raw
                else:
                    value = _interpolate(_unescape(raw), values)
                line_no += raw.count("\n")
                end = text.find("\n", close)
                end = len(text) if end < 0 else end
            else:
                raw = text[start:end]
                comment = re.search(r"\s#", raw)
                if comment:
                    raw = raw[: comment.start()]
                value = _interpolate(raw.strip(), values)
        except (InvalidTemplate, MissingRequired) as err:
            raise ComposeError(f"{source}: line {line_no}: {err}") from None
        values[key] = value
        pos = end + 1
        line_no += 1
    return dict(values)


def _closing_quote(text: str, start: int, quote: str) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\" and quote == '"':
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), raw)


def _interpolate(value: str, values: _Chained) -> str:
    if "$" not in value:
        return value
    return Interpolator(values).substitute(value.replace("\\$", "$$"))


def load_dotenv(
    path: str, lookup: Callable[[str], str | None] = lambda _name: None
) -> dict[str, str]:
    """Read and parse an env file (ComposeError when it cannot be read)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ComposeError(f"env file {path} not found") from None
    except OSError as err:
        raise ComposeError(f"env file {path}: {err.strerror}") from None
    return parse_dotenv(text, path, lookup)
