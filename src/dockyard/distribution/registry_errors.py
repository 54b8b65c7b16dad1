"""The error codes of the distribution spec, with their HTTP status and default message.

The server answers `{"errors": [{"code", "message", "detail"}]}`; the client turns such a
body back into Docker's wording (`unauthorized: authentication required`).
"""

from __future__ import annotations

import json
from typing import Any

# code -> (HTTP status, message), as distribution's registry/api/errcode and api/v2 define them.
CODES: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "The operation is unsupported."),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
    "RANGE_INVALID": (416, "invalid content range"),
}


class RegistryError(Exception):
    """One spec error; `status` is its HTTP status."""

    def __init__(
        self, code: str, message: str | None = None, detail: Any = None, status: int | None = None
    ) -> None:
        default_status, default_message = CODES.get(code, (500, code.lower()))
        self.code = code
        self.message = message or default_message
        self.detail = detail
        self.status = status or default_status
        super().__init__(f"{code.lower()}: {self.message}")

    def body(self) -> bytes:
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return json.dumps({"errors": [entry]}).encode()


def describe(body: bytes, status: int, reason: str = "") -> str:
    """Docker's one-line text for an error response: `code: message` of each error."""
    try:
        errors = json.loads(body).get("errors") or []
        parts = []
        for e in errors:
            code = str(e.get("code", "")).lower().replace("_", " ")
            message = e.get("message", "")
            parts.append(f"{code}: {message}" if message else code)
        if parts:
            return "; ".join(parts)
    except (ValueError, AttributeError, TypeError):
        pass
    try:
        details = json.loads(body)
        if isinstance(details, dict) and details.get("details"):
            return str(details["details"])
    except (ValueError, TypeError):
        pass
    if status == 401:
        return "unauthorized: authentication required"
    if status == 403:
        return "denied: requested access to the resource is denied"
    return f"received unexpected HTTP status: {status} {reason}".strip()
