"""Network endpoints."""

from __future__ import annotations

from typing import Any

from dockyard.client.transport import Transport
from dockyard.client.urls import quote


def _q(ref: str) -> str:
    return quote(ref, safe="")


class Networks:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def create(self, config: dict[str, Any]) -> dict[str, Any]:
        return self.t.request("POST", "/networks/create", body=config)

    def list(self, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        return self.t.request("GET", "/networks", {"filters": filters or None})

    def inspect(self, ref: str) -> dict[str, Any]:
        return self.t.request("GET", f"/networks/{_q(ref)}")

    def remove(self, ref: str) -> None:
        self.t.request("DELETE", f"/networks/{_q(ref)}")

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return self.t.request("POST", "/networks/prune", {"filters": filters or None})

    def connect(self, ref: str, container: str, endpoint: dict[str, Any] | None = None) -> None:
        self.t.request(
            "POST",
            f"/networks/{_q(ref)}/connect",
            body={"Container": container, "EndpointConfig": endpoint or {}},
        )

    def disconnect(self, ref: str, container: str, force: bool = False) -> None:
        self.t.request(
            "POST", f"/networks/{_q(ref)}/disconnect", body={"Container": container, "Force": force}
        )
