"""A subset of Go's text/template, enough for docker's `--format` strings.

Supported: text and `{{ }}` actions with `{{-`/`-}}` trimming; fields (`.A.B`), `.`, variables
(`$`, `$x`, `$x.A`), declarations (`$x := ...`, `range $i, $v := ...`); string, raw string,
number, bool and nil literals; pipelines with `|`; parentheses; `if`/`else if`/`else`,
`range` (lists and maps, with `else`), `with`, `end`; the functions docker adds (json, join,
split, lower, upper, title, pad, truncate, println) and Go's (and, or, not, len, index, eq,
ne, lt, le, gt, ge, print, printf, slice). Values print as Go's fmt %v would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class TemplateError(Exception):
    """A template that does not parse or cannot be executed."""


NO_VALUE = object()  # a missing map key: prints "<no value>"

# ---------------------------------------------------------------------------- lexer

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<dot>\.)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<comment>/\*.*?\*/)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass
class Tok:
    kind: str
    value: str
    fields: list[str] = field(default_factory=list)  # a `.A.B` suffix after var or paren


def _lex_action(src: str) -> list[Tok]:
    toks: list[Tok] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN_RE.match(src, pos)
        if not m:
            raise TemplateError(f"unexpected {src[pos]!r} in action {src!r}")
        kind = m.lastgroup or ""
        text = m.group()
        pos = m.end()
        if kind in ("space", "comment"):
            continue
        if (
            kind == "field"
            and toks
            and toks[-1].kind in ("var", "rparen")
            and (m.start() > 0 and not src[m.start() - 1].isspace())
        ):
            toks[-1].fields += text[1:].split(".")
            continue
        if kind == "number" and text.startswith(".") and toks and not src[m.start() - 1].isspace():
            raise TemplateError(f"bad number syntax: {text!r}")
        toks.append(Tok(kind, text, text[1:].split(".") if kind == "field" else []))
    return toks


# ---------------------------------------------------------------------------- nodes


@dataclass
class Text:
    text: str


@dataclass
class Operand:
    kind: str  # field, dot, var, string, number, bool, nil, ident, pipe
    value: Any
    fields: list[str] = field(default_factory=list)


@dataclass
class Command:
    args: list[Operand]


@dataclass
class Pipeline:
    decl: list[str]
    cmds: list[Command]
    is_assign: bool = False


@dataclass
class Action:
    pipe: Pipeline


@dataclass
class Branch:
    kind: str  # if, range, with
    pipe: Pipeline
    body: list[Any]
    else_body: list[Any] | None


@dataclass
class Break:
    kind: str  # break, continue


# ---------------------------------------------------------------------------- parser


def _split_template(src: str) -> list[tuple[str, str]]:
    """[('text', ...), ('action', ...)] with trim markers applied."""
    parts: list[tuple[str, str]] = []
    pos = 0
    while True:
        start = src.find("{{", pos)
        if start < 0:
            parts.append(("text", src[pos:]))
            break
        text = src[pos:start]
        inner_start = start + 2
        if (
            src.startswith("- ", inner_start)
            or src.startswith("-\t", inner_start)
            or (src.startswith("-\n", inner_start))
        ):
            text = text.rstrip(" \t\r\n")
            inner_start += 1
        parts.append(("text", text))
        end = _find_close(src, inner_start)
        if end < 0:
            raise TemplateError("unclosed action")
        inner = src[inner_start:end]
        pos = end + 2
        if inner.endswith(" -") or inner.endswith("\t-") or inner.endswith("\n-"):
            inner = inner[:-1]
            m = re.match(r"[ \t\r\n]*", src[pos:])
            pos += m.end() if m else 0
        parts.append(("action", inner))
    return parts


def _find_close(src: str, pos: int) -> int:
    quote = ""
    while pos < len(src) - 1:
        c = src[pos]
        if quote:
            if c == "\\" and quote != "`":
                pos += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"`'":
            quote = c
        elif src.startswith("}}", pos):
            return pos
        pos += 1
    return -1


class _Parser:
    def __init__(self, src: str) -> None:
        self.parts = _split_template(src)
        self.i = 0

    def parse(self) -> list[Any]:
        body, stop = self._list()
        if stop is not None:
            raise TemplateError(f"unexpected {{{{{stop[0]}}}}}")
        return body

    def _list(self) -> tuple[list[Any], tuple[str, list[Tok]] | None]:
        nodes: list[Any] = []
        while self.i < len(self.parts):
            kind, content = self.parts[self.i]
            self.i += 1
            if kind == "text":
                if content:
                    nodes.append(Text(content))
                continue
            toks = _lex_action(content)
            if not toks:
                continue  # a comment
            head = toks[0]
            if head.kind == "ident" and head.value in ("if", "range", "with"):
                nodes.append(self._branch(head.value, toks[1:]))
            elif head.kind == "ident" and head.value in ("end", "else"):
                return nodes, (head.value, toks[1:])
            elif head.kind == "ident" and head.value in ("break", "continue"):
                nodes.append(Break(head.value))
            elif head.kind == "ident" and head.value in ("define", "template", "block"):
                raise TemplateError(f"{head.value} is not supported")
            else:
                nodes.append(Action(_parse_pipeline(toks)))
        return nodes, None

    def _branch(self, kind: str, toks: list[Tok]) -> Branch:
        if not toks:
            raise TemplateError(f"missing value for {kind}")
        pipe = _parse_pipeline(toks)
        body, stop = self._list()
        else_body: list[Any] | None = None
        if stop is None:
            raise TemplateError(f"unexpected EOF in {kind}")
        if stop[0] == "else":
            rest = stop[1]
            if rest and rest[0].kind == "ident" and rest[0].value in ("if", "with"):
                else_body = [self._branch(rest[0].value, rest[1:])]
                return Branch(kind, pipe, body, else_body)
            else_body, stop = self._list()
            if stop is None or stop[0] != "end":
                raise TemplateError(f"expected end after else in {kind}")
        return Branch(kind, pipe, body, else_body)


def _parse_pipeline(toks: list[Tok]) -> Pipeline:
    decl: list[str] = []
    is_assign = False
    # $x := ..., $i, $v := ...
    j = 0
    names = []
    while j < len(toks) and toks[j].kind == "var" and not toks[j].fields:
        names.append(toks[j].value)
        if j + 1 < len(toks) and toks[j + 1].kind == "comma":
            j += 2
            continue
        if j + 1 < len(toks) and toks[j + 1].kind in ("decl", "assign"):
            decl = names
            is_assign = toks[j + 1].kind == "assign"
            toks = toks[j + 2 :]
        break
    cmds: list[Command] = []
    args: list[Operand] = []
    k = 0
    while k < len(toks):
        t = toks[k]
        if t.kind == "pipe":
            if not args:
                raise TemplateError("missing command before |")
            cmds.append(Command(args))
            args = []
            k += 1
            continue
        if t.kind == "lparen":
            depth, m = 1, k + 1
            while m < len(toks) and depth:
                depth += {"lparen": 1, "rparen": -1}.get(toks[m].kind, 0)
                m += 1
            if depth:
                raise TemplateError("unclosed left paren")
            inner = _parse_pipeline(toks[k + 1 : m - 1])
            args.append(Operand("pipe", inner, toks[m - 1].fields))
            k = m
            continue
        args.append(_operand(t))
        k += 1
    if args:
        cmds.append(Command(args))
    elif cmds:
        raise TemplateError("missing command after |")
    if not cmds:
        raise TemplateError("missing command")
    return Pipeline(decl, cmds, is_assign)


def _operand(t: Tok) -> Operand:
    if t.kind == "field":
        return Operand("field", None, t.fields)
    if t.kind == "dot":
        return Operand("dot", None)
    if t.kind == "var":
        return Operand("var", t.value, t.fields)
    if t.kind == "string":
        return Operand("string", json.loads(t.value))
    if t.kind == "raw":
        return Operand("string", t.value[1:-1])
    if t.kind == "char":
        return Operand("number", ord(json.loads('"' + t.value[1:-1] + '"')))
    if t.kind == "number":
        v = t.value
        num: Any = int(v, 0) if re.fullmatch(r"[-+]?(0[xX][0-9a-fA-F]+|\d+)", v) else float(v)
        return Operand("number", num)
    if t.kind == "ident":
        if t.value in ("true", "false"):
            return Operand("bool", t.value == "true")
        if t.value == "nil":
            return Operand("nil", None)
        return Operand("ident", t.value)
    raise TemplateError(f"unexpected {t.value!r}")


# ---------------------------------------------------------------------------- values


def go_str(v: Any) -> str:
    """Go's fmt %v of a JSON-like value."""
    if v is NO_VALUE:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_str(v[k])}" for k in sorted(v)) + "]"
    return str(v)


