"""A container's configuration: Docker's merge of image config and Config, and validation of
HostConfig (an option we do not support is refused by name, never silently ignored)."""

from __future__ import annotations

import copy
import signal
from typing import Any

from dockyard.errors import InvalidParameter

# HostConfig options we enact. Any other option with a non-empty value is refused.
SUPPORTED_HOST_OPTIONS = {
    "Binds",
    "Mounts",
    "Tmpfs",
    "NetworkMode",
    "PortBindings",
    "PublishAllPorts",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "RestartPolicy",
    "AutoRemove",
    "LogConfig",
    "Init",
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "NanoCpus",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "CapAdd",
    "CapDrop",
    "Privileged",
    "SecurityOpt",
    "Ulimits",
    "ReadonlyRootfs",
    "GroupAdd",
    "ConsoleSize",
    "ShmSize",
    "Sysctls",
    "MaskedPaths",
    "ReadonlyPaths",
    "OomKillDisable",
    "OomScoreAdj",
    "CgroupnsMode",
    "IpcMode",
    "PidMode",
    "UTSMode",
    "Runtime",
    "Links",
    "MemorySwappiness",
    "Annotations",
    "CgroupParent",
    "ContainerIDFile",
    "Isolation",
    "VolumeDriver",
    "Cgroup",
}
# Values that mean "not set" for options whose Docker default is not an empty value.
_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "MemorySwappiness": (None, -1),
    "Isolation": ("", "default"),
    "VolumeDriver": ("", "local"),
    "Runtime": ("", "runc"),
}
SIGNALS = {s.name: int(s) for s in signal.Signals if not s.name.startswith("SIG_")}


def _empty(value: Any) -> bool:
    return value in (None, "", 0, False) or value == [] or value == {}


def validate_host_config(host_config: dict[str, Any]) -> list[str]:
    """Raise InvalidParameter naming options we do not support; return warnings."""
    if not isinstance(host_config, dict):
        raise InvalidParameter("HostConfig must be an object")
    unsupported = []
    for key, value in host_config.items():
        if key in _DEFAULTS and value in _DEFAULTS[key]:
            continue
        if key in ("Isolation", "VolumeDriver", "Runtime", "MemorySwappiness"):
            unsupported.append(key)
            continue
        if key not in SUPPORTED_HOST_OPTIONS and not _empty(value):
            unsupported.append(key)
    if host_config.get("Links"):
        unsupported.append("Links")
    if host_config.get("IpcMode") not in (None, "", "private", "shareable", "none"):
        unsupported.append("IpcMode")
    if host_config.get("PidMode") not in (None, "", "host"):
        unsupported.append("PidMode")
    if host_config.get("UTSMode") not in (None, "", "host"):
        unsupported.append("UTSMode")
    if unsupported:
        raise InvalidParameter(
            "unsupported HostConfig option(s): " + ", ".join(sorted(set(unsupported)))
        )
    policy = host_config.get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidParameter(f"invalid restart policy '{name}'")
    retries = policy.get("MaximumRetryCount") or 0
    if not isinstance(retries, int) or retries < 0:
        raise InvalidParameter("maximum retry count cannot be negative")
    if retries and name != "on-failure":
        raise InvalidParameter("maximum retry count can only be used with 'on-failure'")
    if host_config.get("AutoRemove") and name != "no":
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    for opt in host_config.get("SecurityOpt") or []:
        if opt.split("=", 1)[0].split(":", 1)[0] not in (
            "seccomp",
            "no-new-privileges",
            "apparmor",
            "label",
        ):
            raise InvalidParameter(f'Invalid --security-opt: "{opt}"')
    return []


def parse_signal(value: str | int | None, default: int = signal.SIGTERM) -> int:
    """A signal given as a number, "KILL" or "SIGKILL"."""
    if value in (None, ""):
        return int(default)
    if isinstance(value, int) or (str(value).isascii() and str(value).isdigit()):
        num = int(value)
        if num <= 0 or num > 64:
            raise InvalidParameter(f"Invalid signal: {value}")
        return num
    name = str(value).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name not in SIGNALS:
        raise InvalidParameter(f"Invalid signal: {value}")
    return SIGNALS[name]


def merge_config(image_config: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Docker's merge of the image's config into the container's Config."""
    img = image_config.get("config") or image_config.get("Config") or {}
    out = copy.deepcopy(config)
    for key in ("Hostname", "Domainname", "User", "WorkingDir", "StopSignal"):
        out.setdefault(key, "")
    if not out.get("User"):
        out["User"] = img.get("User", "")
    if not out.get("WorkingDir"):
        out["WorkingDir"] = img.get("WorkingDir", "")
    # moby's merge: the user's variables first, then the image's that the user did not set.
    user_env = list(out.get("Env") or [])
    user_keys = {e.split("=", 1)[0] for e in user_env}
    out["Env"] = user_env + [e for e in img.get("Env") or [] if e.split("=", 1)[0] not in user_keys]
    if not out.get("Entrypoint") and not out.get("Cmd"):
        out["Cmd"] = img.get("Cmd")
    if out.get("Entrypoint") is None or out.get("Entrypoint") == []:
        if out.get("Entrypoint") is None:
            out["Entrypoint"] = img.get("Entrypoint")
    if isinstance(out.get("Entrypoint"), str):
        out["Entrypoint"] = [out["Entrypoint"]]
    if isinstance(out.get("Cmd"), str):
        out["Cmd"] = [out["Cmd"]]
    exposed = dict(img.get("ExposedPorts") or {})
    exposed.update(out.get("ExposedPorts") or {})
    out["ExposedPorts"] = exposed or None
    volumes = dict(img.get("Volumes") or {})
    volumes.update(out.get("Volumes") or {})
    out["Volumes"] = volumes or None
    labels = dict(img.get("Labels") or {})
    labels.update(out.get("Labels") or {})
    out["Labels"] = labels
    if not out.get("StopSignal") and img.get("StopSignal"):
        out["StopSignal"] = img["StopSignal"]
    if not out.get("Healthcheck") and img.get("Healthcheck"):
        out["Healthcheck"] = img["Healthcheck"]
    if not out.get("OnBuild") and img.get("OnBuild"):
        out["OnBuild"] = img["OnBuild"]
    for key, default in (
        ("AttachStdin", False),
        ("AttachStdout", False),
        ("AttachStderr", False),
        ("Tty", False),
        ("OpenStdin", False),
        ("StdinOnce", False),
    ):
        out.setdefault(key, default)
    return out


def command_of(config: dict[str, Any]) -> list[str]:
    """The container's process argv: Entrypoint + Cmd."""
    return list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
