"""The runtime's record of each container on disk (ROOT/ID/state.json) and its OCI status.

A record is written atomically once the container's init is ready. The status is not stored: it
is derived, as runc does, from the init process (alive, and the same process: its start time is
recorded) and the exec fifo (present until `start`).
"""

from __future__ import annotations

import os
from typing import Any

from dockyard import fsutil
from dockyard.errors import NotFound

OCI_VERSION = "1.0.2"
STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat, or None when the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(")") + 2 :].split()
    if rest[0] in ("Z", "X"):
        return None
    return int(rest[19])


class ContainerState:
    """What the runtime remembers of a container: its init (pid and start time, against pid
    reuse), bundle, creation time, the validated config and its cgroups."""

    def __init__(
        self,
        id: str,
        pid: int,
        bundle: str,
        start_time: int,
        created: str,
        config: dict[str, Any],
        cgroups: dict[str, Any],
        annotations: dict[str, str] | None = None,
    ) -> None:
        self.id = id
        self.pid = pid
        self.bundle = bundle
        self.start_time = start_time
        self.created = created
        self.config = config
        self.cgroups = cgroups
        self.annotations = annotations or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pid": self.pid,
            "bundle": self.bundle,
            "start_time": self.start_time,
            "created": self.created,
            "config": self.config,
            "cgroups": self.cgroups,
            "annotations": self.annotations,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContainerState:
        return cls(
            d["id"],
            d["pid"],
            d["bundle"],
            d["start_time"],
            d["created"],
            d["config"],
            d["cgroups"],
            d.get("annotations") or {},
        )


class StateStore:
    """The directory of container records, like runc's --root."""

    def __init__(self, root: str) -> None:
        self.root = root

    def dir(self, container_id: str) -> str:
        return os.path.join(self.root, container_id)

    def fifo(self, container_id: str) -> str:
        return os.path.join(self.dir(container_id), EXEC_FIFO)

    def save(self, st: ContainerState) -> None:
        fsutil.write_json(os.path.join(self.dir(st.id), STATE_FILE), st.to_dict(), mode=0o600)

    def load(self, container_id: str) -> ContainerState:
        path = os.path.join(self.dir(container_id), STATE_FILE)
        try:
            return ContainerState.from_dict(fsutil.read_json(path))
        except FileNotFoundError:
            raise NotFound(f"container {container_id} does not exist") from None

    def ids(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        return [n for n in names if os.path.exists(os.path.join(self.root, n, STATE_FILE))]

    def status(self, st: ContainerState) -> str:
        if process_start_time(st.pid) != st.start_time:
            return "stopped"
        if os.path.exists(self.fifo(st.id)):
            return "created"
        from dockyard.runtime.cgroups import CgroupSet

        if CgroupSet.from_dict(st.cgroups).frozen():
            return "paused"
        return "running"

    def oci_state(self, st: ContainerState, status: str | None = None) -> dict[str, Any]:
        status = status or self.status(st)
        return {
            "ociVersion": OCI_VERSION,
            "id": st.id,
            "status": status,
            "pid": st.pid if status in ("created", "running", "paused") else 0,
            "bundle": st.bundle,
            "annotations": st.annotations,
            "created": st.created,
            "rootfs": st.config.get("root", {}).get("path", ""),
        }
