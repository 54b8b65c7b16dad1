"""The Dockerfile parser: text -> a syntax tree of stages and instructions.

It follows BuildKit's frontend/dockerfile parser (which Docker's classic builder uses too):

1. Lines. Parser directives (`# escape=`, `# syntax=`, `# check=`) are read only at the very
   top, before any instruction, comment or blank line. Comment lines are dropped, also in
   the middle of a continued instruction; the escape character at the end of a line
   continues it; empty continuation lines are skipped.
2. Nodes. Each logical line is split into keyword, `--flags` and the rest; the rest is parsed
   by the keyword's rule: JSON array or shell form (RUN CMD ENTRYPOINT SHELL), JSON array or
   words (ADD COPY VOLUME), key=value pairs (ENV LABEL), words (ARG EXPOSE FROM), a string
   (USER WORKDIR STOPSIGNAL MAINTAINER), a nested instruction (ONBUILD), a type and a
   command (HEALTHCHECK). Heredocs (`<<EOF`) of RUN, ADD and COPY read the following lines.
3. Instructions. Arguments and flags are checked as Docker does, and the instructions are
   grouped into stages at each FROM; ARGs before the first FROM are meta arguments.

Variables are not substituted here: the builder calls `Instruction.expand(env)` when it has
the environment of the step. Every error is a DockerfileParseError naming its line.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.dockerfile.shell import Lexer, SubstitutionError
from dockyard.errors import InvalidParameter
from dockyard.units import parse_duration_ns

DIRECTIVES = ("escape", "syntax", "check")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*\Z", re.ASCII)
_UTF8_BOM = "\ufeff"

KEYWORDS = (
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)
HEREDOC_KEYWORDS = frozenset({"ADD", "COPY", "RUN"})
# The instructions whose arguments the builder substitutes variables in.
EXPANDING_KEYWORDS = frozenset(
    {"ADD", "ARG", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME",
     "WORKDIR"}
)  # fmt: skip
_EXPANDING_FLAGS = ("from", "chown", "chmod", "platform")

# Flags each instruction accepts: name -> "string" | "bool" | "strings" (repeatable).
FLAGS: dict[str, dict[str, str]] = {
    "FROM": {"platform": "string"},
    "RUN": {"mount": "strings", "network": "string", "security": "string"},
    "COPY": {
        "from": "string",
        "chown": "string",
        "chmod": "string",
        "link": "bool",
        "parents": "bool",
        "exclude": "strings",
    },
    "ADD": {
        "chown": "string",
        "chmod": "string",
        "link": "bool",
        "keep-git-dir": "bool",
        "checksum": "string",
        "exclude": "strings",
    },
    "HEALTHCHECK": {
        "interval": "string",
        "timeout": "string",
        "start-period": "string",
        "start-interval": "string",
        "retries": "string",
    },
}

FlagValue = str | bool | list[str]


class DockerfileParseError(InvalidParameter):
    """A Dockerfile that cannot be parsed; `line` is where (1-based)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"dockerfile parse error on line {line}: {reason}")
        self.line = line
        self.reason = reason


class _Reason(Exception):
    """An error without its line yet; the caller that knows the line wraps it."""


@dataclass(frozen=True)
class Heredoc:
    """A here-document: `<<EOF` (expanded), `<<"EOF"` (literal), `<<-EOF` (tabs stripped)."""

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    fd: int = 0


