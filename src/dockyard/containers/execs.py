"""Exec: extra processes in a running container, run by its monitor (so the exit code is
recorded even if the client goes away). Exec records live in memory, as in Docker."""

from __future__ import annotations

import copy
import os
import secrets
import threading
from typing import TYPE_CHECKING, Any

from dockyard.containers import protocol
from dockyard.containers.streams import Stream
from dockyard.errors import Conflict, DockyardError, InvalidParameter, NotFound
from dockyard.fsutil import read_json

if TYPE_CHECKING:
    from dockyard.containers.service import ContainerService


class ExecManager:
    def __init__(self, service: ContainerService) -> None:
        self._svc = service
        self._lock = threading.Lock()
        self._execs: dict[str, dict[str, Any]] = {}
        self._sessions: dict[str, Stream] = {}

    def _get(self, exec_id: str) -> dict[str, Any]:
        with self._lock:
            rec = self._execs.get(exec_id)
        if rec is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return rec

    def _check_running(self, cid: str) -> None:
        status = self._svc.state(cid)["Status"]
        if status == "paused":
            raise Conflict(f"Container {cid} is paused, unpause the container before exec")
        if status != "running":
            raise Conflict(f"Container {cid} is not running")

    def create(self, ref: str, config: dict[str, Any]) -> str:
        """Docker's POST /containers/{id}/exec; returns the exec id."""
        cid = self._svc.resolve(ref)
        cmd = config.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise InvalidParameter("No exec command specified")
        self._check_running(cid)
        exec_id = secrets.token_hex(32)
        rec = {
            "ID": exec_id,
            "Running": False,
            "ExitCode": None,
            "ProcessConfig": {
                "tty": bool(config.get("Tty")),
                "entrypoint": cmd[0],
                "arguments": list(cmd[1:]),
                "privileged": bool(config.get("Privileged")),
                "user": config.get("User") or "",
            },
            "OpenStdin": bool(config.get("AttachStdin")),
            "OpenStderr": bool(config.get("AttachStderr")),
            "OpenStdout": bool(config.get("AttachStdout")),
            "CanRemove": False,
            "ContainerID": cid,
            "DetachKeys": config.get("DetachKeys") or "",
            "Pid": 0,
            "_env": list(config.get("Env") or []),
            "_workdir": config.get("WorkingDir") or "",
            "_console": config.get("ConsoleSize"),
            "_started": False,
        }
        with self._lock:
            self._execs[exec_id] = rec
        self._svc._event(f"exec_create: {' '.join(cmd)}", cid, {"execID": exec_id})
        return exec_id

    def inspect(self, exec_id: str) -> dict[str, Any]:
        rec = self._get(exec_id)
        return {k: copy.deepcopy(v) for k, v in rec.items() if not k.startswith("_")}

    def ids_for(self, cid: str) -> list[str]:
        with self._lock:
            return [e for e, r in self._execs.items() if r["ContainerID"] == cid]

    def forget_container(self, cid: str) -> None:
        with self._lock:
            for e in [e for e, r in self._execs.items() if r["ContainerID"] == cid]:
                del self._execs[e]
                self._sessions.pop(e, None)

    def _process(self, cid: str, rec: dict[str, Any], tty: bool) -> dict[str, Any]:
        """The OCI process for the exec: the container's, with the exec's args, env, cwd, user."""
        cdir = self._svc.store.dir(cid)
        spec = read_json(os.path.join(cdir, "bundle", "config.json"))
        proc = copy.deepcopy(spec["process"])
        pc = rec["ProcessConfig"]
        proc["args"] = [pc["entrypoint"], *pc["arguments"]]
        proc["terminal"] = tty
        env = list(proc.get("env") or [])
        index = {e.split("=", 1)[0]: i for i, e in enumerate(env)}
        for e in rec["_env"]:
            k = e.split("=", 1)[0]
            if k in index:
                env[index[k]] = e
            else:
                index[k] = len(env)
                env.append(e)
        proc["env"] = env
        if rec["_workdir"]:
            proc["cwd"] = rec["_workdir"]
        if pc["user"]:
            from dockyard.runtime.user import resolve_user

            root = os.path.join(cdir, "bundle", spec["root"]["path"])  # absolute stays
            uid, gid, sgids = resolve_user(root, pc["user"])
            proc["user"] = {"uid": uid, "gid": gid, "additionalGids": sgids}
        if pc["privileged"]:
            caps = sorted(
                set().union(*[set(v) for v in (proc.get("capabilities") or {}).values()])
                | _all_caps()
            )
            proc["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
        proc.pop("consoleSize", None)
        return proc

    def claim(self, exec_id: str) -> dict[str, Any]:
        """Reserve the exec for one start (Conflict if it runs or ran; the check and the mark
        are one step under the lock); returns its inspect view. For a caller that must answer
        before the process starts (the HTTP upgrade), then calls start(..., claimed=True) or
        release()."""
        rec = self._get(exec_id)
        with self._lock:
            self._mark_started(exec_id, rec)
        return self.inspect(exec_id)

    def release(self, exec_id: str) -> None:
        """Give back a claim whose start never came (the client went away)."""
        rec = self._get(exec_id)
        with self._lock:
            if not rec["Running"] and not rec["Pid"] and rec["ExitCode"] is None:
                rec["_started"] = False

    @staticmethod
    def _mark_started(exec_id: str, rec: dict[str, Any]) -> None:
        if rec["ExitCode"] is not None or (rec["_started"] and rec["Pid"] and not rec["Running"]):
            raise Conflict(f"Error: Exec command {exec_id} has already run")
        if rec["_started"]:
            raise Conflict(f"Error: Exec command {exec_id} is already running")
        rec["_started"] = True

    def start(
        self,
        exec_id: str,
        detach: bool = False,
        tty: bool | None = None,
        console_size: list[int] | None = None,
        claimed: bool = False,
    ) -> Stream | None:
        """Start the exec. Detached: returns None and the exit code is still recorded;
        otherwise a Stream to read its output from (and write its stdin to). Conflict if it
        was started before, unless `claimed` (the caller holds its claim())."""
        rec = self._get(exec_id)
        cid = rec["ContainerID"]
        if not claimed:
            with self._lock:
                self._mark_started(exec_id, rec)
        tty = rec["ProcessConfig"]["tty"] if tty is None else tty
        try:
            conn, first = self._launch(cid, rec, tty, detach, console_size)
        except Conflict:
            with self._lock:
                rec["_started"] = False  # the container was not running: it may be tried again
            raise
        except DockyardError as e:
            # the runtime could not start it: it has run, with moby's exit code (127 for a
            # program that is not there, else 126), and cannot be started again
            lowered = e.message.lower()
            missing = "not found" in lowered or "no such file" in lowered
            with self._lock:
                rec["ExitCode"] = 127 if missing else 126
                rec["Running"] = False
            raise
        except BaseException:
            with self._lock:
                rec["_started"] = False  # it never ran: it may be started again
            raise
        rec["Running"] = True
        rec["Pid"] = first.get("pid", 0)
        command = " ".join([rec["ProcessConfig"]["entrypoint"], *rec["ProcessConfig"]["arguments"]])
        self._svc._event(f"exec_start: {command}", cid, {"execID": exec_id})

        def on_event(ev: dict[str, Any]) -> None:
            if ev.get("event") == "exit":
                rec["ExitCode"] = ev.get("code")
                rec["Running"] = False
                self._svc._event(
                    "exec_die", cid, {"execID": exec_id, "exitCode": str(ev.get("code"))}
                )

        stream = Stream(conn, tty, on_event)
        with self._lock:
            self._sessions[exec_id] = stream
        if detach:
            threading.Thread(target=_drain, args=(stream,), daemon=True).start()
            return None
        return stream

    def _launch(
        self,
        cid: str,
        rec: dict[str, Any],
        tty: bool,
        detach: bool,
        console_size: list[int] | None,
    ) -> tuple[protocol.MonitorConnection, dict[str, Any]]:
        """Ask the container's monitor to run the exec; (connection, its "started" event)."""
        self._check_running(cid)
        req = {
            "op": "exec",
            "process": self._process(cid, rec, tty),
            "tty": tty,
            "stdin": rec["OpenStdin"] and not detach,
            "console_size": console_size or rec["_console"] or None,
        }
        conn = protocol.MonitorConnection(self._svc.socket_path(cid), req, timeout=30)
        first = conn.read_event()
        if first is None or first.get("event") != "started":
            conn.close()
            message = (first or {}).get("message", "the container's monitor is gone")
            raise _exec_error(message)
        conn.settimeout(None)
        return conn, first

    def resize(self, exec_id: str, height: int, width: int) -> None:
        rec = self._get(exec_id)
        with self._lock:
            stream = self._sessions.get(exec_id)
        if stream is None or not rec["Running"]:
            raise Conflict(f"Exec {exec_id} is not running")
        if stream.tty:
            stream.resize(height, width)

    def run(self, ref: str, cmd: list[str], timeout: float | None = None) -> tuple[int, bytes]:
        """Run `cmd` in the container and wait: (exit code, combined output). Used by health
        checks; on timeout the process is left to the container and -1 is returned."""
        exec_id = self.create(ref, {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})
        stream = self.start(exec_id)
        assert stream is not None
        out = bytearray()
        timer = None
        if timeout:
            timer = threading.Timer(timeout, stream.close)
            timer.start()
        try:
            for _, data in stream:
                if len(out) < 65536:
                    out += data
        finally:
            if timer:
                timer.cancel()
            stream.close()
        with self._lock:
            self._execs.pop(exec_id, None)
            self._sessions.pop(exec_id, None)
        return (stream.exit_code if stream.exit_code is not None else -1), bytes(out)


def _drain(stream: Stream) -> None:
    try:
        while stream.read() is not None:
            pass
    finally:
        stream.close()


def _all_caps() -> set[str]:
    from dockyard.runtime.capabilities import supported_caps

    return set(supported_caps())


def _exec_error(message: str) -> Exception:
    lowered = message.lower()
    if "not running" in lowered:
        return Conflict(message)
    if "not found" in lowered or "no such file" in lowered or "permission denied" in lowered:
        return InvalidParameter(f"OCI runtime exec failed: {message}")
    from dockyard.errors import SystemError_

    return SystemError_(f"OCI runtime exec failed: {message}")
