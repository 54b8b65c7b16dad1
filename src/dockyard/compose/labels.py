"""Docker Compose's labels and names on containers, networks and volumes.

Other compose tools (docker compose, docker-compose 1.29) find a project's objects by
these labels, and `up` recreates a container only when its config hash changed.
"""

from __future__ import annotations

import hashlib
import json

from dockyard import __version__
from dockyard.compose.model import Project, Service

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
CONTAINER_NUMBER = "com.docker.compose.container-number"
ONEOFF = "com.docker.compose.oneoff"
CONFIG_HASH = "com.docker.compose.config-hash"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
ENVIRONMENT_FILE = "com.docker.compose.project.environment_file"
VERSION = "com.docker.compose.version"
DEPENDS_ON = "com.docker.compose.depends_on"
IMAGE = "com.docker.compose.image"  # the image ID, set by the planner
NETWORK = "com.docker.compose.network"
VOLUME = "com.docker.compose.volume"

COMPOSE_VERSION = __version__


def config_hash(service: Service) -> str:
    """sha256 (hex) of the service's normalised config, as Docker Compose's ServiceHash:
    build, scale, depends_on and profiles do not count (changing them recreates nothing).
    """
    data = service.to_dict()
    for key in ("build", "scale", "depends_on", "profiles"):
        data.pop(key, None)
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def depends_on_label(service: Service) -> str:
    """`name:condition:restart` for each dependency, comma separated."""
    return ",".join(
        f"{name}:{dep.condition}:{str(dep.restart).lower()}"
        for name, dep in service.depends_on.items()
    )


def container_name(project: Project, service: Service, number: int, oneoff: bool = False) -> str:
    """PROJECT-SERVICE-N (or the service's container_name); run containers get -run-."""
    if service.container_name and not oneoff:
        return service.container_name
    if oneoff:
        return f"{project.name}-{service.name}-run-{number}"
    return f"{project.name}-{service.name}-{number}"


def container_labels(
    project: Project, service: Service, number: int, *, oneoff: bool = False
) -> dict[str, str]:
    """The labels of a service's container (the service's own labels included)."""
    labels = dict(service.labels)
    labels.update(
        {
            PROJECT: project.name,
            SERVICE: service.name,
            CONTAINER_NUMBER: str(number),
            ONEOFF: "True" if oneoff else "False",
            CONFIG_HASH: config_hash(service),
            WORKING_DIR: project.working_dir,
            CONFIG_FILES: ",".join(project.config_files),
            VERSION: COMPOSE_VERSION,
            DEPENDS_ON: depends_on_label(service),
        }
    )
    if project.env_files:
        labels[ENVIRONMENT_FILE] = ",".join(project.env_files)
    return labels


def image_name(project: Project, service: Service) -> str:
    """The service's image, or the name compose gives an image it builds: PROJECT-SERVICE."""
    return service.image or f"{project.name}-{service.name}"


def network_labels(project: Project, key: str) -> dict[str, str]:
    labels = dict(project.networks[key].labels) if key in project.networks else {}
    labels.update({PROJECT: project.name, NETWORK: key, VERSION: COMPOSE_VERSION})
    return labels


def volume_labels(project: Project, key: str) -> dict[str, str]:
    labels = dict(project.volumes[key].labels) if key in project.volumes else {}
    labels.update({PROJECT: project.name, VOLUME: key, VERSION: COMPOSE_VERSION})
    return labels


def project_filter(project_name: str) -> dict[str, list[str]]:
    """The API filter that lists a project's objects."""
    return {"label": [f"{PROJECT}={project_name}"]}
