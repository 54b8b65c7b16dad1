"""Variable interpolation in compose files, with the compose spec's rules.

`$VAR` and `${VAR}` are replaced by the variable's value (an unset variable gives an empty
string and a warning); `${VAR:-default}` / `${VAR-default}` give the default when VAR is
unset or empty / unset; `${VAR:+replacement}` / `${VAR+replacement}` give the replacement
when VAR is set and not empty / set; `${VAR:?error}` / `${VAR?error}` fail when VAR is unset
or empty / unset. Defaults and replacements may themselves contain `${...}`. `$$` is a
literal `$`. Names are `[_a-zA-Z][_a-zA-Z0-9]*`; anything else after `${` is an invalid
template. A `$` followed by anything else is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from dockyard.compose.errors import ComposeError

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_MODIFIERS = (":-", ":?", ":+", "-", "?", "+")


class InvalidTemplate(Exception):
    def __init__(self, template: str) -> None:
        super().__init__(template)
        self.template = template


class MissingRequired(Exception):
    def __init__(self, variable: str, reason: str) -> None:
        message = f"required variable {variable} is missing a value"
        super().__init__(f"{message}: {reason}" if reason else message)


@dataclass
class Interpolator:
    """Substitutes variables from `environ`; unset names are collected in `missing`."""

    environ: Mapping[str, str]
    missing: list[str] = field(default_factory=list)

    def substitute(self, template: str) -> str:
        out: list[str] = []
        i = 0
        n = len(template)
        while i < n:
            ch = template[i]
            if ch != "$" or i + 1 >= n:
                out.append(ch)
                i += 1
                continue
            following = template[i + 1]
            if following == "$":
                out.append("$")
                i += 2
            elif following == "{":
                end = _closing_brace(template, i + 2)
                if end < 0:
                    raise InvalidTemplate(template)
                out.append(self._braced(template[i + 2 : end], template))
                i = end + 1
            else:
                match = _NAME.match(template, i + 1)
                if match is None:
                    out.append("$")
                    i += 1
                    continue
                out.append(self._value(match.group(0)) or "")
                i = match.end()
        return "".join(out)

    def _value(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None and name not in self.missing:
            self.missing.append(name)
        return value

    def _braced(self, body: str, template: str) -> str:
        match = _NAME.match(body)
        if match is None:
            raise InvalidTemplate(template)
        name, rest = match.group(0), body[match.end() :]
        if not rest:
            return self._value(name) or ""
        modifier = next((m for m in _MODIFIERS if rest.startswith(m)), None)
        if modifier is None:
            raise InvalidTemplate(template)
        word = rest[len(modifier) :]
        value = self.environ.get(name)
        empty_counts = modifier.startswith(":")
        unset = value is None or (empty_counts and value == "")
        kind = modifier[-1]
        if kind == "-":
            return self.substitute(word) if unset else (value or "")
        if kind == "+":
            return "" if unset else self.substitute(word)
        if unset:
            raise MissingRequired(name, self.substitute(word))
        return value or ""


def _closing_brace(text: str, start: int) -> int:
    """The index of the `}` closing a `${` whose body starts at start (nesting aware)."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def format_path(path: tuple[object, ...]) -> str:
    """("services", "web", "ports", 0) -> "services.web.ports[0]"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def interpolate(
    data: object,
    environ: Mapping[str, str],
    source: str,
    warn: Callable[[str], None] | None = None,
    path: tuple[object, ...] = (),
) -> object:
    """Interpolate every string value (not the keys) of a loaded compose file."""
    if isinstance(data, dict):
        return {
            key: interpolate(value, environ, source, warn, (*path, key))
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [
            interpolate(item, environ, source, warn, (*path, index))
            for index, item in enumerate(data)
        ]
    if not isinstance(data, str) or "$" not in data:
        return data
    interpolator = Interpolator(environ)
    try:
        result = interpolator.substitute(data)
    except InvalidTemplate as err:
        raise ComposeError(
            f"{source}: invalid interpolation format for {format_path(path)}.\n"
            f"You may need to escape any $ with another $.\n{err.template}"
        ) from None
    except MissingRequired as err:
        raise ComposeError(
            f"{source}: error while interpolating {format_path(path)}: {err}"
        ) from None
    if warn is not None:
        for name in interpolator.missing:
            warn(f'The "{name}" variable is not set. Defaulting to a blank string.')
    return result
