"""Validation of one compose file against the compose specification's JSON schema.

The schema ships as dockyard/data/compose-spec.json (from compose-spec/compose-spec, with
its license beside it). Errors name the file, the path in it (`services.web.ports[0]`) and
the problem in Docker Compose's words where there are such words.
"""

from __future__ import annotations

import functools
import json
import os
import re
from typing import TYPE_CHECKING

from dockyard.compose.errors import ComposeError
from dockyard.compose.interpolation import format_path
from dockyard.compose.quickcheck import surely_valid

if TYPE_CHECKING:  # jsonschema is imported only to describe an invalid file (~45 ms)
    import jsonschema
    from jsonschema.exceptions import ValidationError

_SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "compose-spec.json")
_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


@functools.cache
def compose_schema() -> dict:
    # a plain open: importlib.resources costs a few ms of imports on every compose command
    with open(_SCHEMA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def _validator() -> jsonschema.Draft7Validator:
    import jsonschema

    return jsonschema.Draft7Validator(compose_schema())


def validate(data: dict, source: str) -> None:
    """Raise ComposeError for the most relevant schema violation of data.

    A quick check answers for valid files; jsonschema finds and names the error.
    """
    if surely_valid(compose_schema(), data):
        return
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(data))
    if error is None:
        return
    path = format_path(tuple(error.absolute_path))
    raise ComposeError(f"validating {source}: {path or '(root)'} {describe(error)}")


def describe(error: ValidationError) -> str:
    """A ValidationError in Docker Compose's words."""
    kind = error.validator
    if kind == "additionalProperties":
        extra = _extra_properties(error)
        if extra:
            names = ", ".join(f"'{name}'" for name in extra)
            return f"additional properties {names} not allowed"
    if kind == "type":
        wanted = error.validator_value
        wanted = wanted if isinstance(wanted, list) else [wanted]
        return "must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
    if kind == "enum":
        return "must be one of " + ", ".join(json.dumps(v) for v in error.validator_value)
    if kind == "required":
        match = re.match(r"'(.*)' is a required property", error.message)
        return f"missing property '{match.group(1)}'" if match else error.message
    if kind in ("oneOf", "anyOf") and error.context:
        from jsonschema.exceptions import best_match

        return describe(best_match(error.context) or error)
    if kind == "pattern":
        return f"does not match pattern {json.dumps(error.validator_value)}"
    if kind == "uniqueItems":
        return "contains duplicate items"
    if kind in ("minimum", "maximum", "minItems", "maxItems", "minProperties"):
        return error.message.replace(repr(error.instance), "").strip() or error.message
    return error.message


def _extra_properties(error: ValidationError) -> list[str]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    schema = error.schema
    known = set(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [
        key for key in instance if key not in known and not any(p.search(key) for p in patterns)
    ]
