"""Percent-encoding for request paths and query strings (what urllib.parse does, without its
import cost on every CLI command)."""

from __future__ import annotations

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str, safe: str = "/") -> str:
    """`urllib.parse.quote`: UTF-8, every byte but the unreserved ones and `safe` as %XX."""
    keep = _UNRESERVED | frozenset(safe.encode("ascii"))
    data = text.encode("utf-8")
    if all(b in keep for b in data):
        return text
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in data)


def quote_plus(text: str, safe: str = "") -> str:
    """`urllib.parse.quote_plus`: as `quote`, spaces become `+`."""
    if " " not in text:
        return quote(text, safe)
    return quote(text, safe + " ").replace(" ", "+")


def urlencode(pairs: list[tuple[str, str]]) -> str:
    """`urllib.parse.urlencode` of (name, value) pairs: `a=1&b=x+y`."""
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs)
