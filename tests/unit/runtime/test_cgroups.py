"""cgroup paths, hierarchy discovery and resource files (v1 and v2) against temporary dirs."""

from __future__ import annotations

import os

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime.cgroups import (
    CgroupSet,
    Hierarchy,
    apply_v1,
    apply_v2,
    cpu_weight,
    device_rules,
    discover,
)

MOUNTINFO_HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
CGROUP_HYBRID = "3:cpu,cpuacct:/\n2:memory:/user/me\n1:name=systemd:/\n0::/\n"
MOUNTINFO_V2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"


def _files(tmp_path, mountinfo: str, cgroup: str) -> tuple[str, str]:
    (tmp_path / "mountinfo").write_text(mountinfo)
    (tmp_path / "cgroup").write_text(cgroup)
    return str(tmp_path / "mountinfo"), str(tmp_path / "cgroup")


def test_discover_hybrid(tmp_path):
    hs = discover(*_files(tmp_path, MOUNTINFO_HYBRID, CGROUP_HYBRID))
    assert {h.key: (h.mountpoint, h.current) for h in hs} == {
        "cpu,cpuacct": ("/sys/fs/cgroup/cpu,cpuacct", "/"),
        "memory": ("/sys/fs/cgroup/memory", "/user/me"),
        "name=systemd": ("/sys/fs/cgroup/systemd", "/"),
        "": ("/sys/fs/cgroup/unified", "/"),
    }


def test_paths_absolute_relative_and_default(tmp_path):
    hs = discover(*_files(tmp_path, MOUNTINFO_HYBRID, CGROUP_HYBRID))
    cs = CgroupSet.for_container("/docker/abc", "abc", hs)
    assert cs.v1["memory"] == "/sys/fs/cgroup/memory/docker/abc"
    assert cs.v2 == "/sys/fs/cgroup/unified/docker/abc" and not cs.unified
    rel = CgroupSet.for_container("sub/abc", "abc", hs)
    assert rel.v1["memory"] == "/sys/fs/cgroup/memory/user/me/sub/abc"
    assert rel.v1["cpu,cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/sub/abc"
    default = CgroupSet.for_container(None, "abc", hs)
    assert default.v1["memory"] == "/sys/fs/cgroup/memory/user/me/abc"
    assert CgroupSet.from_dict(cs.to_dict()) == cs


def test_unified_detection(tmp_path):
    hs = discover(*_files(tmp_path, MOUNTINFO_V2, "0::/init.scope\n"))
    cs = CgroupSet.for_container("/dockyard/x", "x", hs)
    assert cs.unified and cs.v1 == {} and cs.v2 == "/sys/fs/cgroup/dockyard/x"


@pytest.mark.parametrize("bad", ["a/../../etc", "system.slice:docker:abc"])
def test_bad_paths(bad):
    with pytest.raises(InvalidParameter):
        CgroupSet.for_container(bad, "x", [Hierarchy("/sys/fs/cgroup", "/", "", "/")])


def _v2_dir(tmp_path) -> str:
    d = tmp_path / "c"
    d.mkdir()
    for name in (
        "memory.max",
        "memory.swap.max",
        "memory.low",
        "cpu.max",
        "cpu.weight",
        "cpuset.cpus",
        "cpuset.mems",
        "pids.max",
    ):
        (d / name).write_text("")
    return str(d)


def _read(d: str, name: str) -> str:
    with open(os.path.join(d, name)) as f:
        return f.read()


def test_apply_v2_writes_files(tmp_path):
    d = _v2_dir(tmp_path)
    apply_v2(
        d,
        {
            "memory": {"limit": 32 << 20, "swap": 64 << 20, "reservation": 16 << 20},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 20},
        },
    )
    assert _read(d, "memory.max") == str(32 << 20)
    assert _read(d, "memory.swap.max") == str(32 << 20)  # v2 counts swap apart
    assert _read(d, "memory.low") == str(16 << 20)
    assert _read(d, "cpu.max") == "50000 100000"
    assert _read(d, "cpu.weight") == "39"
    assert _read(d, "cpuset.cpus") == "0" and _read(d, "cpuset.mems") == "0"
    assert _read(d, "pids.max") == "20"


def test_apply_v2_unlimited(tmp_path):
    d = _v2_dir(tmp_path)
    apply_v2(
        d, {"memory": {"limit": -1, "swap": -1}, "pids": {"limit": -1}, "cpu": {"period": 50000}}
    )
    assert _read(d, "memory.max") == "max"
    assert _read(d, "memory.swap.max") == "max"
    assert _read(d, "pids.max") == "max"
    assert _read(d, "cpu.max") == "max 50000"


def test_cpu_weight_conversion():
    assert cpu_weight(2) == 1
    assert cpu_weight(262144) == 10000
    assert cpu_weight(1024) == 39


