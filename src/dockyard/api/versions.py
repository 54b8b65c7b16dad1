"""API versions: the range we speak and Docker's negotiation errors."""

from __future__ import annotations

from dockyard.errors import InvalidParameter

MIN_API_VERSION = "1.24"
API_VERSION = "1.47"


def parse(version: str) -> tuple[int, ...]:
    """'1.47' -> (1, 47); InvalidParameter when it is not dotted numbers."""
    try:
        parts = tuple(int(p) for p in version.split("."))
    except ValueError:
        raise InvalidParameter(f"invalid API version: {version!r}") from None
    if not parts:
        raise InvalidParameter(f"invalid API version: {version!r}")
    return parts


def check(version: str) -> tuple[int, ...]:
    """Validate a client's requested version against ours, with Docker's messages."""
    v = parse(version)
    if v > parse(API_VERSION):
        raise InvalidParameter(
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )
    if v < parse(MIN_API_VERSION):
        raise InvalidParameter(
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    return v
