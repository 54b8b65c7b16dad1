"""Starting monitors: the service's side of the zygote (see zygote.py)."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from dockyard.errors import SystemError_


class Launcher:
    """Owns the zygote process and asks it for monitors. Thread-safe."""

    def __init__(self, runtime_spec: str, runtime_root: str) -> None:
        self.runtime_spec = runtime_spec
        self.runtime_root = runtime_root
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._file = None

    def prestart(self) -> None:
        """Start the zygote now (it imports while the daemon does other things)."""
        with self._lock:
            self._ensure()

    def _ensure(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        os.makedirs(self.runtime_root, exist_ok=True)
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dockyard.containers.zygote",
                str(theirs.fileno()),
                self.runtime_spec,
                self.runtime_root,
            ],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            close_fds=True,
        )
        theirs.close()
        self._sock = ours
        self._file = ours.makefile("rb")

    def launch(
        self, container_dir: str, timeout: float = 60, on_created: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """Fork a monitor for the container in `container_dir`; wait until it reports.

        Returns the monitor's final report: {"pid": init pid} or {"error": message}. When
        the monitor first reports {"created": true} (it waits for attachers before the
        start), `on_created` is called.
        """
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            with self._lock:
                self._ensure()
                assert self._sock is not None and self._file is not None
                socket.send_fds(
                    self._sock, [json.dumps({"dir": container_dir}).encode() + b"\n"], [w]
                )
                os.close(w)
                w = -1
                reply = self._file.readline()
                if not reply:
                    self._close()
                    raise SystemError_("the monitor launcher exited")
                answer = json.loads(reply)
                if "error" in answer:
                    raise SystemError_(f"cannot start a monitor: {answer['error']}")
            while True:
                report = _read_report(r, timeout)
                if not report.get("created"):
                    return report
                if on_created is not None:
                    on_created()
        finally:
            if w >= 0:
                os.close(w)
            os.close(r)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = self._sock = self._file = None

    def close(self) -> None:
        """Stop the zygote (monitors it forked keep running)."""
        with self._lock:
            self._close()


def _read_report(fd: int, timeout: float) -> dict[str, Any]:
    """One JSON line from the monitor's report pipe (read byte-wise: lines may follow)."""
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise SystemError_("timed out waiting for the container monitor")
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    if not data:
        raise SystemError_("the container monitor died before starting the container")
    return json.loads(data)
