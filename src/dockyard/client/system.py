"""System endpoints: ping, version, info, events, df, auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dockyard.client.transport import Transport


class System:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def ping(self) -> str:
        return self.t.request("GET", "/_ping", versioned=False)

    def ping_headers(self) -> dict[str, str]:
        return self.t.head("/_ping", versioned=False)

    def version(self) -> dict[str, Any]:
        return self.t.request("GET", "/version")

    def info(self) -> dict[str, Any]:
        return self.t.request("GET", "/info")

    def df(self, types: list[str] | None = None) -> dict[str, Any]:
        return self.t.request("GET", "/system/df", {"type": types} if types else None)

    def events(
        self,
        since: str | None = None,
        until: str | None = None,
        filters: dict[str, list[str]] | None = None,
    ) -> Iterator[dict[str, Any]]:
        params = {"since": since, "until": until, "filters": filters or None}
        return self.t.json_lines("GET", "/events", params)

    def auth(self, config: dict[str, Any]) -> dict[str, Any]:
        return self.t.request("POST", "/auth", body=config)