@dataclass
class Instruction:
    """One instruction as written.

    `keyword` is upper case. `args` depends on the keyword: the JSON array or the single
    shell-form string for RUN/CMD/ENTRYPOINT/SHELL; words for ADD/COPY/VOLUME/EXPOSE/ARG/FROM;
    [key, value, key, value, ...] for ENV and LABEL; the one string of USER, WORKDIR,
    STOPSIGNAL and MAINTAINER; [type, command...] for HEALTHCHECK; the trigger's text for
    ONBUILD (parsed into `trigger`). Quotes and variables are still as written: see expand().
    """

    keyword: str
    args: list[str]
    flags: dict[str, FlagValue] = field(default_factory=dict)
    json_form: bool = False
    heredocs: list[Heredoc] = field(default_factory=list)
    line: int = 0
    end_line: int = 0
    original: str = ""
    escape: str = "\\"
    trigger: Instruction | None = None

    def flag(self, name: str, default: FlagValue | None = None) -> FlagValue | None:
        return self.flags.get(name, default)

    def pairs(self) -> list[tuple[str, str]]:
        """ENV and LABEL as (key, value) pairs."""
        return [(self.args[i], self.args[i + 1]) for i in range(0, len(self.args) - 1, 2)]

    def arg_pairs(self) -> list[tuple[str, str | None]]:
        """ARG as (name, default or None) pairs."""
        out: list[tuple[str, str | None]] = []
        for word in self.args:
            name, eq, default = word.partition("=")
            out.append((name, default if eq else None))
        return out

    def copy_sources(self) -> tuple[list[str | Heredoc], str]:
        """ADD/COPY: the sources (paths, or the Heredoc of a `<<EOF` source) and the dest."""
        by_name = {heredoc.name: heredoc for heredoc in self.heredocs}
        sources: list[str | Heredoc] = []
        for arg in self.args[:-1]:
            marker = None if self.json_form else _marker_or_none(arg)
            if marker is not None and marker.name in by_name:
                sources.append(by_name[marker.name])
            else:
                sources.append(arg)
        return sources, self.args[-1]

    def expand(self, env: Mapping[str, str]) -> Instruction:
        """A copy with variables substituted as the builder does for this keyword.

        ENV, LABEL and ARG expand keys and values; EXPOSE splits into words; ADD, COPY,
        VOLUME, USER, WORKDIR and STOPSIGNAL expand each argument; FROM expands the base
        image; the --from, --chown, --chmod and --platform flags are expanded too. Other
        instructions are returned unchanged (the shell expands RUN and CMD).
        """
        if self.keyword not in EXPANDING_KEYWORDS:
            return self
        lexer = Lexer(self.escape)

        def word(text: str) -> str:
            try:
                return lexer.process_word(text, env)
            except SubstitutionError as err:
                raise DockerfileParseError(
                    self.line, f'failed to process "{text}": {err.message}'
                ) from None

        if self.keyword == "EXPOSE":
            args: list[str] = []
            for port in self.args:
                try:
                    args.extend(lexer.process_words(port, env))
                except SubstitutionError as err:
                    raise DockerfileParseError(
                        self.line, f'failed to process "{port}": {err.message}'
                    ) from None
        elif self.keyword == "FROM":
            args = [word(self.args[0]), *self.args[1:]]
        elif self.keyword == "ARG":
            args = []
            for name, default in self.arg_pairs():
                args.append(word(name) if default is None else f"{word(name)}={word(default)}")
        else:
            args = [word(arg) for arg in self.args]
        flags = dict(self.flags)
        for name in _EXPANDING_FLAGS:
            value = flags.get(name)
            if isinstance(value, str):
                flags[name] = word(value)
        return dataclasses.replace(self, args=args, flags=flags)

    def healthcheck(self) -> dict[str, object]:
        """HEALTHCHECK as the image config's Healthcheck (durations in nanoseconds)."""
        kind = self.args[0].upper()
        if kind == "NONE":
            return {"Test": ["NONE"]}
        test = ["CMD" if self.json_form else "CMD-SHELL", *self.args[1:]]
        config: dict[str, object] = {"Test": test}
        for flag, key in (
            ("interval", "Interval"),
            ("timeout", "Timeout"),
            ("start-period", "StartPeriod"),
            ("start-interval", "StartInterval"),
        ):
            value = self.flags.get(flag)
            config[key] = parse_duration_ns(value) if isinstance(value, str) and value else 0
        retries = self.flags.get("retries")
        config["Retries"] = int(retries) if isinstance(retries, str) and retries else 0
        return config


@dataclass
class Stage:
    """A build stage: its FROM and the instructions after it."""

    name: str | None
    base: str
    platform: str | None
    index: int
    instructions: list[Instruction] = field(default_factory=list)
    from_instruction: Instruction | None = None


@dataclass
class Dockerfile:
    """The parsed file: directives, meta ARGs before the first FROM, and the stages."""

    directives: dict[str, str]
    stages: list[Stage]
    meta_args: list[Instruction]
    escape: str = "\\"
    # BuildKit's parse warnings ("Empty continuation line found in: RUN ..."); the classic
    # builder prints each as "[WARNING]: <text>".
    warnings: list[str] = field(default_factory=list)

    def stage(self, ref: str) -> Stage | None:
        """A stage by name (case-insensitive) or by index."""
        for stage in self.stages:
            if stage.name is not None and stage.name == ref.lower():
                return stage
        if ref.isdecimal() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None


# --- step 1: lines ------------------------------------------------------------------------


