"""Control groups of a container on cgroup v1, hybrid and v2 (unified) hosts.

`CgroupSet.for_container()` finds the hierarchies (from /proc/self/mountinfo), computes the
container's directory in each from `linux.cgroupsPath` (an absolute path is taken from each
hierarchy's root; a relative one, or the container id when none is given, is taken from the
caller's own cgroup, as runc does), creates them, writes `linux.resources` and later moves
processes in, kills everything inside and removes the directories. The set serialises to a dict
for the container's state file, so another process can delete the container.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from typing import Any

from dockyard.errors import InvalidParameter, SystemError_

V2_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids")

# Devices every container may use whatever linux.resources.devices says (as runc allows).
DEFAULT_ALLOWED_DEVICES = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
]


class Hierarchy:
    """One mounted cgroup hierarchy: its mount point, the cgroup path mounted there (usually
    "/"), the subsystems it carries ("cpu", "cpu,cpuacct", "name=systemd"; "" for cgroup2) and
    the caller's cgroup in it."""

    __slots__ = ("mountpoint", "root", "key", "current")

    def __init__(self, mountpoint: str, root: str, key: str, current: str) -> None:
        self.mountpoint = mountpoint
        self.root = root
        self.key = key
        self.current = current

    def __repr__(self) -> str:
        return f"Hierarchy({self.mountpoint!r}, {self.root!r}, {self.key!r}, {self.current!r})"


def _unescape(s: str) -> str:
    return (
        s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
    )


def discover(
    mountinfo: str = "/proc/self/mountinfo", proc_cgroup: str = "/proc/self/cgroup"
) -> list[Hierarchy]:
    """The cgroup hierarchies mounted in this mount namespace (first mount of each)."""
    current: dict[str, str] = {}
    with open(proc_cgroup) as f:
        for line in f:
            _, subsys, path = line.rstrip("\n").split(":", 2)
            current[subsys] = path
    found: dict[str, Hierarchy] = {}
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.rstrip("\n").partition(" - ")
            fields = left.split()
            fstype, _source, superopts = right.split(" ", 2)
            if fstype not in ("cgroup", "cgroup2"):
                continue
            if fstype == "cgroup2":
                key: str | None = ""
            else:
                opts = set(superopts.split(","))
                key = next((k for k in current if k and set(k.split(",")) <= opts), None)
            if key is None or key in found or key not in current:
                continue
            found[key] = Hierarchy(_unescape(fields[4]), _unescape(fields[3]), key, current[key])
    return list(found.values())


def is_unified(hierarchies: list[Hierarchy]) -> bool:
    return len(hierarchies) == 1 and hierarchies[0].key == ""


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise SystemError_(f"cgroup: writing {value!r} to {path}: {e.strerror}") from None


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


