"""A runtime backend that drives the `runc` binary with the same interface as dockyard.runtime.

`RuncRuntime(root)` offers create/start/state/kill/delete/exec like `dockyard.runtime.Runtime`,
so a daemon can be configured to use runc (like Docker's `--default-runtime`). The init it
creates is reparented to the caller, which must be a child subreaper (the monitor is one).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from typing import Any

from dockyard.errors import NotFound, SystemError_

RUNC = "runc"


class RuntimeError_(SystemError_):
    """runc failed; the message is runc's."""


class RuncRuntime:
    def __init__(self, root: str) -> None:
        self.root = root

    def _run(self, *args: str, fds: tuple[int, int, int] | None = None) -> str:
        cmd = [RUNC, "--root", self.root, *args]
        if fds is None:
            p = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL)
            err = p.stderr
        else:
            # runc passes its own stdio to the container's process: give it the pipes, and
            # read its complaints from a log file instead.
            with tempfile.TemporaryFile() as log:
                p = subprocess.run(
                    [
                        RUNC,
                        "--root",
                        self.root,
                        "--log",
                        f"/proc/self/fd/{log.fileno()}",
                        "--log-format",
                        "json",
                        *args,
                    ],
                    stdin=fds[0],
                    stdout=fds[1],
                    stderr=fds[2],
                    pass_fds=(log.fileno(),),
                )
                log.seek(0)
                err = _runc_log_message(log.read())
        if p.returncode != 0:
            msg = (err.decode(errors="replace") if isinstance(err, bytes) else err).strip()
            if "does not exist" in msg or "not exist" in msg:
                raise NotFound(msg)
            raise RuntimeError_(msg or f"runc {args[0]} failed")
        return p.stdout.decode() if isinstance(p.stdout, bytes) else ""

    def create(
        self,
        container_id: str,
        bundle: str,
        *,
        stdin: int,
        stdout: int,
        stderr: int,
        console_socket: str | None = None,
        pid_file: str | None = None,
    ) -> int:
        pid_file = pid_file or os.path.join(bundle, "init.pid")
        args = ["create", "--bundle", bundle, "--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        self._run(*args, container_id, fds=(stdin, stdout, stderr))
        with open(pid_file) as f:
            return int(f.read().strip())

    def start(self, container_id: str) -> None:
        self._run("start", container_id)

    def state(self, container_id: str) -> dict[str, Any]:
        return json.loads(self._run("state", container_id))

    def kill(self, container_id: str, sig: int, all: bool = False) -> None:  # noqa: A002
        self._run("kill", *(["--all"] if all else []), container_id, str(sig))

    def delete(self, container_id: str, force: bool = False) -> None:
        self._run("delete", *(["--force"] if force else []), container_id)

    def exec(
        self,
        container_id: str,
        process: dict[str, Any],
        *,
        stdin: int,
        stdout: int,
        stderr: int,
        console_socket: str | None = None,
    ) -> int:
        with tempfile.TemporaryDirectory() as tmp:
            spec = os.path.join(tmp, "process.json")
            with open(spec, "w") as f:
                json.dump(process, f)
            pid_file = os.path.join(tmp, "pid")
            args = ["exec", "--detach", "--process", spec, "--pid-file", pid_file]
            if console_socket:
                args += ["--console-socket", console_socket]
            self._run(*args, container_id, fds=(stdin, stdout, stderr))
            with open(pid_file) as f:
                return int(f.read().strip())


def _runc_log_message(data: bytes) -> str:
    """The last error message in runc's JSON log."""
    msg = ""
    for line in data.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") in ("error", "fatal"):
            msg = entry.get("msg", "")
    return msg
