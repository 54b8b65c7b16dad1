"""Request parsing helpers: JSON bodies, typed fields, query flags, with Docker's 400s."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from dockyard.api import gotypes
from dockyard.errors import InvalidParameter

_GO_TYPES = {
    bool: "bool",
    int: "int64",
    float: "float64",
    str: "string",
    dict: "map[string]interface {}",
    list: "[]interface {}",
}


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


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
        # numbers with a fraction or exponent keep their text for Go's messages; NaN and
        # Infinity are not JSON (Go refuses them)
        return json.loads(raw, parse_float=gotypes.GoFloat, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise InvalidParameter("invalid JSON: exceeded max depth") from None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body, which must be a JSON object (or empty), checked against the Go
    struct dockerd decodes it into (gotypes.ROOTS): a field of the wrong kind or a number out
    of its Go type's range is a 400 with Go's message."""
    body = await read_json(request)
    root = None
    route = request.match_info.route.resource
    if route is not None:
        root = gotypes.root_for(request.method, route.canonical)
    if root is not None:
        gotypes.check(body, root)
    if not isinstance(body, dict):
        raise InvalidParameter(
            f"json: cannot unmarshal {gotypes.json_kind(body)} into Go value of type struct"
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
            f"json: cannot unmarshal {gotypes.json_kind(value)} into Go struct field "
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
                f"json: cannot unmarshal {gotypes.json_kind(v)} into Go struct field "
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


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_DECIMAL = re.compile(r"[+-]?[0-9]+", re.ASCII)


def atoi(value: str, func: str = "Atoi") -> int:
    """Go's strconv.Atoi (an int is 64 bits): ASCII digits with an optional sign, nothing
    else; the error texts are Go's."""
    if not _DECIMAL.fullmatch(value):
        raise InvalidParameter(f'strconv.{func}: parsing "{value}": invalid syntax')
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise InvalidParameter(f'strconv.{func}: parsing "{value}": value out of range')
    return number


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    """An integer query parameter read as dockerd reads it (strconv.Atoi); absent or empty
    gives `default`. A malformed or out-of-range number is a 400 with Go's message."""
    value = request.query.get(name)
    if value is None or value == "":
        return default
    return atoi(value)


def query_atoi(request: web.Request, name: str) -> int:
    """A required integer query parameter, as dockerd's strconv.Atoi(r.Form.Get(name)): an
    absent one is "" and a 400 (`strconv.Atoi: parsing "": invalid syntax`)."""
    return atoi(request.query.get(name, ""))


def query_tail(request: web.Request) -> int:
    """`tail` of the logs endpoints: dockerd's strconv.Atoi, where anything that is not a
    number in int64's range ("all", "", "x", 1e30) means every line (-1)."""
    try:
        return atoi(request.query.get("tail", "all"))
    except InvalidParameter:
        return -1


def parse_timestamp(value: str) -> float:
    """moby's timetypes.ParseTimestamps for `since`/`until`: "<seconds>[.<nanoseconds>]",
    each part an int64 (strconv.ParseInt's errors); returns seconds as a float."""
    secs, dot, frac = value.partition(".")
    sec = atoi(secs, "ParseInt")
    if not dot:
        return float(sec)
    nsec = atoi(frac, "ParseInt")
    return sec + nsec * 10.0 ** (-len(frac))


def query_timestamp(request: web.Request, name: str) -> float:
    """A `since`/`until` query parameter; absent, empty or "0" is 0 (unbounded)."""
    value = request.query.get(name, "")
    return 0.0 if value in ("", "0") else parse_timestamp(value)