class _Directives:
    """Reads parser directives until the first line that is not one."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.done = False
        self.escape = "\\"

    def feed(self, line: str) -> None:
        if self.done:
            return
        match = _DIRECTIVE.match(line)
        if match is None or match.group(1).lower() not in DIRECTIVES:
            self.done = True
            return
        name, value = match.group(1).lower(), match.group(2)
        if name in self.values:
            raise _Reason(f"only one {name} parser directive can be used")
        self.values[name] = value
        if name == "escape":
            if value not in ("`", "\\"):
                raise _Reason(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value


def _is_comment(raw: str) -> bool:
    return raw.rstrip("\r\n").lstrip().startswith("#")


def _process_line(directives: _Directives, raw: str, strip_left: bool) -> str:
    token = raw.rstrip("\r\n")
    if strip_left:
        token = token.lstrip()
    directives.feed(token)
    return "" if token.lstrip().startswith("#") else token


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """Remove a trailing escape character (and blanks after it); True if the line ends."""
    stripped = line.rstrip(" \t")
    if stripped.endswith(escape):
        return stripped[: -len(escape)], False
    return line, True


def _split_lines(text: str) -> list[str]:
    """Lines as Go's bufio.ScanLines gives them: split at \\n, one trailing \\r dropped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# --- step 2: nodes ------------------------------------------------------------------------


@dataclass
class _Node:
    keyword: str  # upper case
    written: str  # the keyword as written, for messages
    flags: list[str]
    args: list[str]
    json_form: bool
    original: str
    child: _Node | None = None


def _extract_flags(rest: str) -> tuple[str, list[str]]:
    """Split leading `--flag[=value]` words (quotes and backslashes allowed) off the rest."""
    words: list[str] = []
    pos = 0
    n = len(rest)
    while True:
        while pos < n and rest[pos].isspace():
            pos += 1
        if pos >= n:
            return "", words
        if not rest.startswith("--", pos):
            return rest[pos:], words
        word: list[str] = []
        blank_ok = False
        quote = ""
        while pos < n:
            ch = rest[pos]
            if quote and ch == quote:
                quote = ""
                pos += 1
                continue
            if not quote and ch.isspace():
                break
            if not quote and ch in ("'", '"'):
                quote = ch
                blank_ok = True
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
        text = "".join(word)
        if text == "--":
            return (rest[pos:], words) if pos < n else ("", words)
        if blank_ok or text:
            words.append(text)