class CgroupSet:
    """The container's directory in every hierarchy, and which directories we created.

    v1: subsystem key -> directory; v2: the cgroup2 directory (unified or hybrid); unified:
    resources go to v2 (there are no v1 hierarchies); created: directories made, parents first.
    """

    def __init__(
        self,
        v1: dict[str, str] | None = None,
        v2: str | None = None,
        unified: bool = False,
        created: list[str] | None = None,
    ) -> None:
        self.v1: dict[str, str] = v1 if v1 is not None else {}
        self.v2 = v2
        self.unified = unified
        self.created: list[str] = created if created is not None else []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CgroupSet) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"CgroupSet({self.to_dict()!r})"

    # ----------------------------------------------------------------- construction
    @classmethod
    def for_container(
        cls, cgroups_path: str | None, container_id: str, hierarchies: list[Hierarchy] | None = None
    ) -> CgroupSet:
        if hierarchies is None:
            hierarchies = discover()
        path = cgroups_path or container_id
        if ":" in path:
            raise InvalidParameter(
                f"cgroupsPath {path!r}: systemd cgroup paths (slice:prefix:name) are not "
                "supported; use a cgroupfs path"
            )
        if ".." in path.split("/"):
            raise InvalidParameter(f"cgroupsPath {path!r} must not contain '..'")
        cs = cls(unified=is_unified(hierarchies))
        for h in hierarchies:
            if path.startswith("/"):
                rel = path.lstrip("/")
            else:
                base = h.current
                if h.root != "/" and base.startswith(h.root):
                    base = base[len(h.root) :]
                rel = os.path.join(base.lstrip("/"), path)
            directory = os.path.normpath(os.path.join(h.mountpoint, rel))
            if h.key == "":
                cs.v2 = directory
            else:
                cs.v1[h.key] = directory
        return cs

    def to_dict(self) -> dict[str, Any]:
        return {"v1": self.v1, "v2": self.v2, "unified": self.unified, "created": self.created}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CgroupSet:
        return cls(
            dict(d.get("v1") or {}),
            d.get("v2"),
            bool(d.get("unified")),
            list(d.get("created") or []),
        )

    def directories(self) -> list[str]:
        dirs = list(self.v1.values())
        if self.v2:
            dirs.append(self.v2)
        return dirs

    def _subsys_dir(self, subsys: str) -> str | None:
        for key, d in self.v1.items():
            if subsys in key.split(","):
                return d
        return None

    # ----------------------------------------------------------------- creation
    def create(self) -> None:
        """Make every directory (and missing parents), initialising cpuset and v2 controllers."""
        for key, d in self.v1.items():
            self._mkdirs(d, cpuset="cpuset" in key.split(","))
        if self.v2:
            self._mkdirs(self.v2, cpuset=False)
            if self.unified:
                self._enable_v2_controllers(self.v2)

    def _mkdirs(self, directory: str, cpuset: bool) -> None:
        """Create `directory` and its missing parents. A parent that another container's
        destroy() removes (it created it and found it empty) between our look and our mkdir
        is created again."""
        for attempt in range(20):
            try:
                self._mkdirs_once(directory, cpuset)
                return
            except FileNotFoundError:
                if attempt == 19:
                    raise

    def _mkdirs_once(self, directory: str, cpuset: bool) -> None:
        missing = []
        d = directory
        while not os.path.isdir(d):
            missing.append(d)
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
        for d in reversed(missing):
            try:
                os.mkdir(d, 0o755)
            except FileExistsError:
                continue
            self.created.append(d)
            if cpuset:
                parent = os.path.dirname(d)
                for name in ("cpuset.cpus", "cpuset.mems"):
                    if not _read(os.path.join(d, name)):
                        _write(os.path.join(d, name), _read(os.path.join(parent, name)))

    def _enable_v2_controllers(self, directory: str) -> None:
        # Walk from the hierarchy's top down to the parent of `directory`.
        chain = []
        d = os.path.dirname(directory)
        while os.path.exists(os.path.join(d, "cgroup.subtree_control")):
            chain.append(d)
            parent = os.path.dirname(d)
            if parent == d or not os.path.exists(os.path.join(parent, "cgroup.controllers")):
                break
            d = parent
        for d in reversed(chain):
            available = _read(os.path.join(d, "cgroup.controllers")).split()
            enabled = _read(os.path.join(d, "cgroup.subtree_control")).split()
            for c in V2_CONTROLLERS:
                if c in available and c not in enabled:
                    try:
                        with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
                            f.write("+" + c)
                    except OSError:
                        pass  # e.g. a controller busy with real-time threads: go on without

    # ----------------------------------------------------------------- resources
    def apply(self, resources: dict[str, Any] | None) -> None:
        """Write linux.resources into the container's cgroups."""
        if not resources:
            resources = {}
        if self.unified:
            apply_v2(self.v2 or "", resources)
        else:
            apply_v1(self._subsys_dir, resources)

    # ----------------------------------------------------------------- processes
    def add(self, pid: int) -> None:
        """Move process `pid` (0: the caller) into every directory."""
        for d in self.directories():
            _write(os.path.join(d, "cgroup.procs"), str(pid))

    def procs(self) -> list[int]:
        """The pids in the container's cgroup. Every process of a container is in all of its
        hierarchies (the container cannot move itself: its cgroupfs is read-only), so one
        directory tells: pids, else freezer, else the first that answers."""
        preferred = [self._subsys_dir("pids"), self._subsys_dir("freezer")]
        for d in [d for d in preferred if d] + self.directories():
            try:
                text = _read(os.path.join(d, "cgroup.procs"))
            except OSError:
                continue
            return sorted(int(p) for p in text.split())
        return []

    def signal_all(self, sig: int) -> None:
        """Send `sig` to every process in the container; with SIGKILL the cgroup is frozen first
        so that nothing forks away between reading cgroup.procs and killing."""
        if not self.procs():
            return
        frozen = sig == signal.SIGKILL and self._freeze(True)
        try:
            for pid in self.procs():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if frozen:
                self._freeze(False)

    def freeze(self) -> None:
        """Freeze every process of the container (pause)."""
        if not self._freeze(True):
            raise SystemError_("cgroup: no freezer for this container")

    def thaw(self) -> None:
        """Let a frozen container run again (resume)."""
        if not self._freeze(False):
            raise SystemError_("cgroup: no freezer for this container")

    def frozen(self) -> bool:
        freezer = self._subsys_dir("freezer")
        try:
            if freezer:
                return _read(os.path.join(freezer, "freezer.state")) != "THAWED"
            if self.unified and self.v2:
                return _read(os.path.join(self.v2, "cgroup.freeze")) == "1"
        except OSError:
            pass
        return False

    def stats(self) -> dict[str, Any]:
        """Usage counters in the shape of runc's `events --stats` data."""
        if self.unified:
            return stats_v2(self.v2 or "")
        return stats_v1(self._subsys_dir)

    def _freeze(self, freeze: bool) -> bool:
        freezer = self._subsys_dir("freezer")
        try:
            if freezer:
                _write(os.path.join(freezer, "freezer.state"), "FROZEN" if freeze else "THAWED")
                if freeze:
                    for _ in range(200):
                        if _read(os.path.join(freezer, "freezer.state")) == "FROZEN":
                            break
                        time.sleep(0.005)
                return True
            if self.unified and self.v2 and os.path.exists(os.path.join(self.v2, "cgroup.freeze")):
                _write(os.path.join(self.v2, "cgroup.freeze"), "1" if freeze else "0")
                return True
        except (OSError, SystemError_):
            return False
        return False

    def destroy(self, timeout: float = 5.0) -> None:
        """Remove the container's directories (waiting for dying processes to leave them) and
        the parents we created when they are empty."""
        deadline = time.monotonic() + timeout
        leaf = set(self.directories())
        for d in leaf:
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise SystemError_(f"cgroup: removing {d}: {e.strerror}") from None
                    self.signal_all(signal.SIGKILL)
                    time.sleep(0.01)
        for d in reversed(self.created):
            if d in leaf:
                continue
            try:
                os.rmdir(d)
            except OSError:
                pass  # shared with other containers


