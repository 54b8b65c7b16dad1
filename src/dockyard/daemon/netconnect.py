"""`docker network connect/disconnect` of a container: the container's record and its live
networking change together.

A created or stopped container gets the network in its NetworkingConfig (joined at its next
start, as Docker does); a running one is connected through the networking adapter at once
and its NetworkSettings are rewritten. The containers service has no such calls yet, so the
composition root provides them over its store and lock; they move into ContainerService when
it grows `connect_network`/`disconnect_network`.
"""

from __future__ import annotations

import copy
from typing import Any

from dockyard.errors import Conflict, Forbidden, NotFound

RUNNING = ("running", "paused", "restarting")


class NetworkConnector:
    """connect/disconnect for the network routes; `resolve` as the containers service's."""

    def __init__(self, containers: Any, networking: Any) -> None:
        self.containers = containers
        self.networking = networking  # dockyard.network.containers.ContainerNetworking

    def resolve(self, ref: str) -> str:
        return self.containers.resolve(ref)

    def _endpoints(self, cfg: dict[str, Any]) -> dict[str, Any]:
        nc = cfg.setdefault("NetworkingConfig", {}) or {}
        cfg["NetworkingConfig"] = nc
        eps = nc.get("EndpointsConfig")
        if not isinstance(eps, dict):
            eps = {}
            nc["EndpointsConfig"] = eps
        return eps

    def connect_network(self, cid: str, network: str, endpoint: dict[str, Any]) -> None:
        svc = self.containers
        with svc._lock(cid):
            cfg = svc.store.config(cid)
            mode = (cfg.get("HostConfig") or {}).get("NetworkMode") or "bridge"
            if mode in ("host", "none") or mode.startswith("container:"):
                raise Forbidden(
                    "container cannot be disconnected from host network or connected to host "
                    "network"
                    if mode == "host"
                    else "Container sharing network namespace with another container or host "
                    "cannot be connected to any other network"
                    if mode.startswith("container:")
                    else "container cannot be connected to multiple networks with one of the "
                    "networks in private (none) mode"
                )
            eps = self._endpoints(cfg)
            live = svc.state(cid)["Status"] in RUNNING
            if live:
                if network in ((cfg.get("NetworkSettings") or {}).get("Networks") or {}):
                    raise Forbidden(
                        f"endpoint with name {cfg['Name'].lstrip('/')} already "
                        f"exists in network {network}"
                    )
                result = self.networking.connect(network, cid, cfg, endpoint)
                self._apply(cfg, result)
            elif network in eps and network != mode:
                raise Forbidden(
                    f"endpoint with name {cfg['Name'].lstrip('/')} already exists "
                    f"in network {network}"
                )
            eps[network] = copy.deepcopy(endpoint or {})
            svc.store.save(cfg)

    def disconnect_network(self, cid: str, network: str, force: bool = False) -> None:
        svc = self.containers
        with svc._lock(cid):
            cfg = svc.store.config(cid)
            eps = self._endpoints(cfg)
            mode = (cfg.get("HostConfig") or {}).get("NetworkMode") or "bridge"
            live = svc.state(cid)["Status"] in RUNNING
            if live:
                if network not in ((cfg.get("NetworkSettings") or {}).get("Networks") or {}):
                    raise Conflict(f"container {cid} is not connected to network {network}")
                result = self.networking.disconnect(network, cid, cfg, force)
                self._apply(cfg, result)
            elif network not in eps and network != mode:
                if not force:
                    raise Conflict(f"container {cid} is not connected to network {network}")
            eps.pop(network, None)
            if network == mode and not live:
                # Docker leaves the mode network on the record; the next start joins the rest.
                others = [n for n in eps if n != mode]
                if others:
                    cfg["HostConfig"]["NetworkMode"] = others[0]
            svc.store.save(cfg)

    @staticmethod
    def _apply(cfg: dict[str, Any], result: dict[str, Any] | None) -> None:
        if not result:
            return
        if result.get("NetworkSettings") is not None:
            cfg["NetworkSettings"] = result["NetworkSettings"]
        if "Ports" in result:
            cfg["Ports"] = result.get("Ports") or []


__all__ = ["NetworkConnector", "NotFound"]