def _parse_words(rest: str, escape: str) -> list[str]:
    """Split at whitespace outside quotes; quotes and escapes are kept for substitution."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    blank_ok = False
    quote = ""
    pos = 0
    n = len(rest)
    while pos < n:
        ch = rest[pos]
        if not in_word:
            if ch.isspace():
                pos += 1
                continue
            in_word = True
        if not quote and ch.isspace():
            if blank_ok or word:
                words.append("".join(word))
            word, in_word, blank_ok = [], False, False
            pos += 1
            continue
        if not quote and ch in ("'", '"'):
            quote = ch
            blank_ok = True
        elif ch == quote:
            quote = ""
        elif ch == escape and quote != "'":  # kept, for substitution to see
            if pos + 1 == n:
                pos += 1
                continue
            word.append(ch)
            pos += 1
            ch = rest[pos]
        word.append(ch)
        pos += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def _reject_nan(token: str) -> object:
    raise ValueError(token)


def _parse_json(rest: str) -> list[str] | None:
    """The JSON array of strings, or None when rest is not a JSON array."""
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_reject_nan)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise _Reason("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    if rest == "":
        return [], False
    value = _parse_json(rest)
    if value is not None:
        return value, True
    return [rest], False


def _maybe_json_to_list(rest: str) -> tuple[list[str], bool]:
    value = _parse_json(rest)
    if value is not None:
        return value, True
    return _split_whitespace(rest), False


def _split_whitespace(rest: str) -> list[str]:
    rest = rest.strip()
    return _WHITESPACE.split(rest) if rest else []


def _name_values(rest: str, keyword: str, escape: str) -> list[str]:
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _Reason(f"{keyword} must have two arguments")
        return [parts[0], parts[1]]
    args: list[str] = []
    for word in words:
        if "=" not in word:
            raise _Reason(
                f"Syntax error - can't find = in {json.dumps(word)}. "
                "Must be of the form: name=value"
            )
        key, _, value = word.partition("=")
        args.extend((key, value))
    return args


def _health_args(rest: str) -> tuple[list[str], bool]:
    parts = re.match(r"(\S*)\s*(.*)", rest, re.DOTALL)
    assert parts is not None
    kind, command = parts.group(1), parts.group(2)
    if not kind:
        return [], False
    cmd, json_form = _maybe_json(command)
    return [kind, *cmd], json_form


def _node_from_line(line: str, escape: str) -> _Node:
    stripped = line.strip()
    parts = _WHITESPACE.split(stripped, maxsplit=1) if stripped else [""]
    written = parts[0]
    keyword = written.upper()
    rest, flags = _extract_flags(parts[1]) if len(parts) == 2 else ("", [])
    rest = rest.strip()
    json_form = False
    child = None
    if keyword in ("RUN", "CMD", "ENTRYPOINT", "SHELL"):
        args, json_form = _maybe_json(rest)
    elif keyword in ("ADD", "COPY", "VOLUME"):
        args, json_form = _maybe_json_to_list(rest)
    elif keyword in ("ENV", "LABEL"):
        args = _name_values(rest, keyword, escape)
    elif keyword == "ARG":
        args = _parse_words(rest, escape)
    elif keyword in ("EXPOSE", "FROM"):
        args = _split_whitespace(rest)
    elif keyword == "HEALTHCHECK":
        args, json_form = _health_args(rest)
    elif keyword == "ONBUILD":
        args = [rest] if rest else []
        if rest:
            child = _node_from_line(rest, escape)
    else:  # MAINTAINER, STOPSIGNAL, USER, WORKDIR and unknown keywords
        args = [rest] if rest else []
    return _Node(keyword, written, flags, args, json_form, line, child)


def _can_contain_heredoc(node: _Node) -> bool:
    return node.keyword in HEREDOC_KEYWORDS and bool(node.args) and not node.json_form


def _heredoc_markers(line: str) -> list[Heredoc]:
    """The heredoc markers (`<<EOF`, `<<-"EOF"`, `3<<EOF`) among the words of a line."""
    raw_lexer = Lexer("\\", raw_quotes=True, raw_escapes=True)
    try:
        words = raw_lexer.process_words(line, {})
    except SubstitutionError:
        return []
    markers = []
    for word in words:
        marker = parse_heredoc_marker(word)
        if marker is not None:
            markers.append(marker)
    return markers


def parse_heredoc_marker(word: str) -> Heredoc | None:
    """A Heredoc (without content) when word is a heredoc marker, else None."""
    match = _HEREDOC.match(word)
    if match is None or not match.group(3):
        return None
    fd_text, dash, rest = match.groups()
    lexer = Lexer("\\", skip_unset=True)
    try:
        words = lexer.process_words(rest, {})
    except SubstitutionError as err:
        raise _Reason(err.message) from None
    if len(words) != 1:
        return None
    raw = Lexer("\\", raw_quotes=True, skip_unset=True).process_words(rest, {})
    if len(raw) != 1:
        raise _Reason(f"internal lexing of heredoc produced inconsistent results: {rest}")

    def quotes(text: str) -> int:
        return text.count("'") + text.count('"')

    return Heredoc(
        name=words[0],
        content="",
        expand=quotes(words[0]) == quotes(raw[0]),
        chomp=dash == "-",
        fd=int(fd_text) if fd_text else 0,
    )


def _marker_or_none(word: str) -> Heredoc | None:
    """parse_heredoc_marker, with a malformed marker read as no marker (MustParseHeredoc)."""
    try:
        return parse_heredoc_marker(word)
    except _Reason:
        return None


def chomp_heredoc(content: str) -> str:
    """Remove leading tabs from every line (`<<-EOF`)."""
    return "\n".join(line.lstrip("\t") for line in content.split("\n"))


# --- step 3: instructions -----------------------------------------------------------------


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _suggest(value: str, options: list[str], case_sensitive: bool) -> str:
    """BuildKit's " (did you mean X?)" for a value at most 2 edits from an option."""
    wanted = value if case_sensitive else value.lower()
    best, best_distance = "", 3
    for option in options:
        candidate = option if case_sensitive else option.lower()
        if candidate == wanted:
            return ""
        distance = _levenshtein(wanted, candidate)
        if distance < best_distance:
            best, best_distance = candidate, distance
    if best and not case_sensitive and value == value.upper():
        best = best.upper()
    return f" (did you mean {best}?)" if best else ""


