"""The one exception hierarchy of dockyard.

Every layer raises these; `api/` maps them to HTTP status codes and Docker's
`{"message": ...}` bodies, and the CLI prints `Error response from daemon: ...`.
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base of every error dockyard reports to a user."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidParameter(DockyardError):
    """Bad input from the caller (HTTP 400)."""

    status = 400


class Unauthorized(DockyardError):
    """Missing or wrong credentials (HTTP 401)."""

    status = 401


class Forbidden(DockyardError):
    """The caller may not do this (HTTP 403)."""

    status = 403


class NotFound(DockyardError):
    """The object does not exist (HTTP 404)."""

    status = 404


class Conflict(DockyardError):
    """The request conflicts with the current state (HTTP 409)."""

    status = 409


class NotModified(DockyardError):
    """Nothing to do: already in the requested state (HTTP 304)."""

    status = 304


class Unavailable(DockyardError):
    """A backend is not reachable (HTTP 503)."""

    status = 503


class SystemError_(DockyardError):
    """An unexpected failure of the system below us (HTTP 500)."""

    status = 500


def describe(exc: BaseException) -> str:
    """The words a user is shown for `exc`: a DockyardError's message; an OSError as Go
    prints one (`/path: no space left on device`: the errno's text in lower case, the file
    when known), never Python's `[Errno 28] ...`; anything else, its text."""
    if isinstance(exc, DockyardError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror[:1].lower() + exc.strerror[1:]
        return f"{exc.filename}: {text}" if exc.filename else text
    return str(exc) or type(exc).__name__