def test_apply_v1_writes_files(tmp_path):
    dirs = {}
    for sub, files in {
        "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"],
        "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"],
        "pids": ["pids.max"],
        "devices": ["devices.allow", "devices.deny"],
    }.items():
        d = tmp_path / sub
        d.mkdir()
        for f in files:
            (d / f).write_text("")
        dirs[sub] = str(d)
    apply_v1(
        dirs.get,
        {
            "memory": {"limit": 1 << 25, "swap": 1 << 26},
            "cpu": {"shares": 512, "quota": 25000, "period": 50000},
            "pids": {"limit": 7},
            "devices": [{"allow": False, "access": "rwm"}],
        },
    )
    assert _read(dirs["memory"], "memory.limit_in_bytes") == str(1 << 25)
    assert _read(dirs["memory"], "memory.memsw.limit_in_bytes") == str(1 << 26)
    assert _read(dirs["cpu"], "cpu.cfs_quota_us") == "25000"
    assert _read(dirs["cpu"], "cpu.cfs_period_us") == "50000"
    assert _read(dirs["pids"], "pids.max") == "7"


def test_device_rules():
    rules = device_rules(
        [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        ]
    )
    assert rules[0] == (False, "a")
    assert rules[1] == (True, "c 10:229 rw")
    assert (True, "c 1:3 rwm") in rules  # /dev/null always


def test_stats_v2_reads_files(tmp_path):
    from dockyard.runtime.cgroups import stats_v2

    d = tmp_path / "c"
    d.mkdir()
    (d / "cpu.stat").write_text(
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
        "nr_periods 4\nnr_throttled 2\nthrottled_usec 30\n"
    )
    (d / "memory.current").write_text("4096\n")
    (d / "memory.max").write_text("max\n")
    (d / "memory.stat").write_text("anon 100\nfile 200\n")
    (d / "pids.current").write_text("3\n")
    (d / "pids.max").write_text("10\n")
    (d / "io.stat").write_text("8:0 rbytes=10 wbytes=20 rios=1 wios=2\n")
    s = stats_v2(str(d))
    assert s["cpu"]["usage"] == {"total": 1500000, "percpu": [], "kernel": 500000, "user": 1000000}
    assert s["cpu"]["throttling"] == {"periods": 4, "throttledPeriods": 2, "throttledTime": 30000}
    assert s["memory"]["usage"]["usage"] == 4096 and s["memory"]["usage"]["limit"] == 0
    assert s["memory"]["raw"] == {"anon": 100, "file": 200}
    assert s["pids"] == {"current": 3, "limit": 10}
    assert s["blkio"]["ioServiceBytesRecursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 10},
        {"major": 8, "minor": 0, "op": "Write", "value": 20},
    ]


def test_v2_create_enables_controllers_down_the_tree(tmp_path, monkeypatch):
    """On a unified host, create() enables every available controller (and only those not yet
    enabled) in cgroup.subtree_control from the top of the hierarchy down to the parent."""
    from dockyard.runtime import cgroups as cgmod

    top = tmp_path / "top"
    mid = top / "mid"
    mid.mkdir(parents=True)
    for d, available, enabled in ((top, "cpuset cpu io memory pids", "cpu"), (mid, "cpu pids", "")):
        (d / "cgroup.controllers").write_text(available + "\n")
        (d / "cgroup.subtree_control").write_text(enabled + "\n")
    writes: list[tuple[str, str]] = []
    real_open = open

    class Recorder:
        def __init__(self, path: str) -> None:
            self.path = path

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            return None

        def write(self, data: str) -> int:
            writes.append((os.path.relpath(self.path, tmp_path), data))
            return len(data)

    def fake_open(path, mode="r", *args, **kwargs):
        if str(path).endswith("cgroup.subtree_control") and "w" in mode:
            return Recorder(str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(cgmod, "open", fake_open, raising=False)
    cs = CgroupSet(v2=str(mid / "ctr"), unified=True)
    cs.create()
    assert os.path.isdir(mid / "ctr") and cs.created == [str(mid / "ctr")]
    assert writes == [
        ("top/cgroup.subtree_control", "+cpuset"),
        ("top/cgroup.subtree_control", "+io"),
        ("top/cgroup.subtree_control", "+memory"),
        ("top/cgroup.subtree_control", "+pids"),
        ("top/mid/cgroup.subtree_control", "+cpu"),
        ("top/mid/cgroup.subtree_control", "+pids"),
    ]


def test_parallel_create_and_destroy_share_a_parent(tmp_path):
    """One container's destroy() removes the parent it created when it finds it empty; a
    second container creating its leaf under that parent at the same moment must not fail
    (plain directories behave as cgroupfs here: rmdir of a non-empty parent fails)."""
    import threading

    parent = tmp_path / "dockyard"
    errors: list[BaseException] = []

    def churn(name: str) -> None:
        try:
            for _ in range(300):
                cs = CgroupSet(v1={"memory": str(parent / name)})
                cs.create()
                assert os.path.isdir(parent / name)
                cs.destroy()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=churn, args=(f"c{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
