"""Starting monitors: the service's side of the zygote (see zygote.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from dockyard.errors import SystemError_
from dockyard.faults import crash_point


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

        The report comes over a socket pair (waited on with poll, through the socket's
        timeout: no descriptor number is too large). A started container is ours only once
        we acknowledged its report: when this call fails instead (a timeout, an error), we
        close our end without the acknowledgement, and the monitor, seeing that, kills the
        container, records the start as failed and exits (we wait a moment for that), so a
        start either succeeds and is reported or fails and leaves nothing running.
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        acknowledged = False
        try:
            with self._lock:
                self._ensure()
                assert self._sock is not None and self._file is not None
                socket.send_fds(
                    self._sock,
                    [json.dumps({"dir": container_dir}).encode() + b"\n"],
                    [theirs.fileno()],
                )
                theirs.close()
                reply = self._file.readline()
                if not reply:
                    self._close()
                    raise SystemError_("the monitor launcher exited")
                answer = json.loads(reply)
                if "error" in answer:
                    raise SystemError_(f"cannot start a monitor: {answer['error']}")
            reader = _ReportReader(ours)
            deadline = time.monotonic() + timeout
            while True:
                report = reader.read(deadline)
                if report.get("created"):
                    if on_created is not None:
                        on_created()
                    continue
                if "pid" in report:
                    crash_point("container.start.reported")
                    try:
                        ours.sendall(ACK)
                        acknowledged = True
                    except OSError:
                        # The monitor died after its report: its watch fails and the
                        # service records the end (a lost monitor).
                        acknowledged = True
                return report
        finally:
            theirs.close()
            if not acknowledged:
                _abandon(ours)
            ours.close()

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


ACK = b"k"
ABANDON_WAIT = 10.0


class _ReportReader:
    """JSON lines from the monitor's report socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = b""

    def read(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemError_("timed out waiting for the container monitor")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(4096)
            except TimeoutError:
                raise SystemError_("timed out waiting for the container monitor") from None
            except OSError as e:
                raise SystemError_(f"reading the container monitor's report: {e}") from None
            if not chunk:
                raise SystemError_("the container monitor died before starting the container")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)


def _abandon(sock: socket.socket) -> None:
    """Tell the monitor we gave up on its start (our write side ends without the
    acknowledgement), then wait a bounded while for it to undo the start and exit (its end
    of the socket closes)."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return
    deadline = time.monotonic() + ABANDON_WAIT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        sock.settimeout(left)
        try:
            if not sock.recv(4096):
                return
        except OSError:
            return
