"""Acceptance 3 of issue 2: memory, pids and cpu limits hold."""

from __future__ import annotations

import os
import subprocess
import time

from dockyard.runtime import wait_status
from dockyard.runtime.cgroups import CgroupSet

MiB = 1024 * 1024


def test_memory_limit_kills_allocator_137(bundles, runtime_cli):
    def edit(conf):
        conf["linux"]["resources"]["memory"] = {"limit": 32 * MiB, "swap": 32 * MiB}

    # The shell keeps a 100 MiB string in its own memory.
    bundle = bundles.make(
        ["sh", "-c", "a=$(head -c 104857600 /dev/zero | tr '\\0' x); echo survived ${#a}"],
        edit=edit,
    )
    r = runtime_cli("run", "--bundle", bundle, "oom")
    assert r.returncode == 137, (r.stdout, r.stderr)
    assert "survived" not in r.stdout


def test_fork_bomb_stops_at_pids_limit(bundles, rt):
    limit = 24

    def edit(conf):
        conf["linux"]["resources"]["pids"] = {"limit": limit}

    # the init must outlive the bomb (its exit would end the namespace): it execs, no fork
    bundle = bundles.make(
        ["sh", "-c", "bomb() { bomb | bomb & }; bomb; exec sleep 1000"], edit=edit
    )
    log_path = os.path.join(os.path.dirname(bundle), "bomb.log")
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        pid = rt.create("bomb", bundle, stdout=log, stderr=log)
    finally:
        os.close(log)
    try:
        cg = CgroupSet.from_dict(rt.store.load("bomb").cgroups)
        pids_dir = cg.v1["pids"]
        rt.start("bomb")
        deadline = time.monotonic() + 10
        while True:
            with open(os.path.join(pids_dir, "pids.events")) as f:
                refused = int(f.read().split()[1])
            if refused > 0:
                break
            if time.monotonic() > deadline:
                with open(log_path) as f:
                    raise AssertionError(f"the bomb never hit the limit: {f.read()[-500:]}")
            time.sleep(0.05)
        for _ in range(10):
            with open(os.path.join(pids_dir, "pids.current")) as f:
                assert int(f.read()) <= limit
            time.sleep(0.05)
        # the host is unaffected: it can still start processes
        assert subprocess.run(["true"]).returncode == 0
    finally:
        rt.delete("bomb", force=True)
    wait_status(pid)  # reap our child, whatever ended it
    assert not os.path.exists(pids_dir)


def test_cpu_quota_half_a_core(bundles, rt):
    def edit(conf):
        conf["linux"]["resources"]["cpu"] = {"quota": 50000, "period": 100000}

    bundle = bundles.make(["sh", "-c", "while :; do :; done"], edit=edit)
    pid = rt.create("cpu", bundle)
    try:
        cg = CgroupSet.from_dict(rt.store.load("cpu").cgroups)
        usage_file = os.path.join(cg.v1["cpuacct"], "cpuacct.usage")
        rt.start("cpu")
        time.sleep(0.3)
        with open(usage_file) as f:
            before = int(f.read())
        t0 = time.monotonic()
        time.sleep(1.5)
        with open(usage_file) as f:
            after = int(f.read())
        elapsed = time.monotonic() - t0
        share = (after - before) / 1e9 / elapsed
        with open(os.path.join(cg.v1["cpu"], "cpu.stat")) as f:
            stat = dict(line.split() for line in f)
        # Never above half a core (plus slack for period edges). Below it only when the
        # machine is busy with other work, and then the quota still throttled the loop.
        assert share < 0.62, f"busy loop used {share:.2f} of a core"
        assert share > 0.1, f"busy loop used {share:.2f} of a core"
        busy = os.getloadavg()[0] > 2  # other work competes for the 2 cores
        assert int(stat["nr_throttled"]) > 0 or busy, "the quota never throttled the loop"
        assert share > 0.35 or busy, f"only {share:.2f} of a core on an idle machine"
    finally:
        rt.delete("cpu", force=True)
    assert wait_status(pid) == 137
