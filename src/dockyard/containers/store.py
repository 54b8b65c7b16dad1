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
import os
import shutil
import threading
from typing import Any

from dockyard.containers import files
from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.fsutil import read_json, write_json

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
        try:
            state = read_json(self.path(cid, STATE_FILE))
        except (OSError, ValueError):
            state = empty_state()
        return {**empty_state(), **state}

    def write_state(self, cid: str, state: dict[str, Any], durable: bool = True) -> None:
        """Durable (fsynced) unless the state is short-lived (removing: the directory goes
        next; Docker keeps that mark in memory only)."""
        if durable:
            write_json(self.path(cid, STATE_FILE), state)
        else:
            files.write_json(self.path(cid, STATE_FILE), state)

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