def _set(directory: str | None, name: str, value: Any) -> None:
    if directory is None:
        return
    _write(os.path.join(directory, name), str(value))


def _set_memory_and_swap_v1(mdir: str, limit: int | None, swap: int | None) -> None:
    """The kernel keeps memory <= memory+swap at every write, so when the new memory+swap
    limit is above the current memory limit it goes first, else last (runc's order)."""
    if swap is not None and not os.path.exists(os.path.join(mdir, "memory.memsw.limit_in_bytes")):
        swap = None
    swap_first = False
    if limit is not None and swap is not None:
        current = int(_read(os.path.join(mdir, "memory.limit_in_bytes")) or 0)
        swap_first = swap == -1 or current < swap
    if swap_first:
        _set(mdir, "memory.memsw.limit_in_bytes", swap)
    if limit is not None:
        _set(mdir, "memory.limit_in_bytes", limit)
    if swap is not None and not swap_first:
        _set(mdir, "memory.memsw.limit_in_bytes", swap)


def apply_v1(subsys_dir: Any, res: dict[str, Any]) -> None:
    """Write `res` (linux.resources) to cgroup v1 files; subsys_dir(name) gives directories."""
    mem = res.get("memory") or {}
    mdir = subsys_dir("memory")
    if mem and mdir:
        _set_memory_and_swap_v1(mdir, mem.get("limit"), mem.get("swap"))
        if mem.get("reservation") is not None:
            _set(mdir, "memory.soft_limit_in_bytes", mem["reservation"])
        if mem.get("swappiness") is not None and 0 <= mem["swappiness"] <= 100:
            _set(mdir, "memory.swappiness", mem["swappiness"])
        if mem.get("disableOOMKiller"):
            _set(mdir, "memory.oom_control", 1)
    cpu = res.get("cpu") or {}
    cdir = subsys_dir("cpu")
    if cpu.get("shares"):
        _set(cdir, "cpu.shares", cpu["shares"])
    if cpu.get("period"):
        _set(cdir, "cpu.cfs_period_us", cpu["period"])
    if cpu.get("quota"):
        _set(cdir, "cpu.cfs_quota_us", cpu["quota"])
    if cpu.get("realtimePeriod"):
        _set(cdir, "cpu.rt_period_us", cpu["realtimePeriod"])
    if cpu.get("realtimeRuntime"):
        _set(cdir, "cpu.rt_runtime_us", cpu["realtimeRuntime"])
    sdir = subsys_dir("cpuset")
    if cpu.get("cpus"):
        _set(sdir, "cpuset.cpus", cpu["cpus"])
    if cpu.get("mems"):
        _set(sdir, "cpuset.mems", cpu["mems"])
    pids = res.get("pids") or {}
    if pids.get("limit"):
        _set(subsys_dir("pids"), "pids.max", pids["limit"] if pids["limit"] > 0 else "max")
    ddir = subsys_dir("devices")
    if ddir and res.get("devices") is not None:
        for rule in device_rules(res["devices"]):
            allow, line = rule
            _set(ddir, "devices.allow" if allow else "devices.deny", line)
    blkio = res.get("blockIO") or {}
    if blkio.get("weight") and subsys_dir("blkio"):
        bdir = subsys_dir("blkio")
        if os.path.exists(os.path.join(bdir, "blkio.weight")):
            _set(bdir, "blkio.weight", blkio["weight"])


