"""Docker's `filters` query parameter: JSON {"key": ["v", ...]} or the old {"key": {"v": true}}."""

from __future__ import annotations

import json

from aiohttp import web

from dockyard.errors import InvalidParameter


def parse_filters(raw: str | None) -> dict[str, list[str]]:
    """Parse a filters argument into key -> values; malformed input is a 400."""
    if raw is None or raw.strip() == "":
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidParameter(f"invalid filter: {raw!r} is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidParameter("invalid filter: the filters argument must be a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            values = [str(k) for k, on in value.items() if on]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            values = list(value)
        elif isinstance(value, str):
            values = [value]
        else:
            raise InvalidParameter(f"invalid filter: bad value for {key!r}")
        out[key] = values
    return out


def request_filters(request: web.Request) -> dict[str, list[str]]:
    return parse_filters(request.query.get("filters"))


def check_keys(filters: dict[str, list[str]], allowed: tuple[str, ...] | set[str]) -> None:
    """Docker's error for a filter key a route does not know."""
    for key in filters:
        if key not in allowed:
            raise InvalidParameter(f"invalid filter '{key}'")
