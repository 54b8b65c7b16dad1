"""`docker commit`: a container's file-system changes as a new image layer.

It spans two services (containers and images) and the snapshotter, so it lives with the
composition root, as dockerd's daemon/commit.go does: pause the container (unless told not
to), diff its upper directory against its lower layers, add that layer on top of the
container's image with the container's config (plus `--change` instructions), unpause.
"""

from __future__ import annotations

import datetime
from typing import Any

from dockyard.errors import Conflict
from dockyard.faults import crash_point


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def commit_container(
    containers: Any,
    images: Any,
    snapshots: Any,
    ref: str,
    *,
    repo_tag: str | None = None,
    comment: str = "",
    author: str = "",
    changes: list[str] | None = None,
    pause: bool = True,
    config: dict[str, Any] | None = None,
) -> str:
    """Commit container `ref`; returns the new image id."""
    from dockyard.images.changes import apply_changes
    from dockyard.snapshots.layer import diff

    info = containers.inspect(ref)
    cid = info["Id"]
    status = (info.get("State") or {}).get("Status")
    paused_here = False
    if pause and status == "running":
        try:
            # marked as the daemon's own pause: start-up recovery undoes it after a crash
            containers.pause(cid, by_daemon=True)
            paused_here = True
        except Conflict:
            pass
    try:
        crash_point("commit.paused")
        tar = diff(snapshots.lower_dirs(cid), snapshots.upper_dir(cid))
    finally:
        if paused_here:
            containers.unpause(cid)
    container_config = dict(info.get("Config") or {})
    if config:
        container_config.update({k: v for k, v in config.items() if v not in (None, "", [], {})})
    new_config = apply_changes(_image_config_part(container_config), list(changes or []))
    base = images.get(info["Image"])
    image_config: dict[str, Any] = {
        "architecture": base.config.get("architecture", "amd64"),
        "os": base.config.get("os", "linux"),
        "config": new_config,
        "container": cid,
        "container_config": _image_config_part(dict(info.get("Config") or {})),
        "created": _now(),
        "docker_version": "dockyard",
    }
    if author:
        image_config["author"] = author
    if comment:
        image_config["comment"] = comment
    created_by = " ".join([info.get("Path", ""), *(info.get("Args") or [])]).strip()
    history = {"created": image_config["created"], "created_by": created_by}
    if author:
        history["author"] = author
    if comment:
        history["comment"] = comment
    try:
        image = images.add_layer(base, tar, image_config, history=history, tag=repo_tag)
    finally:
        tar.close()
    return image.id


_IMAGE_CONFIG_KEYS = (
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
)


def _image_config_part(config: dict[str, Any]) -> dict[str, Any]:
    return {k: config[k] for k in _IMAGE_CONFIG_KEYS if k in config}
