"""A small Docker Engine API client on the stdlib (its own HTTP/1.1 over AF_UNIX or TCP).

    client = APIClient()          # $DOCKYARD_HOST or unix:///run/dockyard/dockyard.sock
    client.system.version()
    client.volumes.create("data")

Errors from the daemon raise `APIError(status, message)`; no daemon raises
`DaemonUnreachable`. Resources live in one small module each.
"""

from __future__ import annotations

from dockyard.client.errors import APIError, ClientError, DaemonUnreachable, StreamError
from dockyard.client.system import System
from dockyard.client.transport import DEFAULT_HOST, HijackedSocket, Transport, default_host
from dockyard.client.volumes import Volumes


class APIClient:
    """One transport, one object per resource."""

    def __init__(
        self, host: str | None = None, version: str | None = None, timeout: float | None = None
    ) -> None:
        self.transport = Transport(host, version or "1.47", timeout)
        self.host = self.transport.host
        self.system = System(self.transport)
        self.volumes = Volumes(self.transport)

    def __getattr__(self, name: str):
        # Resource modules that import late (containers, images, ...) load on first use.
        import importlib

        modules = {
            "containers": "Containers",
            "images": "Images",
            "networks": "Networks",
            "exec": "Exec",
        }
        if name in modules:
            mod = importlib.import_module(f"dockyard.client.{name}")
            obj = getattr(mod, modules[name])(self.transport)
            setattr(self, name, obj)
            return obj
        raise AttributeError(name)


__all__ = [
    "APIClient",
    "APIError",
    "ClientError",
    "DaemonUnreachable",
    "StreamError",
    "DEFAULT_HOST",
    "HijackedSocket",
    "Transport",
    "default_host",
]
