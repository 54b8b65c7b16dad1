"""The X-Registry-Auth header: base64url JSON credentials, as the docker CLI sends them."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web


def decode_auth(value: str | None) -> dict[str, Any] | None:
    """Credentials from an X-Registry-Auth value; None when absent or empty. Like dockerd, a
    value that does not decode is treated as no credentials."""
    if not value:
        return None
    value = value.strip()
    padded = value + "=" * (-len(value) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            obj = json.loads(decode(padded))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        if isinstance(obj, dict):
            creds = {k.lower(): v for k, v in obj.items() if isinstance(v, str) and v}
            return creds or None
    return None


def request_auth(request: web.Request) -> dict[str, Any] | None:
    return decode_auth(request.headers.get("X-Registry-Auth"))
