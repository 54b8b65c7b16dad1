"""The Engine API calls compose makes, over the client's transport (and nothing else).

Compose talks to the daemon only through Docker's HTTP API, so it drives any daemon that
speaks it (dockyard's, Docker's). Each method is one request; errors are the client's
`APIError` (with `.status`) and `StreamError` for an error inside a progress stream.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any, BinaryIO

from dockyard.client import APIClient, APIError, HijackedSocket, Transport
from dockyard.client.errors import StreamError
from dockyard.client.stdcopy import demux


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class Engine:
    """The daemon, as compose sees it: containers, networks, volumes, images, exec."""

    def __init__(self, client: APIClient) -> None:
        self.client = client
        self.t: Transport = client.transport

    # --- containers -------------------------------------------------------------------

    def containers(self, labels: list[str], all: bool = True) -> list[dict[str, Any]]:
        params = {"all": all, "filters": {"label": labels}}
        return self.t.request("GET", "/containers/json", params) or []

    def inspect(self, cid: str) -> dict[str, Any]:
        return self.t.request("GET", f"/containers/{_q(cid)}/json")

    def create(self, name: str | None, body: dict[str, Any]) -> str:
        out = self.t.request("POST", "/containers/create", {"name": name}, body=body)
        return out["Id"]

    def start(self, cid: str) -> None:
        self.t.request("POST", f"/containers/{_q(cid)}/start")

    def stop(self, cid: str, timeout: int | None = None) -> None:
        self.t.request("POST", f"/containers/{_q(cid)}/stop", {"t": timeout}, timeout=None)

    def restart(self, cid: str, timeout: int | None = None) -> None:
        self.t.request("POST", f"/containers/{_q(cid)}/restart", {"t": timeout})

    def kill(self, cid: str, signal: str | None = None) -> None:
        self.t.request("POST", f"/containers/{_q(cid)}/kill", {"signal": signal})

    def remove(self, cid: str, force: bool = False, volumes: bool = False) -> None:
        self.t.request("DELETE", f"/containers/{_q(cid)}", {"force": force, "v": volumes})

    def pause(self, cid: str) -> None:
        self.t.request("POST", f"/containers/{_q(cid)}/pause")

    def unpause(self, cid: str) -> None:
        self.t.request("POST", f"/containers/{_q(cid)}/unpause")

    def top(self, cid: str) -> dict[str, Any]:
        return self.t.request("GET", f"/containers/{_q(cid)}/top")

    def wait(self, cid: str, condition: str = "not-running") -> int:
        out = self.t.request("POST", f"/containers/{_q(cid)}/wait", {"condition": condition})
        return int((out or {}).get("StatusCode", 0))

    def logs(
        self,
        cid: str,
        follow: bool = False,
        tail: str | None = None,
        timestamps: bool = False,
        since: int | str | None = None,
        tty: bool = False,
    ) -> Iterator[tuple[int, bytes]]:
        """(stream, bytes) frames: 1 stdout, 2 stderr (a tty container's output is raw)."""
        params = {
            "stdout": True,
            "stderr": True,
            "follow": follow,
            "tail": tail,
            "timestamps": timestamps,
            "since": since,
        }
        chunks = self.t.stream("GET", f"/containers/{_q(cid)}/logs", params)
        if tty:
            return ((1, chunk) for chunk in chunks)
        return demux(chunks)

    def attach(self, cid: str, stdin: bool = False, logs: bool = False) -> HijackedSocket:
        params = {"stream": True, "stdout": True, "stderr": True, "stdin": stdin, "logs": logs}
        return self.t.hijack("POST", f"/containers/{_q(cid)}/attach", params)

    def events(self, filters: dict[str, list[str]], since: str | None = None):  # type: ignore[no-untyped-def]
        """The daemon's event stream (an iterator of dicts), filtered."""
        return self.t.json_lines("GET", "/events", {"filters": filters, "since": since})

    # --- exec ---------------------------------------------------------------------------

    def exec_create(self, cid: str, body: dict[str, Any]) -> str:
        return self.t.request("POST", f"/containers/{_q(cid)}/exec", body=body)["Id"]

    def exec_start(self, exec_id: str, tty: bool = False) -> HijackedSocket:
        return self.t.hijack(
            "POST", f"/exec/{_q(exec_id)}/start", body={"Detach": False, "Tty": tty}
        )

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return self.t.request("GET", f"/exec/{_q(exec_id)}/json")

    # --- networks -------------------------------------------------------------------------

    def networks(self, labels: list[str] | None = None) -> list[dict[str, Any]]:
        params = {"filters": {"label": labels}} if labels else None
        return self.t.request("GET", "/networks", params) or []

    def network(self, name: str) -> dict[str, Any] | None:
        try:
            return self.t.request("GET", f"/networks/{_q(name)}")
        except APIError as exc:
            if exc.status == 404:
                return None
            raise

    def create_network(self, body: dict[str, Any]) -> str:
        return self.t.request("POST", "/networks/create", body=body)["Id"]

    def remove_network(self, name: str) -> None:
        self.t.request("DELETE", f"/networks/{_q(name)}")

    # --- volumes ----------------------------------------------------------------------------

    def volumes(self, labels: list[str]) -> list[dict[str, Any]]:
        out = self.t.request("GET", "/volumes", {"filters": {"label": labels}}) or {}
        return out.get("Volumes") or []

    def volume(self, name: str) -> dict[str, Any] | None:
        try:
            return self.t.request("GET", f"/volumes/{_q(name)}")
        except APIError as exc:
            if exc.status == 404:
                return None
            raise

    def create_volume(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.t.request("POST", "/volumes/create", body=body)

    def remove_volume(self, name: str) -> None:
        self.t.request("DELETE", f"/volumes/{_q(name)}")

    # --- images -------------------------------------------------------------------------------

    def image(self, name: str) -> dict[str, Any] | None:
        try:
            return self.t.request("GET", f"/images/{_q(name)}/json")
        except APIError as exc:
            if exc.status == 404:
                return None
            raise

    def remove_image(self, name: str, force: bool = False) -> list[dict[str, Any]]:
        return self.t.request("DELETE", f"/images/{_q(name)}", {"force": force}) or []

    def pull(self, reference: str) -> Iterator[dict[str, Any]]:
        image, tag = _split_tag(reference)
        params = {"fromImage": image, "tag": tag}
        return _checked(self.t.json_lines("POST", "/images/create", params))

    def push(self, reference: str) -> Iterator[dict[str, Any]]:
        image, tag = _split_tag(reference)
        headers = {"X-Registry-Auth": "e30="}  # "{}": anonymous
        return _checked(
            self.t.json_lines("POST", f"/images/{image}/push", {"tag": tag}, headers=headers)
        )

    def build(self, context: BinaryIO, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST /build with an uncompressed tar context; the progress messages."""
        return _checked(self.t.json_lines("POST", "/build", params, body=context))


def _split_tag(reference: str) -> tuple[str, str | None]:
    """("name", "tag") of a reference; a digest stays in the name."""
    if "@" in reference:
        return reference, None
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, "latest"


def _checked(messages: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for message in messages:
        if message.get("error") or message.get("errorDetail"):
            detail = message.get("errorDetail") or {}
            raise StreamError(detail.get("message") or message.get("error"))
        yield message
