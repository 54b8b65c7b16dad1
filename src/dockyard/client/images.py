"""Image endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dockyard.client.transport import Transport
from dockyard.client.urls import quote


def _q(ref: str) -> str:
    return quote(ref, safe="/:@")


class Images:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def list(
        self,
        all: bool = False,
        filters: dict[str, list[str]] | None = None,  # noqa: A002
        digests: bool = False,
    ) -> list[dict[str, Any]]:
        return self.t.request(
            "GET",
            "/images/json",
            {"all": all or None, "filters": filters or None, "digests": digests or None},
        )

    def inspect(self, ref: str) -> dict[str, Any]:
        return self.t.request("GET", f"/images/{_q(ref)}/json")

    def history(self, ref: str) -> list[dict[str, Any]]:
        return self.t.request("GET", f"/images/{_q(ref)}/history")

    def tag(self, ref: str, repo: str, tag: str | None = None) -> None:
        self.t.request("POST", f"/images/{_q(ref)}/tag", {"repo": repo, "tag": tag})

    def remove(self, ref: str, force: bool = False, noprune: bool = False) -> list[dict]:
        return self.t.request(
            "DELETE", f"/images/{_q(ref)}", {"force": force or None, "noprune": noprune or None}
        )

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return self.t.request("POST", "/images/prune", {"filters": filters or None})

    def pull(
        self,
        from_image: str,
        tag: str | None = None,
        platform: str | None = None,
        auth: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        headers = {"X-Registry-Auth": auth} if auth else None
        return self.t.json_lines(
            "POST",
            "/images/create",
            {"fromImage": from_image, "tag": tag, "platform": platform},
            headers=headers,
        )

    def import_(
        self,
        source: Any,
        repo: str | None = None,
        tag: str | None = None,
        changes: list[str] | None = None,
        message: str | None = None,
        platform: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        params = {
            "fromSrc": "-" if hasattr(source, "read") else source,
            "repo": repo,
            "tag": tag,
            "changes": changes or None,
            "message": message,
            "platform": platform,
        }
        body = source if hasattr(source, "read") else None
        return self.t.json_lines("POST", "/images/create", params, body=body)

    def push(
        self, ref: str, tag: str | None = None, auth: str | None = None
    ) -> Iterator[dict[str, Any]]:
        headers = {"X-Registry-Auth": auth or "e30="}
        return self.t.json_lines("POST", f"/images/{_q(ref)}/push", {"tag": tag}, headers=headers)

    def save(self, names: list[str]) -> Iterator[bytes]:
        return self.t.stream("GET", "/images/get", {"names": names})

    def load(self, tar: Any, quiet: bool = False) -> Iterator[dict[str, Any]]:
        return self.t.json_lines("POST", "/images/load", {"quiet": quiet or None}, body=tar)
