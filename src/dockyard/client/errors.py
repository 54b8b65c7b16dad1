"""Errors the client raises: the daemon's answers and an unreachable daemon."""

from __future__ import annotations


class ClientError(Exception):
    """Base of the client's errors."""


class APIError(ClientError):
    """The daemon answered with an error status and `{"message": ...}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message

    @property
    def not_found(self) -> bool:
        return self.status == 404


class DaemonUnreachable(ClientError):
    """Nothing answers on the daemon's socket."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"Cannot connect to the dockyard daemon at {host}. Is the dockyard daemon running?"
        )
        self.host = host


class StreamError(ClientError):
    """An error reported inside a JSON progress stream (`errorDetail`)."""


class ProtocolError(ClientError):
    """The daemon's answer is not well-formed HTTP/1.1 (or ended in the middle)."""
