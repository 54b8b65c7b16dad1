"""Docker's variable substitution in Dockerfiles (BuildKit's shell lexer).

`expand(word, env)` is ProcessWord: quotes removed, variables replaced, no splitting.
`expand_words(text, env)` is ProcessWords: the same, then split into words at unquoted
whitespace (text coming from a variable is split too, as a shell would).

Supported: `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
`${VAR:?msg}`, `${VAR?msg}`, `${VAR#pat}`, `${VAR##pat}`, `${VAR%pat}`, `${VAR%%pat}`,
`${VAR/pat/repl}`, `${VAR//pat/repl}`, single quotes (literal), double quotes (only `$`,
`"` and the escape character are special), and the escape character (`\\` or the
Dockerfile's `# escape=` choice).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.errors import InvalidParameter

_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_EOF = ""


class SubstitutionError(InvalidParameter):
    """A malformed or failing substitution (`${`, `${x:?msg}`, unbalanced quotes)."""


@dataclass
class _Words:
    """Accumulates words the way BuildKit's wordsStruct does."""

    words: list[str] = field(default_factory=list)
    word: list[str] = field(default_factory=list)
    in_word: bool = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word:
                self.flush()
        else:
            self.word.append(ch)
            self.in_word = True

    def add_raw_char(self, ch: str) -> None:
        self.word.append(ch)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.word.append(text)
        self.in_word = True

    def flush(self) -> None:
        self.words.append("".join(self.word))
        self.word = []
        self.in_word = False

    def result(self) -> list[str]:
        if self.in_word:
            self.flush()
        return self.words


class Lexer:
    """One pass of substitution over a string, with Docker's quoting rules.

    `raw_quotes` keeps quote characters in the output and `raw_escapes` keeps escape
    characters; `skip_unset` leaves references to unset variables as they were. The
    parser uses these to find heredoc markers; substitution uses none of them.
    """

    def __init__(
        self,
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset: bool = False,
    ) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        return _Scan(self, word, env).run()[0]

    def process_words(self, text: str, env: Mapping[str, str]) -> list[str]:
        return _Scan(self, text, env).run()[1]


