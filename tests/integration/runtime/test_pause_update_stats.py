"""pause/resume (freezer), update of resources and usage statistics, for the engine's
`docker pause`, `docker update` and `docker stats`."""

from __future__ import annotations

import json
import os
import time

import pytest

from dockyard.errors import Conflict
from dockyard.runtime import wait_status
from dockyard.runtime.cgroups import CgroupSet


def test_pause_freezes_and_resume_thaws(bundles, rt, tmp_path):
    out = tmp_path / "out"
    out.mkdir()

    def edit(conf):
        conf["mounts"].append(
            {"destination": "/out", "type": "bind", "source": str(out), "options": ["rbind", "rw"]}
        )

    bundle = bundles.make(
        ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /out/n; sleep 0.02; done"], edit=edit
    )
    pid = rt.create("pz", bundle)
    try:
        rt.start("pz")
        time.sleep(0.2)
        rt.pause("pz")
        assert rt.state("pz")["status"] == "paused"
        assert rt.state("pz")["pid"] == pid
        with pytest.raises(Conflict):
            rt.pause("pz")
        with pytest.raises(Conflict, match="not stopped: paused"):
            rt.delete("pz")
        first = (out / "n").read_text()
        time.sleep(0.3)
        assert (out / "n").read_text() == first, "a paused container kept running"
        rt.resume("pz")
        assert rt.state("pz")["status"] == "running"
        time.sleep(0.3)
        assert (out / "n").read_text() != first
        with pytest.raises(Conflict):
            rt.resume("pz")
        rt.pause("pz")
    finally:
        rt.delete("pz", force=True)  # force-deleting a paused container kills it
    assert wait_status(pid) == 137


def test_update_and_stats(bundles, rt):
    bundle = bundles.make(
        ["sh", "-c", "while :; do :; done"],
        edit=lambda c: c["linux"]["resources"].update(
            memory={"limit": 64 << 20}, pids={"limit": 50}
        ),
    )
    pid = rt.create("up", bundle)
    try:
        rt.start("up")
        rt.update(
            "up",
            {
                "memory": {"limit": 48 << 20},
                "pids": {"limit": 30},
                "cpu": {"quota": 20000, "period": 100000},
            },
        )
        cg = CgroupSet.from_dict(rt.store.load("up").cgroups)
        with open(os.path.join(cg.v1["memory"], "memory.limit_in_bytes")) as f:
            assert int(f.read()) == 48 << 20
        with open(os.path.join(cg.v1["pids"], "pids.max")) as f:
            assert f.read().strip() == "30"
        assert rt.store.load("up").config["linux"]["resources"]["memory"]["limit"] == 48 << 20
        time.sleep(0.5)
        stats = rt.stats("up")
        assert stats["memory"]["usage"]["limit"] == 48 << 20
        assert stats["memory"]["usage"]["usage"] > 0
        assert stats["pids"] == {"current": 1, "limit": 30}
        assert stats["cpu"]["usage"]["total"] > 0
        assert stats["cpu"]["throttling"]["periods"] > 0
    finally:
        rt.delete("up", force=True)
    wait_status(pid)


def test_cli_pause_resume_update_events(bundles, runtime_cli, tmp_path):
    bundle = bundles.make(["sleep", "30"])
    with open(tmp_path / "log", "w") as log:
        r = runtime_cli(
            "run", "-d", "--bundle", bundle, "cli-pz", stdout=log, stderr=log, capture_output=False
        )
    assert r.returncode == 0
    try:
        assert runtime_cli("pause", "cli-pz").returncode == 0
        assert json.loads(runtime_cli("state", "cli-pz").stdout)["status"] == "paused"
        assert runtime_cli("resume", "cli-pz").returncode == 0
        assert (
            runtime_cli(
                "update", "--pids-limit", "11", "--memory", str(40 << 20), "cli-pz"
            ).returncode
            == 0
        )
        ev = json.loads(runtime_cli("events", "--stats", "cli-pz").stdout)
        assert ev["type"] == "stats" and ev["id"] == "cli-pz"
        assert ev["data"]["pids"]["limit"] == 11
        assert ev["data"]["memory"]["usage"]["limit"] == 40 << 20
        r = runtime_cli("resume", "cli-pz")
        assert r.returncode == 1 and "not paused" in r.stderr
    finally:
        assert runtime_cli("delete", "-f", "cli-pz").returncode == 0


def test_update_raises_memory_and_swap_together(bundles, rt):
    """cgroup v1 refuses a memory limit above memory+swap: raising both writes memsw first,
    lowering both writes the memory limit first (as runc orders them)."""
    bundle = bundles.make(
        ["sleep", "30"],
        edit=lambda c: c["linux"]["resources"].update(memory={"limit": 32 << 20, "swap": 32 << 20}),
    )
    pid = rt.create("memsw", bundle)
    try:
        mdir = CgroupSet.from_dict(rt.store.load("memsw").cgroups).v1["memory"]

        def limits() -> tuple[int, int]:
            with open(os.path.join(mdir, "memory.limit_in_bytes")) as f:
                mem = int(f.read())
            with open(os.path.join(mdir, "memory.memsw.limit_in_bytes")) as f:
                return mem, int(f.read())

        assert limits() == (32 << 20, 32 << 20)
        rt.update("memsw", {"memory": {"limit": 64 << 20, "swap": 128 << 20}})
        assert limits() == (64 << 20, 128 << 20)
        rt.update("memsw", {"memory": {"limit": 16 << 20, "swap": 24 << 20}})
        assert limits() == (16 << 20, 24 << 20)
    finally:
        rt.delete("memsw", force=True)
    wait_status(pid)
