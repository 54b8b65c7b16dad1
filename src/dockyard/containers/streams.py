"""Live stdio streams to a container's monitor: attach to the container, or an exec'd process.

The API layer reads (stream, bytes) pairs with `read()`, forwards its client's input with
`write()`, and ends input with `close_stdin()`; `resize()` sets a Tty's size.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from dockyard.containers import protocol


class Stream:
    """One attach or exec session. `read()` blocks; None means the end of the output."""

    def __init__(
        self,
        conn: protocol.MonitorConnection | None,
        tty: bool,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        prefix: list[tuple[str, bytes]] | None = None,
        request: dict[str, Any] | None = None,
    ) -> None:
        self._conn = conn
        self._connected = threading.Event()
        if conn is not None:
            self._connected.set()
        self.request = request  # for a stream attached before its container started
        self.tty = tty
        self._on_event = on_event
        self._prefix = list(prefix or [])
        self._send_lock = threading.Lock()
        self.exit_code: int | None = None
        self._closed = False

    def read(self) -> tuple[str, bytes] | None:
        """The next (stream, data) of output: stream is "stdout" or "stderr"."""
        if self._prefix:
            return self._prefix.pop(0)
        self._connected.wait()
        if self._conn is None:
            return None
        while True:
            try:
                f = self._conn.read_frame()
            except OSError:
                f = None
            if f is None:
                self.close()  # the end of the output: the monitor's socket is not kept
                return None
            kind, payload = f
            if kind == protocol.STDOUT:
                return "stdout", payload
            if kind == protocol.STDERR:
                return "stderr", payload
            if kind == protocol.EVENT:
                ev = json.loads(payload)
                if ev.get("event") == "exit" and "code" in ev:
                    self.exit_code = ev["code"]
                if self._on_event is not None:
                    self._on_event(ev)

    def __iter__(self):
        while True:
            item = self.read()
            if item is None:
                return
            yield item

    @property
    def pending(self) -> bool:
        return not self._connected.is_set()

    def connect(self, conn: protocol.MonitorConnection | None) -> None:
        """Connect a stream made before its container started (None: the start failed)."""
        if self._closed and conn is not None:
            conn.close()
            conn = None
        self._conn = conn
        self._connected.set()

    def write(self, data: bytes) -> None:
        """Forward input to the process's stdin."""
        self._connected.wait()
        if self._conn is None:
            raise ConnectionError("not attached")
        if data:
            with self._send_lock:
                self._conn.send(protocol.STDIN, data)

    def close_stdin(self) -> None:
        self._connected.wait()
        if self._conn is None:
            return
        with self._send_lock:
            try:
                self._conn.send(protocol.CLOSE_STDIN, b"")
            except OSError:
                pass

    def resize(self, height: int, width: int) -> None:
        if self._conn is None:
            return
        with self._send_lock:
            self._conn.send(protocol.RESIZE, json.dumps({"h": height, "w": width}).encode())

    def close(self) -> None:
        """Detach (the process keeps running)."""
        if not self._closed:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
            else:
                self._connected.set()
