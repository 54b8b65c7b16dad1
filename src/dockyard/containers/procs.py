"""`docker top` and `docker stats`: the container's processes from its cgroup, and Docker's
stats JSON from the cgroup v1 controller files (v2 where v1 is absent)."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from dockyard.errors import Conflict, InvalidParameter, SystemError_

CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_pids(cgroups_path: str) -> list[int]:
    for ctrl in ("pids", "memory", "cpu,cpuacct", "freezer", "unified"):
        path = f"{CGROUP_ROOT}/{ctrl}{cgroups_path}/cgroup.procs"
        try:
            with open(path) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            continue
    return []


def top(cgroups_path: str, ps_args: str = "") -> dict[str, Any]:
    """Docker's algorithm: run ps on the host, keep the rows whose PID is in the container."""
    pids = set(cgroup_pids(cgroups_path))
    if not pids:
        raise Conflict("container is not running")
    args = ps_args.split() if ps_args else ["-ef"]
    if any("\0" in a for a in args):
        # execve cannot pass a NUL inside an argument: Go's exec answers EINVAL.
        raise InvalidParameter("Error running ps: fork/exec ps: invalid argument")
    p = subprocess.run(["ps", *args], capture_output=True, text=True, errors="replace")
    if p.returncode != 0:
        raise InvalidParameter(f"Error running ps: {p.stderr.strip()}")
    lines = p.stdout.splitlines()
    if not lines:
        raise SystemError_("ps printed nothing")
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidParameter("Couldn't find PID field in ps output")
    pid_index = titles.index("PID")
    processes = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) < len(titles):
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            continue
        if pid in pids:
            processes.append(fields)
    return {"Titles": titles, "Processes": processes}


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _int(path: str) -> int:
    text = _read(path)
    try:
        return int(text.strip()) if text else 0
    except ValueError:
        return 0


def _kv(path: str) -> dict[str, int]:
    out = {}
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def _system_cpu_usage() -> int:
    """Host CPU time in nanoseconds, from /proc/stat, as Docker computes it."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                ticks = sum(int(x) for x in line.split()[1:8])
                return ticks * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))
    return 0


def sample(cgroups_path: str) -> dict[str, Any]:
    """cpu_stats, memory_stats, pids_stats and blkio_stats of one instant."""
    cpu = f"{CGROUP_ROOT}/cpu,cpuacct{cgroups_path}"
    if not os.path.isdir(cpu):
        cpu = f"{CGROUP_ROOT}/cpuacct{cgroups_path}"
    percpu = [int(x) for x in (_read(f"{cpu}/cpuacct.usage_percpu") or "").split()]
    cpustat = _kv(f"{cpu}/cpuacct.stat")
    tck = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    throttling = _kv(f"{cpu}/cpu.stat")
    mem = f"{CGROUP_ROOT}/memory{cgroups_path}"
    memstat = _kv(f"{mem}/memory.stat")
    limit = _int(f"{mem}/memory.limit_in_bytes")
    blkio_path = f"{CGROUP_ROOT}/blkio{cgroups_path}/blkio.throttle.io_service_bytes"
    blkio = []
    for line in (_read(blkio_path) or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, minor = parts[0].split(":")
            blkio.append(
                {
                    "major": int(major),
                    "minor": int(minor),
                    "op": parts[1].lower(),
                    "value": int(parts[2]),
                }
            )
    pids = f"{CGROUP_ROOT}/pids{cgroups_path}"
    pids_limit = (_read(f"{pids}/pids.max") or "max").strip()
    return {
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": _int(f"{cpu}/cpuacct.usage"),
                "percpu_usage": percpu,
                "usage_in_kernelmode": cpustat.get("system", 0) * tck,
                "usage_in_usermode": cpustat.get("user", 0) * tck,
            },
            "system_cpu_usage": _system_cpu_usage(),
            "online_cpus": os.cpu_count() or 1,
            "throttling_data": {
                "periods": throttling.get("nr_periods", 0),
                "throttled_periods": throttling.get("nr_throttled", 0),
                "throttled_time": throttling.get("throttled_time", 0),
            },
        },
        "memory_stats": {
            "usage": _int(f"{mem}/memory.usage_in_bytes"),
            "max_usage": _int(f"{mem}/memory.max_usage_in_bytes"),
            "stats": memstat,
            "failcnt": _int(f"{mem}/memory.failcnt"),
            "limit": min(limit, _host_memory()) if limit else _host_memory(),
        },
        "pids_stats": {
            "current": _int(f"{pids}/pids.current"),
            **({"limit": int(pids_limit)} if pids_limit.isdigit() else {}),
        },
        "blkio_stats": {
            "io_service_bytes_recursive": blkio or None,
            "io_serviced_recursive": None,
            "io_queue_recursive": None,
            "io_service_time_recursive": None,
            "io_wait_time_recursive": None,
            "io_merged_recursive": None,
            "io_time_recursive": None,
            "sectors_recursive": None,
        },
        "num_procs": 0,
        "storage_stats": {},
    }


def _host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _now_rfc3339() -> str:
    from dockyard.containers.jsonlog import format_time

    return format_time(time.time_ns(), fixed=True)


ZERO_PRE = {
    "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
    "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
}


def stats_entry(
    cid: str,
    name: str,
    current: dict[str, Any] | None,
    previous: dict[str, Any] | None,
    networks: dict[str, Any] | None,
    read: str,
    preread: str,
) -> dict[str, Any]:
    """One object of GET /containers/{id}/stats (zeros for a stopped container)."""
    cur = current or {
        "cpu_stats": ZERO_PRE,
        "memory_stats": {},
        "pids_stats": {},
        "blkio_stats": {},
        "num_procs": 0,
        "storage_stats": {},
    }
    entry = {
        "read": read,
        "preread": preread,
        "id": cid,
        "name": name,
        **cur,
        "precpu_stats": previous["cpu_stats"] if previous else ZERO_PRE,
    }
    if networks is not None:
        entry["networks"] = networks
    return entry
