""".dockerignore: reading the patterns, matching paths, and walking a build context.

The rules are those of the docker CLI and moby/patternmatcher:
- `#` comment lines and blank lines are skipped; each pattern is trimmed and cleaned like
  Go's filepath.Clean (so `./a/../b` is `b`); a leading `/` is dropped.
- `*` and `?` never match `/`; `**` matches any number of directories (also none);
  `[...]` classes and `\\` escapes are allowed.
- A pattern matches a path when it matches the path or one of its parent directories.
- The last matching pattern wins: `!pattern` re-includes what earlier patterns excluded.
- The Dockerfile and .dockerignore are always sent, even when a pattern excludes them.
- An excluded directory is still entered when an exception pattern may match inside it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dockyard.errors import InvalidParameter


class DockerignoreError(InvalidParameter):
    """A pattern that cannot be compiled."""


def go_clean(path: str) -> str:
    """Go's filepath.Clean for slash-separated paths."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file, cleaned as the docker CLI does."""
    patterns: list[str] = []
    for number, raw in enumerate(text.split("\n")):
        line = raw.lstrip("\ufeff") if number == 0 else raw
        line = line.rstrip("\r")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


_EXACT, _PREFIX, _SUFFIX, _REGEXP = "exact", "prefix", "suffix", "regexp"


@dataclass
class Pattern:
    """One compiled pattern."""

    text: str
    exclusion: bool
    kind: str
    regex: re.Pattern[str] | None

    @classmethod
    def compile(cls, raw: str) -> Pattern:
        text = go_clean(raw.strip())
        exclusion = text.startswith("!")
        if exclusion:
            if len(text) == 1:
                raise DockerignoreError('illegal exclusion pattern: "!"')
            text = text[1:]
        kind, source = _translate(text)
        try:
            regex = re.compile(source, re.DOTALL)
        except re.error:
            raise DockerignoreError(f"syntax error in pattern: {text}") from None
        return cls(text, exclusion, kind, regex)

    def match(self, path: str) -> bool:
        if self.kind == _EXACT:
            return path == self.text
        if self.kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == _SUFFIX:
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regex is not None
        return self.regex.match(path) is not None


def _translate(pattern: str) -> tuple[str, str]:
    """The match kind and the regular expression of a pattern (patternmatcher's rules)."""
    out = ["^"]
    kind = _EXACT
    in_class = False
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if in_class and ch not in "]\\":
            # Inside [...] every character is literal but a range's "-"; Go's regexp
            # also takes "[", "&", "~", "|" and "--" literally there.
            literal = ch in "[&~|" or (ch == "-" and pattern[i + 1 : i + 2] == "-")
            out.append("\\" + ch if literal else ch)
        elif ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                first = i == 0
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    if kind == _EXACT:
                        kind = _PREFIX
                    else:
                        out.append(".*")
                        kind = _REGEXP
                else:
                    out.append("(.*/)?")
                    kind = _REGEXP
                if first:
                    kind = _SUFFIX
                continue
            out.append("[^/]*")
            kind = _REGEXP
        elif ch == "?":
            out.append("[^/]")
            kind = _REGEXP
        elif ch == "\\":
            # patternmatcher keeps such patterns "exact" and then compares them with the
            # backslash still in; we match the escaped character as it was meant.
            if i + 1 < n:
                out.append(re.escape(pattern[i + 1]))
                i += 1
            else:
                out.append("\\\\")
            kind = _REGEXP
        elif ch in "[]":
            in_class = ch == "["
            out.append(ch)
            kind = _REGEXP
        else:
            out.append(re.escape(ch))
        i += 1
    if kind != _REGEXP:
        out = ["^"]  # only the syntax check compiles it
    out.append("(/.*)?$")
    return kind, "".join(out)


class PatternMatcher:
    """A list of patterns; `matches(path)` says whether the path is excluded."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = [Pattern.compile(p) for p in patterns if p.strip()]

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def matches(self, path: str) -> bool:
        """True when the path (slash-separated, relative to the context) is excluded."""
        path = go_clean(path)
        parent = os.path.dirname(path) or "."
        parent_dirs = parent.split("/")
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit and parent != ".":
                for i in range(len(parent_dirs)):
                    if pattern.match("/".join(parent_dirs[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched

    def may_include_inside(self, directory: str) -> bool:
        """Whether an exception pattern could re-include something under an excluded dir."""
        prefix = directory + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)


def build_file_patterns(
    patterns: list[str], dockerfile: str = "Dockerfile", dockerfile_from_stdin: bool = False
) -> list[str]:
    """Patterns with exceptions added so .dockerignore and the Dockerfile are always sent."""
    patterns = list(patterns)
    if PatternMatcher(patterns).matches(".dockerignore"):
        patterns.append("!.dockerignore")
    dockerfile = dockerfile.replace(os.sep, "/")
    if not dockerfile_from_stdin and PatternMatcher(patterns).matches(dockerfile):
        patterns.append("!" + dockerfile)
    return patterns


def load(context_dir: str) -> list[str]:
    """The patterns of context_dir/.dockerignore ([] when there is none)."""
    try:
        with open(os.path.join(context_dir, ".dockerignore"), encoding="utf-8") as fh:
            return read_patterns(fh.read())
    except FileNotFoundError:
        return []


def walk_context(
    context_dir: str,
    patterns: list[str] | None = None,
    dockerfile: str = "Dockerfile",
) -> Iterator[str]:
    """Yield the relative paths (directories, files, links) the build context sends.

    patterns default to the context's .dockerignore. Paths come in lexical order, each
    directory before its contents; symbolic links are yielded and never followed.
    """
    if patterns is None:
        patterns = load(context_dir)
    matcher = PatternMatcher(build_file_patterns(patterns, dockerfile))
    yield from _walk(context_dir, "", matcher)


def _walk(root: str, rel: str, matcher: PatternMatcher) -> Iterator[str]:
    directory = os.path.join(root, rel) if rel else root
    with os.scandir(directory) as entries:
        names = sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries)
    for name, is_dir in names:
        path = f"{rel}/{name}" if rel else name
        if matcher.matches(path):
            if is_dir and matcher.has_exclusions and matcher.may_include_inside(path):
                yield from _walk(root, path, matcher)
            continue
        yield path
        if is_dir:
            yield from _walk(root, path, matcher)
