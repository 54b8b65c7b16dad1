"""The cgroup v2 code on this machine's real (controller-less) cgroup2 hierarchy: create,
enable controllers, move a process in, freeze/thaw, kill everything, remove. The resource files
need controllers that are bound to v1 here; their writing is unit-tested on a temp dir."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from dockyard.runtime.cgroups import CgroupSet, Hierarchy

UNIFIED = "/sys/fs/cgroup/unified"


@pytest.fixture
def unified_set(tag):
    if not os.path.exists(os.path.join(UNIFIED, "cgroup.procs")):
        pytest.skip("no cgroup2 hierarchy at " + UNIFIED)
    with open("/proc/self/cgroup") as f:
        current = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
    cs = CgroupSet.for_container(
        f"/dockyard-rt-{tag}/v2", "v2", [Hierarchy(UNIFIED, "/", "", current)]
    )
    yield cs
    cs.signal_all(signal.SIGKILL)
    for d in (cs.v2, os.path.dirname(cs.v2)):
        for _ in range(100):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)


def test_v2_lifecycle_on_real_cgroup2(unified_set):
    cs = unified_set
    assert cs.unified and cs.v1 == {}
    cs.create()
    assert os.path.isdir(cs.v2)
    cs.apply({})  # nothing to write, and nothing fails
    p = subprocess.Popen(["sleep", "30"])
    try:
        cs.add(p.pid)
        assert cs.procs() == [p.pid]
        cs.freeze()
        assert cs.frozen()
        deadline = time.monotonic() + 5
        while "frozen 1" not in open(os.path.join(cs.v2, "cgroup.events")).read():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        cs.thaw()
        assert not cs.frozen()
        cs.signal_all(signal.SIGKILL)
        assert p.wait(5) == -signal.SIGKILL
    finally:
        p.kill()
        p.wait()
    assert cs.stats()["pids"] == {"current": 0, "limit": 0}
    cs.destroy()
    assert not os.path.exists(cs.v2)
    assert not os.path.exists(os.path.dirname(cs.v2))  # the parent we created, too
