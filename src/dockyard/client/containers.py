"""Container endpoints (and exec, which hangs off containers)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from dockyard.client.transport import HijackedSocket, Transport
from dockyard.client.urls import quote


def _q(ref: str) -> str:
    return quote(ref, safe="")


class Waiter:
    """A POST /containers/{id}/wait in a thread: `registered` is set once the daemon answered
    with its headers (the wait is in place); `result()` gives the body."""

    def __init__(self, t: Transport, ref: str, condition: str | None) -> None:
        import threading

        self.registered = threading.Event()
        self._result: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(t, ref, condition), daemon=True)
        self._thread.start()
        self.registered.wait(10)

    def _run(self, t: Transport, ref: str, condition: str | None) -> None:
        try:
            conn, resp = t._send(
                "POST", f"/containers/{_q(ref)}/wait", {"condition": condition}, None, None, None
            )
            self.registered.set()
            try:
                self._result = json.loads(resp.read() or b"{}")
            finally:
                conn.close()
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._error = exc
        finally:
            self.registered.set()

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        return self._result or {}


class Containers:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def create(
        self, config: dict[str, Any], name: str | None = None, platform: str | None = None
    ) -> dict[str, Any]:
        return self.t.request(
            "POST", "/containers/create", {"name": name, "platform": platform}, body=config
        )

    def list(
        self,
        all: bool = False,
        filters: dict[str, list[str]] | None = None,  # noqa: A002
        size: bool = False,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        return self.t.request(
            "GET",
            "/containers/json",
            {"all": all or None, "filters": filters or None, "size": size or None, "limit": limit},
        )

    def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        return self.t.request("GET", f"/containers/{_q(ref)}/json", {"size": size or None})

    def start(self, ref: str) -> None:
        self.t.request("POST", f"/containers/{_q(ref)}/start")

    def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        self.t.request("POST", f"/containers/{_q(ref)}/stop", {"t": timeout, "signal": signal})

    def restart(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        self.t.request("POST", f"/containers/{_q(ref)}/restart", {"t": timeout, "signal": signal})

    def kill(self, ref: str, signal: str | None = None) -> None:
        self.t.request("POST", f"/containers/{_q(ref)}/kill", {"signal": signal})

    def remove(
        self, ref: str, force: bool = False, volumes: bool = False, link: bool = False
    ) -> None:
        self.t.request(
            "DELETE",
            f"/containers/{_q(ref)}",
            {"force": force or None, "v": volumes or None, "link": link or None},
        )

    def wait(self, ref: str, condition: str | None = None) -> dict[str, Any]:
        return self.t.request("POST", f"/containers/{_q(ref)}/wait", {"condition": condition})

    def wait_begin(self, ref: str, condition: str | None = None) -> Waiter:
        """Start a wait now (as `docker run` does before it starts the container); the answer
        is collected later with `Waiter.result()`."""
        return Waiter(self.t, ref, condition)

    def logs(self, ref: str, **params: Any) -> Iterator[bytes]:
        return self.t.stream("GET", f"/containers/{_q(ref)}/logs", params)

    def attach(
        self,
        ref: str,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        logs: bool = False,
        stream: bool = True,
        detach_keys: str | None = None,
    ) -> HijackedSocket:
        return self.t.hijack(
            "POST",
            f"/containers/{_q(ref)}/attach",
            {
                "stdin": stdin,
                "stdout": stdout,
                "stderr": stderr,
                "logs": logs,
                "stream": stream,
                "detachKeys": detach_keys,
            },
        )

    def resize(self, ref: str, height: int, width: int) -> None:
        self.t.request("POST", f"/containers/{_q(ref)}/resize", {"h": height, "w": width})

    def top(self, ref: str, ps_args: str | None = None) -> dict[str, Any]:
        return self.t.request("GET", f"/containers/{_q(ref)}/top", {"ps_args": ps_args})

    def stats(self, ref: str, stream: bool = True) -> Iterator[dict[str, Any]]:
        return self.t.json_lines(
            "GET", f"/containers/{_q(ref)}/stats", {"stream": stream, "one-shot": None}
        )

    def rename(self, ref: str, name: str) -> None:
        self.t.request("POST", f"/containers/{_q(ref)}/rename", {"name": name})

    def pause(self, ref: str) -> None:
        self.t.request("POST", f"/containers/{_q(ref)}/pause")

    def unpause(self, ref: str) -> None:
        self.t.request("POST", f"/containers/{_q(ref)}/unpause")

    def update(self, ref: str, resources: dict[str, Any]) -> dict[str, Any]:
        return self.t.request("POST", f"/containers/{_q(ref)}/update", body=resources)

    def archive_stat(self, ref: str, path: str) -> dict[str, Any]:
        headers = self.t.head(f"/containers/{_q(ref)}/archive?path={_q(path)}")
        raw = headers.get("x-docker-container-path-stat", "")
        return json.loads(base64.b64decode(raw)) if raw else {}

    def archive_get(self, ref: str, path: str) -> Iterator[bytes]:
        return self.t.stream("GET", f"/containers/{_q(ref)}/archive", {"path": path})

    def archive_put(
        self, ref: str, path: str, tar: Any, no_overwrite: bool = False, copy_uid_gid: bool = False
    ) -> None:
        self.t.request(
            "PUT",
            f"/containers/{_q(ref)}/archive",
            {
                "path": path,
                "noOverwriteDirNonDir": no_overwrite or None,
                "copyUIDGID": copy_uid_gid or None,
            },
            body=tar,
        )

    def export(self, ref: str) -> Iterator[bytes]:
        return self.t.stream("GET", f"/containers/{_q(ref)}/export")

    def changes(self, ref: str) -> list[dict[str, Any]] | None:
        return self.t.request("GET", f"/containers/{_q(ref)}/changes")

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return self.t.request("POST", "/containers/prune", {"filters": filters or None})
