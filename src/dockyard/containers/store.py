"""Container records on disk: DATA_ROOT/containers/ID/, with a name index and id-prefix lookup.

Each container directory holds files with one writer each, all written atomically:
- `config.v2.json`: the container's configuration (Id, Name, Config, HostConfig, Mounts, ...),
  written by the service;
- `state.json`: the run state (Status, Pid, ExitCode, StartedAt, ...), written by the
  container's monitor while one is alive and by the service otherwise;
- `health.json`: health-check state, written by the service.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import threading
import time
from typing import Any

from dockyard.containers import files
from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.fsutil import read_json, write_json
from dockyard.runtime.state import process_start_time

log = logging.getLogger("dockyard.containers")
OVERRIDE_RETRY = 2.0  # how often a state kept in memory is written again

CONFIG_FILE = "config.v2.json"
STATE_FILE = "state.json"
HEALTH_FILE = "health.json"

ZERO_TIME = "0001-01-01T00:00:00Z"


def empty_state() -> dict[str, Any]:
    """The state of a container that was created and never started."""
    return {
        "Status": "created",
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
        "OOMKilled": False,
        "RestartCount": 0,
        "MonitorPid": 0,
        "ManuallyStopped": False,
    }


def name_conflict(name: str, cid: str) -> Conflict:
    return Conflict(
        f'Conflict. The container name "{name}" is already in use by container "{cid}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )


class ContainerStore:
    """The set of container records under `root`, indexed by id and by name. Thread-safe."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        self._lock = threading.RLock()
        # States the disk could not take (full, EIO): cid -> [state, owner, next try]; the
        # owner is "monitor" (it writes it itself once it can) or "service" (written here).
        self._unsaved: dict[str, list[Any]] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._names: dict[str, str] = {}
        for cid in os.listdir(root):
            path = os.path.join(root, cid, CONFIG_FILE)
            try:
                cfg = read_json(path)
            except (OSError, ValueError):
                continue  # a half-created container: its directory is removed by reconcile
            self._configs[cid] = cfg
            self._names[cfg["Name"]] = cid

    # -- paths -----------------------------------------------------------------------------
    def dir(self, cid: str) -> str:
        return os.path.join(self.root, cid)

    def path(self, cid: str, name: str) -> str:
        return os.path.join(self.root, cid, name)

    def orphan_dirs(self) -> list[str]:
        """Directories under root without a readable record (left by a crash during create)."""
        with self._lock:
            return [d for d in os.listdir(self.root) if d not in self._configs]

    # -- records ---------------------------------------------------------------------------
    def add(self, cfg: dict[str, Any]) -> None:
        """Store a new record; its name must be free (else Conflict)."""
        with self._lock:
            other = self._names.get(cfg["Name"])
            if other is not None:
                raise name_conflict(cfg["Name"], other)
            os.makedirs(self.dir(cfg["Id"]), mode=0o710, exist_ok=True)
            write_json(self.path(cfg["Id"], STATE_FILE), empty_state())
            write_json(self.path(cfg["Id"], CONFIG_FILE), cfg)
            self._configs[cfg["Id"]] = cfg
            self._names[cfg["Name"]] = cfg["Id"]

    def name_taken(self, name: str) -> bool:
        with self._lock:
            return name in self._names

    def save(self, cfg: dict[str, Any]) -> None:
        with self._lock:
            if cfg["Id"] not in self._configs:
                raise NotFound(f"No such container: {cfg['Id']}")
            write_json(self.path(cfg["Id"], CONFIG_FILE), cfg)
            self._configs[cfg["Id"]] = cfg

    def rename(self, cid: str, new_name: str) -> None:
        with self._lock:
            cfg = self._configs[cid]
            other = self._names.get(new_name)
            if other is not None and other != cid:
                raise name_conflict(new_name, other)
            old = cfg["Name"]
            cfg = copy.deepcopy(cfg)
            cfg["Name"] = new_name
            write_json(self.path(cid, CONFIG_FILE), cfg)
            self._configs[cid] = cfg
            del self._names[old]
            self._names[new_name] = cid

    def delete(self, cid: str) -> None:
        """Forget a record and remove its directory."""
        with self._lock:
            cfg = self._configs.pop(cid, None)
            self._unsaved.pop(cid, None)
            if cfg is not None:
                self._names.pop(cfg["Name"], None)
            shutil.rmtree(self.dir(cid), ignore_errors=True)

    def config(self, cid: str) -> dict[str, Any]:
        """A copy of the configuration record of the container with full id `cid`."""
        with self._lock:
            try:
                return copy.deepcopy(self._configs[cid])
            except KeyError:
                raise NotFound(f"No such container: {cid}") from None

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._configs)

    def resolve(self, ref: str) -> str:
        """The full id for `ref`: a full id, a name (with or without "/"), or an id prefix."""
        with self._lock:
            if not ref:
                raise NotFound("No such container: ")
            if ref in self._configs:
                return ref
            name = ref if ref.startswith("/") else "/" + ref
            if name in self._names:
                return self._names[name]
            if all(c in "0123456789abcdef" for c in ref):
                found = [cid for cid in self._configs if cid.startswith(ref)]
                if len(found) > 1:
                    raise InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
                if found:
                    return found[0]
            raise NotFound(f"No such container: {ref}")

    # -- state -----------------------------------------------------------------------------
    def read_state(self, cid: str) -> dict[str, Any]:
        """The container's state: a state kept in memory because the disk could not take it
        wins over state.json. A monitor whose pid now names another process (its start time
        differs) reads as gone (MonitorPid 0)."""
        with self._lock:
            entry = self._unsaved.get(cid)
            if entry is not None:
                if entry[1] == "service" and time.monotonic() >= entry[2]:
                    self._write_unsaved(cid, entry)
                state = copy.deepcopy(entry[0])
        if entry is None:
            try:
                state = read_json(self.path(cid, STATE_FILE))
            except (OSError, ValueError):
                state = empty_state()
        state = {**empty_state(), **state}
        if state["MonitorPid"] and not process_matches(
            state["MonitorPid"], state.get("MonitorStartTime")
        ):
            state["MonitorPid"] = 0
        return state

    def write_state(self, cid: str, state: dict[str, Any], durable: bool = True) -> None:
        """Durable (fsynced) unless the state is short-lived (removing: the directory goes
        next; Docker keeps that mark in memory only). When the disk cannot take it (full,
        EIO), the state is kept in memory (read_state returns it) and written again later:
        the service's view stays true on a full disk."""
        with self._lock:
            self._unsaved.pop(cid, None)
            try:
                self._write(cid, state, durable)
            except OSError as e:
                if not os.path.isdir(self.dir(cid)):
                    raise
                log.warning("container %s: state kept in memory: %s", cid[:12], e.strerror or e)
                self._unsaved[cid] = [
                    copy.deepcopy(state),
                    "service",
                    time.monotonic() + OVERRIDE_RETRY,
                ]

    def _write(self, cid: str, state: dict[str, Any], durable: bool) -> None:
        if durable:
            write_json(self.path(cid, STATE_FILE), state)
        else:
            files.write_json(self.path(cid, STATE_FILE), state)

    def _write_unsaved(self, cid: str, entry: list[Any]) -> None:
        try:
            self._write(cid, entry[0], True)
        except OSError:
            entry[2] = time.monotonic() + OVERRIDE_RETRY
            return
        self._unsaved.pop(cid, None)

    def monitor_unsaved(self, cid: str, state: dict[str, Any] | None) -> None:
        """The monitor could not write its state (`state`), or (None) wrote it after all."""
        with self._lock:
            if state is None:
                entry = self._unsaved.get(cid)
                if entry is not None and entry[1] == "monitor":
                    del self._unsaved[cid]
            elif cid in self._configs:
                self._unsaved[cid] = [copy.deepcopy(state), "monitor", 0.0]

    def forget_unsaved(self, cid: str) -> None:
        """A new run starts: its monitor writes the state from now on."""
        with self._lock:
            self._unsaved.pop(cid, None)

    def adopt_unsaved(self, cid: str) -> None:
        """The monitor is gone: a state it could not write is now the service's to write."""
        with self._lock:
            entry = self._unsaved.get(cid)
            if entry is not None and entry[1] == "monitor":
                entry[1] = "service"
                self._write_unsaved(cid, entry)

    def read_health(self, cid: str) -> dict[str, Any] | None:
        try:
            return read_json(self.path(cid, HEALTH_FILE))
        except (OSError, ValueError):
            return None

    def write_health(self, cid: str, health: dict[str, Any] | None) -> None:
        path = self.path(cid, HEALTH_FILE)
        if health is None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        else:
            write_json(path, health)


def process_matches(pid: int, start_time: int | None) -> bool:
    """Whether `pid` is a live process (not a zombie) and, when `start_time` is known (field
    22 of /proc/PID/stat when it was recorded), still the same one (pids are reused)."""
    if pid <= 0:
        return False
    started = process_start_time(pid)
    if started is None:
        return False
    return not start_time or started == start_time
