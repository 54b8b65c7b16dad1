"""A project rebuilt from the engine's labels, for commands given `-p NAME` and no file:
its services (image and dependencies from the containers' labels), networks and volumes.
Enough to list, stop and remove it; not to create anything.
"""

from __future__ import annotations

import os

from dockyard.compose import labels as L
from dockyard.compose.engine import Engine
from dockyard.compose.model import Dependency, Network, Project, Service, Volume


def project_from_engine(engine: Engine, name: str) -> Project:
    wanted = [f"{L.PROJECT}={name}"]
    project = Project(name=name, working_dir=os.getcwd(), config_files=[])
    for c in engine.containers(wanted):
        labels = c.get("Labels") or {}
        service = labels.get(L.SERVICE)
        if not service or service in project.services:
            continue
        project.services[service] = Service(
            name=service, image=c.get("Image"), depends_on=_depends_on(labels.get(L.DEPENDS_ON))
        )
        if labels.get(L.WORKING_DIR):
            project.working_dir = labels[L.WORKING_DIR]
    for net in engine.networks(wanted):
        key = (net.get("Labels") or {}).get(L.NETWORK) or net["Name"]
        project.networks[key] = Network(name=net["Name"])
    for vol in engine.volumes(wanted):
        key = (vol.get("Labels") or {}).get(L.VOLUME) or vol["Name"]
        project.volumes[key] = Volume(name=vol["Name"])
    for service in project.services.values():
        service.depends_on = {
            dep: spec for dep, spec in service.depends_on.items() if dep in project.services
        }
    return project


def _depends_on(label: str | None) -> dict[str, Dependency]:
    """`name:condition:restart,...` back to dependencies."""
    out: dict[str, Dependency] = {}
    for item in (label or "").split(","):
        parts = item.split(":")
        if not parts[0]:
            continue
        condition = parts[1] if len(parts) > 1 and parts[1] else "service_started"
        restart = len(parts) > 2 and parts[2] == "true"
        out[parts[0]] = Dependency(condition=condition, restart=restart)
    return out