def truth(v: Any) -> bool:
    if v is NO_VALUE or v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    if isinstance(v, str | list | tuple | dict):
        return len(v) > 0
    return True


def _json(v: Any) -> str:
    if v is NO_VALUE:
        v = None
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if v is None or v is NO_VALUE:
            raise TemplateError("index of untyped nil")
        if isinstance(v, dict):
            v = v.get(k, NO_VALUE)
        elif isinstance(v, list | tuple | str):
            if not isinstance(k, int) or not 0 <= k < len(v):
                raise TemplateError(f"index out of range: {k}")
            v = v[k]
        else:
            raise TemplateError(f"can't index item of type {type(v).__name__}")
    return v


def _printf(fmt: str, *args: Any) -> str:
    out, ai = [], 0
    for m in re.finditer(r"%([-+# 0]*\d*(?:\.\d+)?)([vsdqtxXfgeco%])|[^%]+|%", fmt):
        if not m.group(0).startswith("%") or m.group(0) == "%":
            out.append(m.group(0))
            continue
        flags, verb = m.group(1), m.group(2)
        if verb == "%":
            out.append("%")
            continue
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[ai]
        ai += 1
        if verb in ("v", "s", "t"):
            out.append(("%" + flags + "s") % go_str(a))
        elif verb == "q":
            out.append(("%" + flags + "s") % json.dumps(go_str(a)))
        elif verb in "dxXoc":
            try:
                out.append(("%" + flags + verb) % int(a))
            except (TypeError, ValueError):
                out.append(f"%!{verb}({go_str(a)})")
        else:
            try:
                out.append(("%" + flags + verb) % float(a))
            except (TypeError, ValueError):
                out.append(f"%!{verb}({go_str(a)})")
    return "".join(out)


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def f(a: Any, *bs: Any) -> bool:
        if not bs:
            raise TemplateError("missing argument for comparison")
        return any(op(a, b) for b in bs) if op is _eq else op(a, bs[0])

    return f