class _Scan:
    """The state of one substitution: the text, a cursor and the environment."""

    def __init__(self, lexer: Lexer, text: str, env: Mapping[str, str]) -> None:
        self.lx = lexer
        self.text = text
        self.pos = 0
        self.env = env

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def run(self) -> tuple[str, list[str]]:
        return self.stop_on(_EOF, self.lx.raw_escapes)

    def stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        saved_raw = self.lx.raw_escapes
        self.lx.raw_escapes = raw_escapes
        try:
            while self.peek() != _EOF:
                ch = self.peek()
                if stop and ch == stop:
                    self.next()
                    return "".join(out), words.result()
                if ch == "$":
                    text = self.dollar()
                    out.append(text)
                    words.add_string(text)
                elif ch == "'":
                    text = self.single_quote()
                    out.append(text)
                    words.add_raw_string(text)
                elif ch == '"':
                    text = self.double_quote()
                    out.append(text)
                    words.add_raw_string(text)
                else:
                    ch = self.next()
                    if ch == self.lx.escape:
                        if self.lx.raw_escapes:
                            words.add_raw_char(ch)
                            out.append(ch)
                        ch = self.next()
                        if ch == _EOF:
                            break
                        words.add_raw_char(ch)
                    else:
                        words.add_char(ch)
                    out.append(ch)
        finally:
            self.lx.raw_escapes = saved_raw
        if stop:
            raise SubstitutionError(
                f"unexpected end of statement while looking for matching {stop}"
            )
        return "".join(out), words.result()

    def single_quote(self) -> str:
        out: list[str] = []
        quote = self.next()
        if self.lx.raw_quotes:
            out.append(quote)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise SubstitutionError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out: list[str] = []
        quote = self.next()
        if self.lx.raw_quotes:
            out.append(quote)
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise SubstitutionError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.next()
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.lx.escape:
                if self.lx.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if following == _EOF:
                    continue  # an escape at the very end is dropped
                if following in ('"', "$", self.lx.escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        """A variable name: letters, digits and `_`; or digits; or one special parameter."""
        start = self.pos
        ch = self.peek()
        if ch.isdecimal():
            while self.peek().isdecimal():
                self.next()
            return self.text[start : self.pos]
        if ch and ch in _SPECIAL_PARAMS:
            return self.next()
        while True:
            ch = self.peek()
            if not ch or not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            self.next()
        return self.text[start : self.pos]

    def lookup(self, name: str) -> str | None:
        return self.env.get(name)

    def dollar(self) -> str:
        self.next()  # the "$"
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None and self.lx.skip_unset:
                return "$" + name
            return value or ""
        self.next()  # the "{"
        ch = self.peek()
        if ch == _EOF:
            raise SubstitutionError("syntax error: missing '}'")
        if ch in "{}:":
            raise SubstitutionError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        modifier = ch
        if ch == _EOF:
            raise SubstitutionError("syntax error: missing '}'")
        if ch == "}":
            value = self.lookup(name)
            if value is None and self.lx.skip_unset:
                return "${" + name + "}"
            return value or ""
        if ch == "/":
            return self.replace(name)
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        elif ch not in ("+", "-", "?", "#", "%"):
            raise SubstitutionError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self.stop_on("}", ch in ("#", "%"))
        except SubstitutionError:
            if self.peek() == _EOF:
                raise SubstitutionError("syntax error: missing '}'") from None
            raise
        value = self.lookup(name)
        if value is None and self.lx.skip_unset:
            return "${" + name + modifier + word + "}"
        unset = value is None or (null_is_unset and value == "")
        if ch == "-":
            return word if unset else (value or "")
        if ch == "+":
            return "" if unset else word
        if ch == "?":
            if value is None:
                raise SubstitutionError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise SubstitutionError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            greedy = word[:1] == ch
            if greedy:
                word = word[1:]
            return _trim(value or "", word, suffix=ch == "%", greedy=greedy)
        raise SubstitutionError(f"unsupported modifier ({modifier}) in substitution")

    def replace(self, name: str) -> str:
        """`${name/pattern/replacement}` and `${name//pattern/replacement}`."""
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern, _ = self.stop_on("/", True)
        replacement, _ = self.stop_on("}", False)
        value = self.lookup(name)
        if value is None and self.lx.skip_unset:
            slashes = "//" if replace_all else "/"
            return "${" + name + slashes + pattern + "/" + replacement + "}"
        regex = re.compile(_pattern_to_regex(pattern, greedy=True))
        return regex.sub(lambda _m: replacement, value or "", count=0 if replace_all else 1)


def _pattern_to_regex(pattern: str, *, greedy: bool) -> str:
    """A shell glob (`*`, `?`, `[...]`, `\\x`) as a regular expression."""
    out: list[str] = []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                if body[:1] == "!":
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _trim(value: str, pattern: str, *, suffix: bool, greedy: bool) -> str:
    """Remove the shortest (or longest) prefix or suffix of value matching pattern."""
    try:
        regex = re.compile(_pattern_to_regex(pattern, greedy=True) + r"\Z", re.DOTALL)
    except re.error:
        return value
    cuts = range(len(value) + 1)
    if suffix:
        starts = cuts if greedy else reversed(cuts)
        for start in starts:
            if regex.match(value, start):
                return value[:start]
        return value
    ends = reversed(cuts) if greedy else cuts
    for end in ends:
        if regex.match(value[:end]):
            return value[end:]
    return value


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Substitute variables in one word and remove its quotes (BuildKit's ProcessWord)."""
    return Lexer(escape).process_word(word, env)


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Substitute variables and split into words (BuildKit's ProcessWords)."""
    return Lexer(escape).process_words(text, env)
