"""Docker's JSON shapes for containers: inspect (/containers/{id}/json), the list summary
(/containers/json), the human "Status" column, and the list filters."""

from __future__ import annotations

import copy
import re
import shlex
import time
from typing import Any

from dockyard.containers.jsonlog import parse_time
from dockyard.containers.mounts import inspect_entry
from dockyard.errors import InvalidParameter
from dockyard.units import human_duration

HOST_CONFIG_DEFAULTS: dict[str, Any] = {
    "Binds": None,
    "ContainerIDFile": "",
    "LogConfig": {"Type": "json-file", "Config": {}},
    "NetworkMode": "bridge",
    "PortBindings": {},
    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False,
    "VolumeDriver": "",
    "VolumesFrom": None,
    "ConsoleSize": [0, 0],
    "CapAdd": None,
    "CapDrop": None,
    "CgroupnsMode": "host",
    "Dns": [],
    "DnsOptions": [],
    "DnsSearch": [],
    "ExtraHosts": None,
    "GroupAdd": None,
    "IpcMode": "private",
    "Cgroup": "",
    "Links": None,
    "OomScoreAdj": 0,
    "PidMode": "",
    "Privileged": False,
    "PublishAllPorts": False,
    "ReadonlyRootfs": False,
    "SecurityOpt": None,
    "UTSMode": "",
    "UsernsMode": "",
    "ShmSize": 67108864,
    "Runtime": "runc",
    "Isolation": "",
    "CpuShares": 0,
    "Memory": 0,
    "NanoCpus": 0,
    "CgroupParent": "",
    "BlkioWeight": 0,
    "BlkioWeightDevice": [],
    "BlkioDeviceReadBps": [],
    "BlkioDeviceWriteBps": [],
    "BlkioDeviceReadIOps": [],
    "BlkioDeviceWriteIOps": [],
    "CpuPeriod": 0,
    "CpuQuota": 0,
    "CpuRealtimePeriod": 0,
    "CpuRealtimeRuntime": 0,
    "CpusetCpus": "",
    "CpusetMems": "",
    "Devices": [],
    "DeviceCgroupRules": None,
    "DeviceRequests": None,
    "MemoryReservation": 0,
    "MemorySwap": 0,
    "MemorySwappiness": None,
    "OomKillDisable": None,
    "PidsLimit": None,
    "Ulimits": [],
    "CpuCount": 0,
    "CpuPercent": 0,
    "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0,
    "MaskedPaths": None,
    "ReadonlyPaths": None,
}

NETWORK_SETTINGS_DEFAULTS: dict[str, Any] = {
    "Bridge": "",
    "SandboxID": "",
    "SandboxKey": "",
    "Ports": {},
    "HairpinMode": False,
    "LinkLocalIPv6Address": "",
    "LinkLocalIPv6PrefixLen": 0,
    "SecondaryIPAddresses": None,
    "SecondaryIPv6Addresses": None,
    "EndpointID": "",
    "Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "IPAddress": "",
    "IPPrefixLen": 0,
    "IPv6Gateway": "",
    "MacAddress": "",
    "Networks": {},
}


def _ago(stamp: str) -> float:
    try:
        return max(0.0, time.time() - parse_time(stamp) / 1e9)
    except ValueError:
        return 0.0


def status_text(state: dict[str, Any], health: dict[str, Any] | None) -> str:
    status = state["Status"]
    if status in ("running", "paused"):
        text = "Up " + human_duration(_ago(state["StartedAt"]))
        if status == "paused":
            return text + " (Paused)"
        if health:
            hs = health.get("Status")
            text += " (health: starting)" if hs == "starting" else f" ({hs})"
        return text
    if status == "restarting":
        return f"Restarting ({state['ExitCode']}) {human_duration(_ago(state['FinishedAt']))} ago"
    if status == "exited":
        return f"Exited ({state['ExitCode']}) {human_duration(_ago(state['FinishedAt']))} ago"
    if status == "removing":
        return "Removal In Progress"
    if status == "dead":
        return "Dead"
    return "Created"