def _eq(a: Any, b: Any) -> bool:
    return a == b


def _slice(v: Any, *idx: int) -> Any:
    if len(idx) == 0:
        return v
    if len(idx) == 1:
        return v[idx[0] :]
    return v[idx[0] : idx[1]]


def _truncate(s: Any, n: int) -> str:
    s = go_str(s)
    return s[:n] if len(s) > n else s


def _pad(s: Any, before: int, after: int) -> str:
    return " " * before + go_str(s) + " " * after


FUNCS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "join": lambda lst, sep: sep.join(go_str(x) for x in (lst or [])),
    "split": lambda s, sep: go_str(s).split(sep),
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "title": lambda s: go_str(s).title(),
    "pad": _pad,
    "truncate": _truncate,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "print": lambda *a: "".join(go_str(x) for x in a),
    "printf": _printf,
    "len": lambda v: len(v) if v not in (None, NO_VALUE) else 0,
    "index": _index,
    "slice": _slice,
    "not": lambda v: not truth(v),
    "eq": _cmp(_eq),
    "ne": _cmp(lambda a, b: a != b),
    "lt": _cmp(lambda a, b: a < b),
    "le": _cmp(lambda a, b: a <= b),
    "gt": _cmp(lambda a, b: a > b),
    "ge": _cmp(lambda a, b: a >= b),
    "html": lambda s: go_str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
    "urlquery": lambda s: __import__("urllib.parse").parse.quote_plus(go_str(s)),
}


