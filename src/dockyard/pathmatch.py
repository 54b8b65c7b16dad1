"""Go's `path.Match` (used by COPY wildcards and `reference=` image filters), as a regex.

`*` matches any run of characters but `/`, `?` one character but `/`, `[...]` a class of
ranges (`[^...]` negated; `\\` escapes; `-` and `]` must be escaped inside; the class must not
be empty). A malformed pattern raises BadPattern, as Go returns ErrBadPattern.
"""

from __future__ import annotations

import re
from functools import lru_cache


class BadPattern(ValueError):
    """The pattern is malformed (Go's path.ErrBadPattern)."""

    def __init__(self, pattern: str) -> None:
        super().__init__(f"syntax error in pattern: {pattern}")
        self.pattern = pattern


def _escaped(pattern: str, i: int) -> tuple[str, int]:
    """One character of a class at `i` (after a possible `\\`) and the index after it."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise BadPattern(pattern)
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise BadPattern(pattern)
    return pattern[i], i + 1


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    """The regex for the class whose body starts at `i` (after `[`) and the index after `]`."""
    negate = i < len(pattern) and pattern[i] == "^"
    if negate:
        i += 1
    ranges: list[str] = []
    count = 0
    while True:
        if i < len(pattern) and pattern[i] == "]" and count > 0:
            i += 1
            break
        lo, i = _escaped(pattern, i)
        hi = lo
        if i < len(pattern) and pattern[i] == "-":
            hi, i = _escaped(pattern, i + 1)
        count += 1
        if lo <= hi:  # Go accepts an inverted range; it matches nothing
            ranges.append(re.escape(lo) + "-" + re.escape(hi))
    if not ranges:
        return ("." if negate else "(?!)"), i
    return "[" + ("^" if negate else "") + "".join(ranges) + "]", i


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled regex (use `.fullmatch`) for a Go path.Match pattern. Raises BadPattern."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            regex, i = _char_class(pattern, i + 1)
            out.append(regex)
        elif c == "\\":
            if i + 1 >= len(pattern):
                raise BadPattern(pattern)
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def path_match(pattern: str, name: str) -> bool:
    """Does `name` match the whole of `pattern`? Raises BadPattern for a malformed pattern."""
    return compile_pattern(pattern).fullmatch(name) is not None
