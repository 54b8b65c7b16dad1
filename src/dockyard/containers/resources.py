"""`docker update`: change a container's resource limits (its record, and the live cgroups
of a running container) and its restart policy."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dockyard.containers.config import validate_host_config
from dockyard.errors import InvalidParameter
from dockyard.fsutil import read_json, write_json

if TYPE_CHECKING:
    from dockyard.containers.service import ContainerService

UPDATABLE = {
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "NanoCpus",
    "CpusetCpus",
    "CpusetMems",
    "Memory",
    "MemoryReservation",
    "MemorySwap",
    "PidsLimit",
    "RestartPolicy",
    "BlkioWeight",
}
CPU_PERIOD = 100_000


def _write(path: str, value: Any) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def apply_update(
    svc: ContainerService, cid: str, cfg: dict[str, Any], resources: dict[str, Any]
) -> list[str]:
    unknown = [
        k for k, v in resources.items() if k not in UPDATABLE and v not in (None, 0, "", [], {})
    ]
    if unknown:
        raise InvalidParameter("unsupported option(s) for update: " + ", ".join(sorted(unknown)))
    changes = {k: v for k, v in resources.items() if k in UPDATABLE and v not in (None,)}
    if changes.get("NanoCpus") and (changes.get("CpuQuota") or changes.get("CpuPeriod")):
        raise InvalidParameter(
            "Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set"
        )
    host_config = dict(cfg["HostConfig"])
    for k, v in changes.items():
        if k == "RestartPolicy" and not (v or {}).get("Name"):
            continue
        if isinstance(v, int) and v == 0 and k not in ("PidsLimit",):
            continue
        host_config[k] = v
    validate_host_config(host_config)
    cfg["HostConfig"] = host_config
    if "RestartPolicy" in changes:
        monitor_cfg = os.path.join(svc.store.dir(cid), "monitor.json")
        try:
            mc = read_json(monitor_cfg)
            mc["restart_policy"] = host_config.get("RestartPolicy")
            write_json(monitor_cfg, mc)
        except OSError:
            pass
    if svc.state(cid)["Status"] in ("running", "paused"):
        _apply_cgroups(svc, cid, changes)
    return []


def _set_memory(mem_dir: str, memory: int, swap: int) -> None:
    """Set the memory and memory+swap limits (0: leave as is; swap -1: unlimited). cgroup v1
    keeps memsw >= memory at every step, so the order depends on the direction (as runc):
    memsw first when it grows past the current memory limit, memory first when shrinking."""
    limit = os.path.join(mem_dir, "memory.limit_in_bytes")
    memsw = os.path.join(mem_dir, "memory.memsw.limit_in_bytes")
    if not swap or not os.path.exists(memsw):
        if memory:
            _write(limit, memory)
        return
    with open(limit) as f:
        current = int(f.read().strip())
    steps = [(memsw, swap), (limit, memory)]
    if swap != -1 and swap <= current:
        steps.reverse()
    for path, value in steps:
        if value:
            _write(path, value)


def _apply_cgroups(svc: ContainerService, cid: str, c: dict[str, Any]) -> None:
    mem = svc.cgroup_dir(cid, "memory")
    cpu = svc.cgroup_dir(cid, "cpu,cpuacct")
    if not os.path.isdir(cpu):
        cpu = svc.cgroup_dir(cid, "cpu")
    try:
        if c.get("Memory") or c.get("MemorySwap"):
            _set_memory(mem, c.get("Memory") or 0, c.get("MemorySwap") or 0)
        if c.get("MemoryReservation"):
            _write(os.path.join(mem, "memory.soft_limit_in_bytes"), c["MemoryReservation"])
        if c.get("CpuShares"):
            _write(os.path.join(cpu, "cpu.shares"), c["CpuShares"])
        if c.get("NanoCpus"):
            _write(os.path.join(cpu, "cpu.cfs_period_us"), CPU_PERIOD)
            _write(os.path.join(cpu, "cpu.cfs_quota_us"), c["NanoCpus"] * CPU_PERIOD // 10**9)
        if c.get("CpuPeriod"):
            _write(os.path.join(cpu, "cpu.cfs_period_us"), c["CpuPeriod"])
        if c.get("CpuQuota"):
            _write(os.path.join(cpu, "cpu.cfs_quota_us"), c["CpuQuota"])
        if c.get("PidsLimit") is not None:
            limit = c["PidsLimit"]
            _write(
                os.path.join(svc.cgroup_dir(cid, "pids"), "pids.max"),
                "max" if limit <= 0 else limit,
            )
        if c.get("CpusetCpus"):
            _write(os.path.join(svc.cgroup_dir(cid, "cpuset"), "cpuset.cpus"), c["CpusetCpus"])
        if c.get("CpusetMems"):
            _write(os.path.join(svc.cgroup_dir(cid, "cpuset"), "cpuset.mems"), c["CpusetMems"])
    except OSError as e:
        raise InvalidParameter(f"Cannot update container {cid}: {e.strerror}") from None
