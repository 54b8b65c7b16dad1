"""Request parsing helpers: JSON bodies, typed fields, query flags, with Docker's 400s."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from dockyard.errors import InvalidParameter

_GO_TYPES = {
    bool: "bool",
    int: "int64",
    float: "float64",
    str: "string",
    dict: "map[string]interface {}",
    list: "[]interface {}",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


async def read_json(request: web.Request, default: Any = None) -> Any:
    """The request body as JSON; an empty body gives `default` ({} unless told)."""
    raw = await request.read()
    if not raw.strip():
        return {} if default is None else default
    ctype = request.headers.get("Content-Type", "")
    if ctype and not ctype.split(";")[0].strip().lower().endswith("json"):
        raise InvalidParameter(
            f"unsupported Content-Type header ({ctype}): must be 'application/json'"
        )
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise InvalidParameter("invalid JSON: exceeded max depth") from None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body, which must be a JSON object (or empty)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidParameter(
            f"json: cannot unmarshal {_json_type(body)} into Go value of type struct"
        )
    return body


def field(
    obj: dict[str, Any],
    name: str,
    typ: type | tuple[type, ...],
    default: Any = None,
    where: str = "",
) -> Any:
    """obj[name] checked against `typ` (null means absent); a wrong type is a 400."""
    value = obj.get(name)
    if value is None:
        return default
    types = typ if isinstance(typ, tuple) else (typ,)
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if int in types and isinstance(value, float) and value.is_integer():
        value, ok = int(value), True
    if not ok:
        go = _GO_TYPES.get(types[0], types[0].__name__)
        prefix = f"{where}." if where else ""
        raise InvalidParameter(
            f"json: cannot unmarshal {_json_type(value)} into Go struct field "
            f"{prefix}{name} of type {go}"
        )
    return value


def string_map(obj: dict[str, Any], name: str, where: str = "") -> dict[str, str]:
    """A map[string]string field (Labels, DriverOpts)."""
    value = field(obj, name, dict, {}, where)
    for v in value.values():
        if not isinstance(v, str):
            prefix = f"{where}." if where else ""
            raise InvalidParameter(
                f"json: cannot unmarshal {_json_type(v)} into Go struct field "
                f"{prefix}{name} of type string"
            )
    return dict(value)


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as Docker reads it: 1/true/True/yes are true, 0/false/'' false."""
    value = request.query.get(name)
    if value is None:
        return default
    v = value.strip().lower()
    if v in ("", "0", "false", "no", "none"):
        return False
    return True


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidParameter(f'strconv.Atoi: parsing "{value}": invalid syntax') from None
