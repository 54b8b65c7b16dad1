"""Docker's HostConfig at create time: the defaults it fills in and the checks it makes.

`adapt_host_config` gives HostConfig Docker's defaults (ShmSize, IpcMode, CgroupnsMode,
MemorySwap, ...); `verify_host_config` makes Docker's checks with Docker's wording and refuses
every option dockyard cannot enact (never an option ignored silently). The spec generator
(spec.py) builds config.json from the result.
"""

from __future__ import annotations

import os
from typing import Any

from dockyard.errors import InvalidParameter
from dockyard.runtime import mountdest, sysctls

DEFAULT_SHM_SIZE = 64 * 1024 * 1024
_MIN_MEMORY = 6291456
_MAX_HOSTNAME = 64


def cgroup_unified() -> bool:
    """True on a cgroup v2 only host (Docker's cgroups.Mode() == Unified)."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def adapt_host_config(host_config: dict[str, Any]) -> dict[str, Any]:
    """A copy of HostConfig with the defaults Docker fills in at create time."""
    hc = dict(host_config or {})
    _check_types(hc)
    memory = hc.get("Memory") or 0
    if memory > 0 and not hc.get("MemorySwap"):
        hc["MemorySwap"] = memory * 2
    if not hc.get("ShmSize"):
        hc["ShmSize"] = DEFAULT_SHM_SIZE
    if not hc.get("IpcMode"):
        hc["IpcMode"] = "private"
    if not hc.get("CgroupnsMode"):
        if hc.get("Privileged") and not cgroup_unified():
            hc["CgroupnsMode"] = "host"
        else:
            hc["CgroupnsMode"] = "private" if cgroup_unified() else "host"
    if hc.get("OomKillDisable") is None:
        hc["OomKillDisable"] = False
    if hc.get("MemorySwappiness") == -1:
        hc["MemorySwappiness"] = None
    return hc


def container_ref(mode: str) -> str | None:
    """The container of a "container:<id>" mode, None for any other mode."""
    if mode.startswith("container:") and len(mode) > len("container:"):
        return mode[len("container:") :]
    return None


def _ipc_mode_valid(mode: str) -> bool:
    return mode in ("", "none", "private", "shareable", "host") or container_ref(mode) is not None


def _pid_mode_valid(mode: str) -> bool:
    return mode in ("", "host") or container_ref(mode) is not None


def verify_host_config(host_config: dict[str, Any], config: dict[str, Any] | None = None) -> None:
    """Docker's checks of HostConfig (and Config's hostname), with Docker's wording, plus a
    refusal of every option dockyard cannot enact."""
    hc = host_config
    cfg = config or {}
    _check_types(hc)
    _refuse_unsupported(hc)
    hostname = cfg.get("Hostname") or ""
    if len(hostname) > _MAX_HOSTNAME:
        raise InvalidParameter(f'hostname "{hostname}" is too long (maximum {_MAX_HOSTNAME} bytes)')
    _verify_resources(hc)
    if not _ipc_mode_valid(hc.get("IpcMode") or ""):
        raise InvalidParameter(f"invalid IPC mode: {hc.get('IpcMode')}")
    if not _pid_mode_valid(hc.get("PidMode") or ""):
        raise InvalidParameter(f"invalid PID mode: {hc.get('PidMode')}")
    if (hc.get("ShmSize") or 0) < 0:
        raise InvalidParameter("SHM size can not be less than 0")
    if (hc.get("UTSMode") or "") not in ("", "host"):
        raise InvalidParameter(f"invalid UTS mode: {hc.get('UTSMode')}")
    oom = hc.get("OomScoreAdj") or 0
    if not -1000 <= oom <= 1000:
        raise InvalidParameter(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    for dest in hc.get("Tmpfs") or {}:
        _validate_tmpfs_destination(dest)
    sysctls.check_host_config(hc, cfg)
    if (hc.get("CgroupnsMode") or "") not in ("", "host", "private"):
        raise InvalidParameter(f"invalid cgroup namespace mode: {hc.get('CgroupnsMode')}")
    if (hc.get("UsernsMode") or "") not in ("", "host"):
        raise InvalidParameter(f"invalid USER mode: {hc.get('UsernsMode')}")


# The integer fields of HostConfig and their Go types (moby's api/types/container); the API
# layer checks every body against its Go types (api/gotypes.py), this repeats it for callers
# of the service that do not come through the API.
_INT_FIELDS = {
    "Memory": "int64",
    "MemorySwap": "int64",
    "MemoryReservation": "int64",
    "MemorySwappiness": "int64",
    "NanoCpus": "int64",
    "CpuShares": "int64",
    "CpuPeriod": "int64",
    "CpuQuota": "int64",
    "CpuRealtimePeriod": "int64",
    "CpuRealtimeRuntime": "int64",
    "PidsLimit": "int64",
    "ShmSize": "int64",
    "OomScoreAdj": "int",
    "BlkioWeight": "uint16",
    "CpuCount": "int64",
    "CpuPercent": "int64",
    "IOMaximumIOps": "uint64",
    "IOMaximumBandwidth": "uint64",
    "KernelMemory": "int64",
    "KernelMemoryTCP": "int64",
}
_RANGES = {
    "int64": (-(2**63), 2**63 - 1),
    "int": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint64": (0, 2**64 - 1),
}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _check_types(hc: dict[str, Any]) -> None:
    """Numbers must be integers in their Go type's range, as Go's JSON decoder insists."""
    for name, go_type in _INT_FIELDS.items():
        value = hc.get(name)
        if value is None:
            continue
        low, high = _RANGES[go_type]
        if isinstance(value, bool) or not isinstance(value, int):
            kind = _json_kind(value)
            if isinstance(value, float):
                kind = f"number {getattr(value, 'raw', repr(value))}"
        elif not low <= value <= high:
            kind = f"number {value}"
        else:
            continue
        raise InvalidParameter(
            f"json: cannot unmarshal {kind} into Go struct field HostConfig.HostConfig.{name} "
            f"of type {go_type}"
        )


def _refuse_unsupported(hc: dict[str, Any]) -> None:
    """Fields of HostConfig dockyard cannot enact: accept them only at their zero values."""
    zero_only = (
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
        "CpuCount",
        "CpuPercent",
        "KernelMemory",
        "KernelMemoryTCP",
        "Cgroup",
    )
    for name in zero_only:
        if hc.get(name):
            raise InvalidParameter(f"HostConfig.{name} is not supported by dockyard")
    if hc.get("IOMaximumBandwidth") or hc.get("IOMaximumIOps"):
        raise InvalidParameter(
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps"
        )
    if hc.get("StorageOpt"):
        raise InvalidParameter(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
        )
    for request in hc.get("DeviceRequests") or []:
        driver = request.get("Driver") or ""
        wanted = request.get("Capabilities") or []
        raise InvalidParameter(
            f'could not select device driver "{driver}" with capabilities: {wanted}'
        )
    runtime = hc.get("Runtime") or ""
    if runtime not in ("", "runc"):
        raise InvalidParameter(f"unknown or invalid runtime name: {runtime}")
    isolation = hc.get("Isolation") or ""
    if isolation not in ("", "default"):
        raise InvalidParameter(f"invalid isolation '{isolation}' on linux")


def _verify_resources(hc: dict[str, Any]) -> None:
    memory = hc.get("Memory") or 0
    swap = hc.get("MemorySwap") or 0
    reservation = hc.get("MemoryReservation") or 0
    if memory != 0 and memory < _MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap > 0 and swap < memory:
        raise InvalidParameter(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if memory == 0 and swap > 0:
        raise InvalidParameter(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidParameter(
            f"Invalid value: {swappiness}, valid memory swappiness range is 0-100"
        )
    if reservation > 0 and reservation < _MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidParameter(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    nano = hc.get("NanoCpus") or 0
    period = hc.get("CpuPeriod") or 0
    quota = hc.get("CpuQuota") or 0
    if nano > 0 and period > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano != 0:
        ncpu = os.cpu_count() or 1
        if nano < 0 or nano > ncpu * 10**9:
            raise InvalidParameter(
                f"range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )
    if period != 0 and not 1000 <= period <= 1000000:
        raise InvalidParameter(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if quota > 0 and quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    shares = hc.get("CpuShares") or 0
    if shares < 0:
        raise InvalidParameter(f"invalid CPU shares ({shares}): value must be a positive integer")
    weight = hc.get("BlkioWeight") or 0
    if weight > 0 and not 10 <= weight <= 1000:
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")


def _validate_tmpfs_destination(dest: str) -> None:
    if not dest.startswith("/"):
        raise InvalidParameter(
            f"invalid mount config for type \"tmpfs\": invalid mount path: '{dest}' "
            "mount path must be absolute"
        )
    if mountdest.normalise(dest) == "/":
        raise InvalidParameter(mountdest.ROOT_ERROR)
    try:
        mountdest.check_proc(dest, "tmpfs")
    except InvalidParameter as e:
        raise InvalidParameter(f'invalid mount config for type "tmpfs": {e.message}') from None