def _parse_flags(keyword: str, words: list[str]) -> dict[str, FlagValue]:
    allowed = FLAGS.get(keyword, {})
    flags: dict[str, FlagValue] = {}
    for word in words:
        if word == "--":
            break
        if not word.startswith("--"):
            raise _Reason(f"arg should start with -- : {word}")
        flag, eq, value = word.partition("=")
        name = flag[2:]
        kind = allowed.get(name)
        if kind is None:
            hint = _suggest(name, sorted(allowed), case_sensitive=True)
            raise _Reason(f"unknown flag: {flag}{hint}")
        if name in flags and kind != "strings":
            raise _Reason(f"duplicate flag specified: {flag}")
        if kind == "bool":
            if eq and value == "":
                raise _Reason(f"missing a value on flag: {flag}")
            if value.lower() not in ("", "true", "false"):
                raise _Reason(f"expecting boolean value for flag {flag}, not: {value}")
            flags[name] = value.lower() != "false"
        elif not eq:
            raise _Reason(f"missing a value on flag: {flag}")
        elif kind == "strings":
            values = flags.setdefault(name, [])
            assert isinstance(values, list)
            values.append(value)
        else:
            flags[name] = value
    return flags


def _check_health(node: _Node, flags: dict[str, FlagValue]) -> None:
    if not node.args:
        raise _Reason("HEALTHCHECK requires at least one argument")
    kind = node.args[0].upper()
    if kind == "NONE":
        if len(node.args) > 1:
            raise _Reason("HEALTHCHECK NONE takes no arguments")
        return
    if kind != "CMD":
        raise _Reason(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    if len(node.args) == 1:
        raise _Reason("Missing command after HEALTHCHECK CMD")
    for name in ("interval", "timeout", "start-period", "start-interval"):
        value = flags.get(name)
        if not isinstance(value, str) or value == "":
            continue
        try:
            ns = parse_duration_ns(value)
        except ValueError as err:
            raise _Reason(str(err)) from None
        if 0 < ns < 1_000_000 or ns < 0:
            raise _Reason(f'Interval "{name}" cannot be less than 1ms')
    retries = flags.get("retries")
    if isinstance(retries, str) and retries:
        try:
            count = int(retries, 10)
        except ValueError:
            raise _Reason(f'strconv.ParseInt: parsing "{retries}": invalid syntax') from None
        if count < 0:
            raise _Reason(f"--retries cannot be negative ({count})")


def _check(node: _Node, flags: dict[str, FlagValue]) -> None:
    """Docker's checks of one instruction's arguments."""
    kw, args = node.keyword, node.args
    if kw == "FROM":
        if len(args) == 3 and args[1].lower() == "as":
            if not _STAGE_NAME.match(args[2].lower()):
                raise _Reason(
                    f"invalid name for build stage: {json.dumps(args[2])}, "
                    "name can't start with a number or contain symbols"
                )
        elif len(args) != 1:
            raise _Reason("FROM requires either one or three arguments")
    elif kw in ("ENV", "LABEL"):
        if not args:
            raise _Reason(f"{kw} requires at least one argument")
        if any(args[i] == "" for i in range(0, len(args), 2)):
            raise _Reason(f"{kw} names can not be blank")
    elif kw in ("ADD", "COPY"):
        if len(args) < 2:
            raise _Reason(
                f"{kw} requires at least two arguments, but only one was provided. "
                "Destination could not be determined."
            )
        if not node.json_form and _marker_or_none(args[-1]) is not None:
            raise _Reason(f"{kw} cannot accept a heredoc as a destination")
    elif kw in ("ARG", "EXPOSE", "VOLUME", "ONBUILD"):
        if not args:
            raise _Reason(f"{kw} requires at least one argument")
        if kw == "VOLUME" and any(arg == "" for arg in args):
            raise _Reason("VOLUME specified can not be an empty string")
        if kw == "ONBUILD" and node.child is not None:
            trigger = node.child.keyword
            if trigger == "ONBUILD":
                raise _Reason("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
            if trigger in ("MAINTAINER", "FROM"):
                raise _Reason(f"{trigger} isn't allowed as an ONBUILD trigger")
    elif kw in ("USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"):
        if len(args) != 1:
            raise _Reason(f"{kw} requires exactly one argument")
    elif kw == "SHELL":
        if not args:
            raise _Reason("SHELL requires at least one argument")
        if not node.json_form:
            raise _Reason("SHELL requires the arguments to be in JSON form")
    elif kw == "HEALTHCHECK":
        _check_health(node, flags)


def _instruction(
    node: _Node, heredocs: list[Heredoc], line: int, end_line: int, escape: str
) -> Instruction:
    if node.keyword not in KEYWORDS:
        hint = _suggest(node.written, list(KEYWORDS), case_sensitive=False)
        raise _Reason(f"unknown instruction: {node.written}{hint}")
    healthcheck_none = (
        node.keyword == "HEALTHCHECK" and node.args[:1] != [] and node.args[0].upper() == "NONE"
    )
    flags = {} if healthcheck_none else _parse_flags(node.keyword, node.flags)
    _check(node, flags)
    trigger = None
    if node.child is not None:
        trigger = _instruction(node.child, [], line, end_line, escape)
    return Instruction(
        keyword=node.keyword,
        args=node.args,
        flags=flags,
        json_form=node.json_form,
        heredocs=heredocs,
        line=line,
        end_line=end_line,
        original=node.original,
        escape=escape,
        trigger=trigger,
    )


# --- the parser ---------------------------------------------------------------------------


def parse(source: str | bytes) -> Dockerfile:
    """Parse a Dockerfile. Raises DockerfileParseError naming the line of the problem."""
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    if text.startswith(_UTF8_BOM):
        text = text[1:]
    lines = _split_lines(text)
    directives = _Directives()
    instructions: list[Instruction] = []
    warnings: list[str] = []
    index = 0  # next line to read
    current = 0  # number of the last line read (1-based)

    def read(strip_left: bool) -> str:
        nonlocal index, current
        raw = lines[index]
        index += 1
        current += 1
        try:
            return _process_line(directives, raw, strip_left)
        except _Reason as err:
            raise DockerfileParseError(current, str(err)) from None

    while index < len(lines):
        logical = read(strip_left=True)
        start = current
        logical, ended = _trim_continuation(logical, directives.escape)
        if ended and not logical:
            continue
        empty_continuation = False
        while not ended and index < len(lines):
            raw = lines[index]
            piece = read(strip_left=False)
            if _is_comment(raw):
                continue
            if not piece.strip():
                empty_continuation = True
                continue
            piece, ended = _trim_continuation(piece, directives.escape)
            logical += piece
        if not logical.strip():
            continue
        if empty_continuation:
            warnings.append(f"Empty continuation line found in: {logical}")
        try:
            node = _node_from_line(logical, directives.escape)
            heredocs: list[Heredoc] = []
            if _can_contain_heredoc(node) and "<<" in logical:
                for marker in _heredoc_markers(logical):
                    heredocs.append(_read_heredoc(marker, lines, index))
                    consumed = heredocs[-1].content.count("\n") + 1
                    index += consumed
                    current += consumed
                    if heredocs[-1].chomp:
                        content = chomp_heredoc(heredocs[-1].content)
                        heredocs[-1] = dataclasses.replace(heredocs[-1], content=content)
            instructions.append(_instruction(node, heredocs, start, current, directives.escape))
        except _Reason as err:
            raise DockerfileParseError(start, str(err)) from None
        except _Unterminated:
            raise DockerfileParseError(start, "unterminated heredoc") from None
    if not instructions:
        raise DockerfileParseError(max(current, 1), "file with no instructions")
    dockerfile = _group(instructions, directives)
    dockerfile.warnings = warnings
    return dockerfile


class _Unterminated(Exception):
    pass


def _read_heredoc(marker: Heredoc, lines: list[str], index: int) -> Heredoc:
    """The heredoc's content: lines from index up to (not including) its terminator."""
    body: list[str] = []
    for raw in lines[index:]:
        candidate = raw.rstrip("\r\n")
        if marker.chomp:
            candidate = candidate.lstrip("\t")
        if candidate == marker.name:
            return dataclasses.replace(marker, content="".join(body))
        body.append(raw + "\n")
    raise _Unterminated()


def _group(instructions: list[Instruction], directives: _Directives) -> Dockerfile:
    stages: list[Stage] = []
    meta_args: list[Instruction] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            args = instruction.args
            platform = instruction.flags.get("platform")
            stages.append(
                Stage(
                    name=args[2].lower() if len(args) == 3 else None,
                    base=args[0],
                    platform=platform if isinstance(platform, str) else None,
                    index=len(stages),
                    from_instruction=instruction,
                )
            )
        elif not stages and instruction.keyword == "ARG":
            meta_args.append(instruction)
        elif not stages:
            raise DockerfileParseError(instruction.line, "no build stage in current context")
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(
        directives=dict(directives.values),
        stages=stages,
        meta_args=meta_args,
        escape=directives.escape,
    )
