"""The network service's records on disk: `networks/<id>.json` and `sandboxes/<container>.json`.

Network records are written atomically and fsynced (rare, and they must survive a power cut).
Sandbox records (a container's namespace, endpoints, address leases and published ports) are
written atomically (temp file + rename) without fsync: they describe kernel objects that do not
outlive a boot, and a killed daemon loses nothing that reached the page cache; fsync would only
guard against a power cut, after which the objects are gone anyway. That keeps a connect at one
cheap write (an fsync costs 6-9 ms on this machine's disk).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator

from dockyard.fsutil import read_json, write_json


class NetworkStore:
    def __init__(self, root: str) -> None:
        self.networks_dir = os.path.join(root, "networks")
        self.sandboxes_dir = os.path.join(root, "sandboxes")
        for d in (self.networks_dir, self.sandboxes_dir):
            os.makedirs(d, exist_ok=True)

    # networks

    def networks(self) -> Iterator[dict]:
        for entry in sorted(os.listdir(self.networks_dir)):
            if entry.endswith(".json"):
                yield read_json(os.path.join(self.networks_dir, entry))

    def save_network(self, record: dict) -> None:
        write_json(os.path.join(self.networks_dir, record["Id"] + ".json"), record)

    def delete_network(self, net_id: str) -> None:
        try:
            os.unlink(os.path.join(self.networks_dir, net_id + ".json"))
        except FileNotFoundError:
            pass

    # sandboxes

    def sandboxes(self) -> Iterator[dict]:
        """Every sandbox record; temp files of writes cut short by a crash are removed."""
        for entry in sorted(os.listdir(self.sandboxes_dir)):
            path = os.path.join(self.sandboxes_dir, entry)
            if ".json.tmp-" in entry:
                os.unlink(path)
            elif entry.endswith(".json"):
                yield read_json(path)

    def save_sandbox(self, sandbox: dict) -> None:
        path = os.path.join(self.sandboxes_dir, sandbox["ContainerID"] + ".json")
        tmp = f"{path}.tmp-{threading.get_native_id()}"
        with open(tmp, "w") as f:
            json.dump(sandbox, f, separators=(",", ":"))
        os.rename(tmp, path)

    def delete_sandbox(self, container_id: str) -> None:
        try:
            os.unlink(os.path.join(self.sandboxes_dir, container_id + ".json"))
        except FileNotFoundError:
            pass
