"""A quick yes/no check of a document against the compose schema, without jsonschema.

Importing jsonschema (with referencing, rpds and its format checkers) costs about 45 ms, more
than the rest of loading a compose file. Most files are valid, so schema.validate asks this
small interpreter of the Draft 7 keywords the compose schema uses first, and imports jsonschema
only to describe an error. It is conservative: it answers True only when jsonschema's
Draft7Validator would find no error (a schema keyword it does not know makes it answer False,
and enum/uniqueItems compare more strictly), so a False merely means "ask jsonschema".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# keywords that do not constrain an instance
_ANNOTATIONS = frozenset(
    {"description", "deprecated", "default", "$schema", "$id", "title", "definitions"}
)

Check = Callable[[Any], bool]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


class _Unsupported(Exception):
    """The schema uses a keyword this checker does not interpret."""


def _same(a: object, b: object) -> bool:
    """Equal, and of the same type all the way down (so 1 is not True, nor 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)  # type: ignore[union-attr]
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    return a == b


class _Compiler:
    """Turns schema nodes into checks; each $ref target is compiled once (recursion-safe)."""

    def __init__(self, root: dict) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, pointer: str) -> Check:
        if pointer not in self.refs:
            if not pointer.startswith("#/"):
                raise _Unsupported(pointer)
            node: Any = self.root
            for part in pointer[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            slot: list[Check] = []
            self.refs[pointer] = lambda value: slot[0](value)
            slot.append(self.compile(node))
        return self.refs[pointer]

    def compile(self, schema: object) -> Check:
        if schema is True or schema == {}:
            return lambda value: True
        if schema is False:
            return lambda value: False
        if not isinstance(schema, dict):
            raise _Unsupported(repr(schema))
        checks: list[Check] = []
        for keyword, arg in schema.items():
            if keyword in _ANNOTATIONS or keyword in ("patternProperties", "additionalProperties"):
                continue
            make = getattr(self, "k_" + keyword.lstrip("$"), None)
            if make is None:
                raise _Unsupported(keyword)
            checks.append(make(arg, schema))
        if "patternProperties" in schema or "additionalProperties" in schema:
            checks.append(self.k_properties_rest(schema))
        return lambda value: all(check(value) for check in checks)

    # one method per keyword: (argument, whole schema) -> check

    def k_ref(self, arg: str, schema: dict) -> Check:
        return self.ref(arg)

    def k_type(self, arg: str | list[str], schema: dict) -> Check:
        kinds = [_TYPES[t] for t in ([arg] if isinstance(arg, str) else arg)]
        return lambda value: any(kind(value) for kind in kinds)

    def k_properties(self, arg: dict, schema: dict) -> Check:
        props = {name: self.compile(sub) for name, sub in arg.items()}

        def check(value: object) -> bool:
            if not isinstance(value, dict):
                return True
            return all(props[k](v) for k, v in value.items() if k in props)

        return check

    def k_properties_rest(self, schema: dict) -> Check:
        """patternProperties and additionalProperties (which depends on both lists)."""
        known = set(schema.get("properties", {}))
        patterns = [
            (re.compile(p), self.compile(sub))
            for p, sub in schema.get("patternProperties", {}).items()
        ]
        additional = self.compile(schema.get("additionalProperties", True))

        def check(value: object) -> bool:
            if not isinstance(value, dict):
                return True
            for key, item in value.items():
                if not isinstance(key, str):
                    return False
                matched = False
                for pattern, sub in patterns:
                    if pattern.search(key):
                        matched = True
                        if not sub(item):
                            return False
                if not matched and key not in known and not additional(item):
                    return False
            return True

        return check

    def k_required(self, arg: list[str], schema: dict) -> Check:
        return lambda value: not isinstance(value, dict) or all(k in value for k in arg)

    def k_items(self, arg: object, schema: dict) -> Check:
        if isinstance(arg, list):
            raise _Unsupported("items as a list")
        sub = self.compile(arg)
        return lambda value: not isinstance(value, list) or all(sub(v) for v in value)

    def k_uniqueItems(self, arg: bool, schema: dict) -> Check:  # noqa: N802 - the keyword
        if not arg:
            return lambda value: True

        def check(value: object) -> bool:
            if not isinstance(value, list):
                return True
            # Python's == finds more duplicates than jsonschema (1 == True): stricter
            return all(value[i] != value[j] for i in range(len(value)) for j in range(i))

        return check

    def k_oneOf(self, arg: list, schema: dict) -> Check:  # noqa: N802 - the keyword
        subs = [self.compile(sub) for sub in arg]
        return lambda value: sum(1 for sub in subs if sub(value)) == 1

    def k_anyOf(self, arg: list, schema: dict) -> Check:  # noqa: N802 - the keyword
        subs = [self.compile(sub) for sub in arg]
        return lambda value: any(sub(value) for sub in subs)

    def k_allOf(self, arg: list, schema: dict) -> Check:  # noqa: N802 - the keyword
        subs = [self.compile(sub) for sub in arg]
        return lambda value: all(sub(value) for sub in subs)

    def k_enum(self, arg: list, schema: dict) -> Check:
        return lambda value: any(_same(value, choice) for choice in arg)

    def k_pattern(self, arg: str, schema: dict) -> Check:
        pattern = re.compile(arg)
        return lambda value: not isinstance(value, str) or pattern.search(value) is not None

    def k_minimum(self, arg: float, schema: dict) -> Check:
        return lambda value: not _is_number(value) or value >= arg

    def k_maximum(self, arg: float, schema: dict) -> Check:
        return lambda value: not _is_number(value) or value <= arg


_compiled: dict[int, tuple[dict, Check | None]] = {}


def surely_valid(schema: dict, document: object) -> bool:
    """True only if document is valid against schema (False: it may or may not be)."""
    entry = _compiled.get(id(schema))
    if entry is None or entry[0] is not schema:
        try:
            check: Check | None = _Compiler(schema).compile(schema)
        except _Unsupported:
            check = None
        entry = _compiled[id(schema)] = (schema, check)
    return bool(entry[1] and entry[1](document))