def state_view(state: dict[str, Any], health: dict[str, Any] | None) -> dict[str, Any]:
    status = state["Status"]
    view = {
        "Status": status,
        "Running": status in ("running", "paused", "restarting"),
        "Paused": status == "paused",
        "Restarting": status == "restarting",
        "OOMKilled": bool(state.get("OOMKilled")),
        "Dead": status == "dead",
        "Pid": state["Pid"] if status in ("running", "paused") else 0,
        "ExitCode": state["ExitCode"],
        "Error": state.get("Error", ""),
        "StartedAt": state["StartedAt"],
        "FinishedAt": state["FinishedAt"],
    }
    if status == "restarting":
        view["Running"] = True
    if health is not None:
        view["Health"] = {
            "Status": health.get("Status", "starting"),
            "FailingStreak": health.get("FailingStreak", 0),
            "Log": health.get("Log", []),
        }
    return view


def inspect_view(
    cfg: dict[str, Any],
    state: dict[str, Any],
    health: dict[str, Any] | None,
    exec_ids: list[str],
    graph: dict[str, str],
) -> dict[str, Any]:
    """The body of GET /containers/{id}/json."""
    host_config = copy.deepcopy(HOST_CONFIG_DEFAULTS)
    host_config.update(copy.deepcopy(cfg["HostConfig"]))
    network = copy.deepcopy(NETWORK_SETTINGS_DEFAULTS)
    network.update(copy.deepcopy(cfg.get("NetworkSettings") or {}))
    return {
        "Id": cfg["Id"],
        "Created": cfg["Created"],
        "Path": cfg["Path"],
        "Args": cfg["Args"],
        "State": state_view(state, health),
        "Image": cfg["Image"],
        "ResolvConfPath": cfg["ResolvConfPath"],
        "HostnamePath": cfg["HostnamePath"],
        "HostsPath": cfg["HostsPath"],
        "LogPath": cfg["LogPath"],
        "Name": cfg["Name"],
        "RestartCount": state.get("RestartCount", 0),
        "Driver": cfg.get("Driver", "overlay2"),
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": exec_ids or None,
        "HostConfig": host_config,
        "GraphDriver": {"Data": graph or None, "Name": "overlay2"},
        "Mounts": [inspect_entry(m) for m in cfg.get("MountSpecs", [])],
        "Config": copy.deepcopy(cfg["Config"]),
        "NetworkSettings": network,
    }


def command_text(cfg: dict[str, Any]) -> str:
    args = [cfg["Path"], *cfg["Args"]] if cfg["Path"] else []
    return " ".join(a if a and " " not in a else shlex.quote(a) for a in args)


def summary_view(
    cfg: dict[str, Any], state: dict[str, Any], health: dict[str, Any] | None
) -> dict[str, Any]:
    """One entry of GET /containers/json."""
    network = cfg.get("NetworkSettings") or {}
    return {
        "Id": cfg["Id"],
        "Names": [cfg["Name"]],
        "Image": cfg["Config"].get("Image", ""),
        "ImageID": cfg["Image"],
        "Command": command_text(cfg),
        "Created": int(parse_time(cfg["Created"]) // 1_000_000_000),
        "Ports": cfg.get("Ports") or [],
        "Labels": cfg["Config"].get("Labels") or {},
        "State": state["Status"],
        "Status": status_text(state, health),
        "HostConfig": {"NetworkMode": cfg["HostConfig"].get("NetworkMode") or "bridge"},
        "NetworkSettings": {"Networks": network.get("Networks") or {}},
        "Mounts": [inspect_entry(m) for m in cfg.get("MountSpecs", [])],
    }


LIST_FILTERS = {
    "id",
    "name",
    "label",
    "status",
    "exited",
    "ancestor",
    "before",
    "since",
    "health",
    "volume",
    "network",
    "isolation",
    "is-task",
    "publish",
    "expose",
}
STATUSES = {"created", "restarting", "running", "removing", "paused", "exited", "dead"}


def validate_filters(filters: dict[str, list[str]]) -> None:
    for key, values in filters.items():
        if key not in LIST_FILTERS:
            raise InvalidParameter(f"invalid filter '{key}'")
        if key == "status":
            for v in values:
                if v not in STATUSES:
                    raise InvalidParameter(f"invalid filter 'status={v}'")
        if key == "health":
            for v in values:
                if v not in ("starting", "healthy", "unhealthy", "none"):
                    raise InvalidParameter(f"Unrecognised filter value for health: {v}")
        if key == "exited":
            for v in values:
                if not re.fullmatch(r"-?\d+", v):
                    raise InvalidParameter(f"invalid filter 'exited={v}'")


def label_matches(labels: dict[str, str], wanted: str) -> bool:
    key, eq, value = wanted.partition("=")
    if key not in labels:
        return False
    return not eq or labels[key] == value