def _int_file(directory: str | None, name: str) -> int:
    if directory is None:
        return 0
    try:
        text = _read(os.path.join(directory, name))
    except OSError:
        return 0
    return 0 if text == "max" else int(text.split()[0])


def _kv_file(directory: str | None, name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    if directory is None:
        return out
    try:
        text = _read(os.path.join(directory, name))
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def stats_v1(subsys_dir: Any) -> dict[str, Any]:
    """cgroup v1 counters of the directories subsys_dir(name) gives."""
    acct = subsys_dir("cpuacct")
    cpu_dir = subsys_dir("cpu")
    percpu: list[int] = []
    if acct:
        try:
            percpu = [int(v) for v in _read(os.path.join(acct, "cpuacct.usage_percpu")).split()]
        except OSError:
            pass
    ticks = _kv_file(acct, "cpuacct.stat")
    ns_per_tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    throttle = _kv_file(cpu_dir, "cpu.stat")
    mem = subsys_dir("memory")
    swap_limit = _int_file(mem, "memory.memsw.limit_in_bytes")
    blk: list[dict[str, Any]] = []
    bdir = subsys_dir("blkio")
    if bdir:
        try:
            text = _read(os.path.join(bdir, "blkio.throttle.io_service_bytes_recursive"))
        except OSError:
            text = ""
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and ":" in parts[0]:
                major, minor = parts[0].split(":")
                blk.append(
                    {
                        "major": int(major),
                        "minor": int(minor),
                        "op": parts[1],
                        "value": int(parts[2]),
                    }
                )
    return {
        "cpu": {
            "usage": {
                "total": _int_file(acct, "cpuacct.usage"),
                "percpu": percpu,
                "kernel": ticks.get("system", 0) * ns_per_tick,
                "user": ticks.get("user", 0) * ns_per_tick,
            },
            "throttling": {
                "periods": throttle.get("nr_periods", 0),
                "throttledPeriods": throttle.get("nr_throttled", 0),
                "throttledTime": throttle.get("throttled_time", 0),
            },
        },
        "memory": {
            "usage": {
                "usage": _int_file(mem, "memory.usage_in_bytes"),
                "max": _int_file(mem, "memory.max_usage_in_bytes"),
                "limit": _int_file(mem, "memory.limit_in_bytes"),
                "failcnt": _int_file(mem, "memory.failcnt"),
            },
            "swap": {"usage": _int_file(mem, "memory.memsw.usage_in_bytes"), "limit": swap_limit},
            "raw": _kv_file(mem, "memory.stat"),
        },
        "pids": {
            "current": _int_file(subsys_dir("pids"), "pids.current"),
            "limit": _int_file(subsys_dir("pids"), "pids.max"),
        },
        "blkio": {"ioServiceBytesRecursive": blk},
    }


def stats_v2(directory: str) -> dict[str, Any]:
    """cgroup v2 counters of `directory`, in the same shape as stats_v1."""
    cpu = _kv_file(directory, "cpu.stat")
    blk: list[dict[str, Any]] = []
    try:
        text = _read(os.path.join(directory, "io.stat"))
    except OSError:
        text = ""
    for line in text.splitlines():
        dev, *fields = line.split()
        major, minor = dev.split(":")
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        for key, op in (("rbytes", "Read"), ("wbytes", "Write")):
            if key in values:
                blk.append(
                    {"major": int(major), "minor": int(minor), "op": op, "value": int(values[key])}
                )
    return {
        "cpu": {
            "usage": {
                "total": cpu.get("usage_usec", 0) * 1000,
                "percpu": [],
                "kernel": cpu.get("system_usec", 0) * 1000,
                "user": cpu.get("user_usec", 0) * 1000,
            },
            "throttling": {
                "periods": cpu.get("nr_periods", 0),
                "throttledPeriods": cpu.get("nr_throttled", 0),
                "throttledTime": cpu.get("throttled_usec", 0) * 1000,
            },
        },
        "memory": {
            "usage": {
                "usage": _int_file(directory, "memory.current"),
                "max": _int_file(directory, "memory.peak"),
                "limit": _int_file(directory, "memory.max"),
                "failcnt": 0,
            },
            "swap": {
                "usage": _int_file(directory, "memory.swap.current"),
                "limit": _int_file(directory, "memory.swap.max"),
            },
            "raw": _kv_file(directory, "memory.stat"),
        },
        "pids": {
            "current": _int_file(directory, "pids.current"),
            "limit": _int_file(directory, "pids.max"),
        },
        "blkio": {"ioServiceBytesRecursive": blk},
    }


def device_rules(devices: list[dict[str, Any]]) -> list[tuple[bool, str]]:
    """linux.resources.devices as (allow, "type major:minor access") lines, then the default
    devices every container needs."""
    rules: list[tuple[bool, str]] = []
    for d in devices:
        kind = d.get("type") or "a"
        major = "*" if d.get("major") in (None, -1) else str(d["major"])
        minor = "*" if d.get("minor") in (None, -1) else str(d["minor"])
        access = d.get("access") or "rwm"
        if kind == "a":
            rules.append((bool(d.get("allow")), "a"))
        else:
            rules.append((bool(d.get("allow")), f"{kind} {major}:{minor} {access}"))
    rules.extend((True, line) for line in DEFAULT_ALLOWED_DEVICES)
    return rules


def cpu_weight(shares: int) -> int:
    """cgroup v1 cpu.shares [2, 262144] to v2 cpu.weight [1, 10000], as runc converts."""
    return 1 + ((shares - 2) * 9999) // 262142


def apply_v2(directory: str, res: dict[str, Any]) -> None:
    """Write `res` (linux.resources) to the cgroup v2 directory `directory`."""
    mem = res.get("memory") or {}
    limit = mem.get("limit")
    if limit is not None:
        _set(directory, "memory.max", "max" if limit < 0 else limit)
    swap = mem.get("swap")
    if swap is not None:
        if swap < 0:
            value: Any = "max"
        elif limit is not None and limit > 0:
            value = max(swap - limit, 0)
        else:
            value = swap
        _set(directory, "memory.swap.max", value)
    if mem.get("reservation") is not None:
        _set(directory, "memory.low", mem["reservation"])
    cpu = res.get("cpu") or {}
    if cpu.get("shares"):
        _set(directory, "cpu.weight", cpu_weight(cpu["shares"]))
    if cpu.get("quota") or cpu.get("period"):
        quota = cpu.get("quota")
        period = cpu.get("period") or 100000
        _set(directory, "cpu.max", f"{quota if quota and quota > 0 else 'max'} {period}")
    if cpu.get("cpus"):
        _set(directory, "cpuset.cpus", cpu["cpus"])
    if cpu.get("mems"):
        _set(directory, "cpuset.mems", cpu["mems"])
    pids = res.get("pids") or {}
    if pids.get("limit"):
        _set(directory, "pids.max", pids["limit"] if pids["limit"] > 0 else "max")
    blkio = res.get("blockIO") or {}
    if blkio.get("weight") and os.path.exists(os.path.join(directory, "io.weight")):
        _set(directory, "io.weight", f"default {blkio['weight']}")