# ---------------------------------------------------------------------------- executor


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Template:
    """A parsed template; `execute(data)` returns the text."""

    def __init__(self, src: str, funcs: dict[str, Callable[..., Any]] | None = None) -> None:
        self.src = src
        self.funcs = {**FUNCS, **(funcs or {})}
        self.nodes = _Parser(src).parse()

    def execute(self, data: Any) -> str:
        out: list[str] = []
        self._run(self.nodes, data, [("$", data)], out)
        return "".join(out)

    def _run(
        self, nodes: list[Any], dot: Any, scope: list[tuple[str, Any]], out: list[str]
    ) -> None:
        depth = len(scope)
        for node in nodes:
            if isinstance(node, Text):
                out.append(node.text)
            elif isinstance(node, Action):
                value = self._pipe(node.pipe, dot, scope)
                if not node.pipe.decl:
                    out.append(go_str(value))
            elif isinstance(node, Branch):
                self._branch(node, dot, scope, out)
            elif isinstance(node, Break):
                raise _Break() if node.kind == "break" else _Continue()
        del scope[depth:]

    def _branch(self, node: Branch, dot: Any, scope: list[tuple[str, Any]], out: list[str]) -> None:
        depth = len(scope)
        try:
            if node.kind == "range":
                self._range(node, dot, scope, out)
                return
            value = self._pipe(node.pipe, dot, scope)
            if truth(value):
                self._run(node.body, value if node.kind == "with" else dot, scope, out)
            elif node.else_body is not None:
                self._run(node.else_body, dot, scope, out)
        finally:
            del scope[depth:]

    def _range(self, node: Branch, dot: Any, scope: list[tuple[str, Any]], out: list[str]) -> None:
        pipe = node.pipe
        value = self._pipe(Pipeline([], pipe.cmds), dot, scope)
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is None or value is NO_VALUE:
            items = []
        else:
            raise TemplateError(f"range can't iterate over {go_str(value)}")
        if not items:
            if node.else_body is not None:
                self._run(node.else_body, dot, scope, out)
            return
        for k, v in items:
            depth = len(scope)
            if len(pipe.decl) == 1:
                scope.append((pipe.decl[0], v))
            elif len(pipe.decl) >= 2:
                scope.append((pipe.decl[0], k))
                scope.append((pipe.decl[1], v))
            try:
                self._run(node.body, v, scope, out)
            except _Continue:
                pass
            except _Break:
                del scope[depth:]
                break
            del scope[depth:]

    def _pipe(self, pipe: Pipeline, dot: Any, scope: list[tuple[str, Any]]) -> Any:
        value: Any = NO_VALUE
        first = True
        for cmd in pipe.cmds:
            value = self._command(cmd, dot, scope, None if first else value, not first)
            first = False
        if pipe.decl:
            if pipe.is_assign:
                for i in range(len(scope) - 1, -1, -1):
                    if scope[i][0] == pipe.decl[0]:
                        scope[i] = (pipe.decl[0], value)
                        break
                else:
                    raise TemplateError(f"undefined variable: {pipe.decl[0]}")
            else:
                scope.append((pipe.decl[0], value))
        return value

    def _command(
        self, cmd: Command, dot: Any, scope: list[tuple[str, Any]], piped: Any, has_piped: bool
    ) -> Any:
        head = cmd.args[0]
        if head.kind == "ident":
            fn = self.funcs.get(head.value)
            if fn is None:
                if head.value in ("and", "or"):
                    return self._logic(head.value, cmd.args[1:], dot, scope, piped, has_piped)
                raise TemplateError(f'function "{head.value}" not defined')
            args = [self._operand(a, dot, scope) for a in cmd.args[1:]]
            if has_piped:
                args.append(piped)
            try:
                return fn(*args)
            except TemplateError:
                raise
            except Exception as exc:  # noqa: BLE001 - a template error, reported as such
                raise TemplateError(f"error calling {head.value}: {exc}") from None
        if head.kind == "field" and (len(cmd.args) > 1 or has_piped):
            # A method-like field with arguments: the value must be callable.
            target = self._fields(dot, head.fields[:-1])
            fn = target.get(head.fields[-1]) if isinstance(target, dict) else None
            if not callable(fn):
                raise TemplateError(f"can't give argument to non-function {head.fields[-1]}")
            args = [self._operand(a, dot, scope) for a in cmd.args[1:]]
            if has_piped:
                args.append(piped)
            return fn(*args)
        if len(cmd.args) > 1 or has_piped:
            raise TemplateError(f"can't give argument to non-function {head.kind}")
        return self._operand(head, dot, scope)

    def _logic(
        self,
        op: str,
        args: list[Operand],
        dot: Any,
        scope: list[tuple[str, Any]],
        piped: Any,
        has_piped: bool,
    ) -> Any:
        values = [lambda a=a: self._operand(a, dot, scope) for a in args]
        if has_piped:
            values.append(lambda: piped)
        if not values:
            raise TemplateError(f"wrong number of args for {op}")
        v: Any = None
        for get in values:
            v = get()
            if (op == "and" and not truth(v)) or (op == "or" and truth(v)):
                return v
        return v

    def _operand(self, op: Operand, dot: Any, scope: list[tuple[str, Any]]) -> Any:
        if op.kind == "field":
            value = self._fields(dot, op.fields)
            return value() if callable(value) else value
        if op.kind == "dot":
            return dot
        if op.kind == "var":
            for name, v in reversed(scope):
                if name == op.value:
                    return self._fields(v, op.fields)
            raise TemplateError(f"undefined variable: {op.value}")
        if op.kind == "pipe":
            return self._fields(self._pipe(op.value, dot, scope), op.fields)
        if op.kind == "ident":
            fn = self.funcs.get(op.value)
            if fn is None:
                raise TemplateError(f'function "{op.value}" not defined')
            return fn()
        return op.value

    @staticmethod
    def _fields(value: Any, names: list[str]) -> Any:
        for name in names:
            if isinstance(value, dict):
                value = value.get(name, NO_VALUE)
                if callable(value) and name != names[-1]:
                    value = value()
            elif value is None or value is NO_VALUE:
                if value is NO_VALUE:
                    return NO_VALUE
                raise TemplateError(f"nil pointer evaluating .{name}")
            else:
                raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
        return value


def render(src: str, data: Any) -> str:
    return Template(src).execute(data)
