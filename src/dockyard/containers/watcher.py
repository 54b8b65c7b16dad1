"""One thread that listens to every live monitor ("watch" connections) and reports their
events to the service: a restart's exit and start, and the monitor's end."""

from __future__ import annotations

import json
import os
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any

from dockyard.containers import protocol


class Watcher:
    def __init__(
        self, on_event: Callable[[str, dict[str, Any]], None], on_gone: Callable[[str], None]
    ) -> None:
        self._on_event = on_event
        self._on_gone = on_gone
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._pending: list[tuple[str, socket.socket]] = []
        self._watched: dict[str, socket.socket] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="monitor-watcher", daemon=True)
        self._thread.start()

    def watch(self, cid: str, socket_path: str) -> bool:
        """Follow the monitor of `cid`; False (and on_gone is not called) if it is gone."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(5)
            protocol.connect(sock, socket_path, 5)
            sock.sendall(b'{"op":"watch"}\n')
            sock.setblocking(False)
        except OSError:
            sock.close()
            return False
        with self._lock:
            self._pending.append((cid, sock))
        os.write(self._wake_w, b"x")
        return True

    def watching(self, cid: str) -> bool:
        with self._lock:
            return cid in self._watched or any(c == cid for c, _ in self._pending)

    def close(self) -> None:
        self._closed = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)

    def _run(self) -> None:
        readers: dict[socket.socket, tuple[str, protocol.FrameReader]] = {}
        while not self._closed:
            for key, _ in self._sel.select():
                if key.data is None:
                    try:
                        while os.read(self._wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    with self._lock:
                        pending, self._pending = self._pending, []
                        for cid, sock in pending:
                            self._watched[cid] = sock
                    for cid, sock in pending:
                        readers[sock] = (cid, protocol.FrameReader())
                        self._sel.register(sock, selectors.EVENT_READ, "m")
                    continue
                sock = key.fileobj
                cid, reader = readers[sock]
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self._sel.unregister(sock)
                    sock.close()
                    del readers[sock]
                    with self._lock:
                        if self._watched.get(cid) is sock:
                            del self._watched[cid]
                    self._safe(self._on_gone, cid)
                    continue
                for kind, payload in reader.feed(data):
                    if kind == protocol.EVENT:
                        self._safe(self._on_event, cid, json.loads(payload))
        for sock in readers:
            sock.close()

    @staticmethod
    def _safe(fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 (one container's trouble must not stop the watcher)
            import traceback

            traceback.print_exc()
