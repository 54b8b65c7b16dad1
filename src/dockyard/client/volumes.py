"""Volume endpoints."""

from __future__ import annotations

from typing import Any

from dockyard.client.transport import Transport
from dockyard.client.urls import quote


class Volumes:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def create(
        self,
        name: str | None = None,
        driver: str | None = None,
        driver_opts: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"Name": name or "", "Driver": driver or "local"}
        if driver_opts:
            body["DriverOpts"] = driver_opts
        if labels:
            body["Labels"] = labels
        return self.t.request("POST", "/volumes/create", body=body)

    def list(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return self.t.request("GET", "/volumes", {"filters": filters or None})

    def inspect(self, name: str) -> dict[str, Any]:
        return self.t.request("GET", f"/volumes/{_q(name)}")

    def remove(self, name: str, force: bool = False) -> None:
        self.t.request("DELETE", f"/volumes/{_q(name)}", {"force": force or None})

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return self.t.request("POST", "/volumes/prune", {"filters": filters or None})


def _q(name: str) -> str:
    return quote(name, safe="")
