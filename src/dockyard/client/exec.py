"""Exec endpoints."""

from __future__ import annotations

from typing import Any

from dockyard.client.transport import HijackedSocket, Transport
from dockyard.client.urls import quote


class Exec:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def create(self, container: str, config: dict[str, Any]) -> str:
        ref = quote(container, safe="")
        return self.t.request("POST", f"/containers/{ref}/exec", body=config)["Id"]

    def start_detached(self, exec_id: str) -> None:
        self.t.request("POST", f"/exec/{exec_id}/start", body={"Detach": True, "Tty": False})

    def start(
        self, exec_id: str, tty: bool = False, console_size: list[int] | None = None
    ) -> HijackedSocket:
        body: dict[str, Any] = {"Detach": False, "Tty": tty}
        if console_size:
            body["ConsoleSize"] = console_size
        return self.t.hijack("POST", f"/exec/{exec_id}/start", body=body)

    def inspect(self, exec_id: str) -> dict[str, Any]:
        return self.t.request("GET", f"/exec/{exec_id}/json")

    def resize(self, exec_id: str, height: int, width: int) -> None:
        self.t.request("POST", f"/exec/{exec_id}/resize", {"h": height, "w": width})
