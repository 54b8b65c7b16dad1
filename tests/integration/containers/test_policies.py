"""Restart policies, health checks, pause/unpause, auto-remove, --init, top and stats."""

from __future__ import annotations

import os
import time

import pytest

from dockyard.errors import Conflict


def wait_for(pred, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def test_restart_always_with_backoff(engine):
    svc = engine.containers
    cid = svc.create(
        None,
        {"Image": "busybox", "Cmd": ["sh", "-c", "echo run; exit 1"]},
        {"RestartPolicy": {"Name": "always"}},
    )["Id"]
    t0 = time.monotonic()
    svc.start(cid)
    assert wait_for(lambda: svc.inspect(cid)["RestartCount"] >= 4)
    elapsed = time.monotonic() - t0
    # 0.1 + 0.2 + 0.4 s of backoff at least before the 4th restart
    assert elapsed >= 0.7
    runs = [d for _, d in svc.logs(cid)]
    assert runs.count(b"run\n") >= 4
    svc.stop(cid, timeout=1)
    state = svc.inspect(cid)["State"]
    assert state["Status"] == "exited"
    count = svc.inspect(cid)["RestartCount"]
    time.sleep(0.5)
    assert svc.inspect(cid)["RestartCount"] == count  # a stopped container stays stopped
    assert engine.actions(cid).count("die") >= 4


def test_restart_on_failure_max_retries(engine):
    svc = engine.containers
    cid = svc.create(
        None,
        {"Image": "busybox", "Cmd": ["sh", "-c", "exit 2"]},
        {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}},
    )["Id"]
    svc.start(cid)
    assert wait_for(
        lambda: (
            svc.inspect(cid)["State"]["Status"] == "exited"
            and svc.inspect(cid)["RestartCount"] == 2
        )
    )
    assert svc.wait(cid)["StatusCode"] == 2
    ok = svc.create(
        None, {"Image": "busybox", "Cmd": ["true"]}, {"RestartPolicy": {"Name": "on-failure"}}
    )["Id"]
    svc.start(ok)
    assert svc.wait(ok)["StatusCode"] == 0
    time.sleep(0.3)
    assert svc.inspect(ok)["RestartCount"] == 0


def test_health_check_status(engine):
    svc = engine.containers
    hc = {
        "Test": ["CMD-SHELL", "test -e /tmp/ok"],
        "Interval": 100_000_000,
        "Timeout": 2_000_000_000,
        "Retries": 2,
    }
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["sleep", "1000"], "Healthcheck": hc}, {})[
        "Id"
    ]
    svc.start(cid)
    assert svc.inspect(cid)["State"]["Health"]["Status"] in ("starting", "unhealthy")
    assert wait_for(lambda: svc.inspect(cid)["State"]["Health"]["Status"] == "unhealthy")
    assert "(unhealthy)" in svc.list()[0]["Status"]
    eid = svc.exec_create(cid, {"Cmd": ["touch", "/tmp/ok"]})["Id"]
    svc.exec_start(eid, detach=True)
    assert wait_for(lambda: svc.inspect(cid)["State"]["Health"]["Status"] == "healthy")
    health = svc.inspect(cid)["State"]["Health"]
    assert health["FailingStreak"] == 0 and 1 <= len(health["Log"]) <= 5
    assert health["Log"][-1]["ExitCode"] == 0
    assert svc.list(filters={"health": ["healthy"]})[0]["Id"] == cid
    assert svc.list()[0]["Status"].endswith("(healthy)")
    assert any(a.startswith("health_status") for a in engine.actions(cid))


def test_pause_unpause(engine):
    svc = engine.containers
    cid = svc.create(
        None,
        {"Image": "busybox", "Cmd": ["sh", "-c", "while true; do date +%s%N; sleep 0.05; done"]},
        {},
    )["Id"]
    svc.start(cid)
    time.sleep(0.3)
    svc.pause(cid)
    info = svc.inspect(cid)["State"]
    assert info["Status"] == "paused" and info["Paused"] and info["Running"]
    n = len(list(svc.logs(cid)))
    time.sleep(0.4)
    assert len(list(svc.logs(cid))) == n
    with pytest.raises(Conflict):
        svc.pause(cid)
    assert "(Paused)" in svc.list()[0]["Status"]
    svc.unpause(cid)
    assert wait_for(lambda: len(list(svc.logs(cid))) > n + 2)
    svc.pause(cid)
    svc.stop(cid, timeout=1)  # stopping a paused container thaws it first
    assert svc.inspect(cid)["State"]["Status"] == "exited"


def test_auto_remove(engine):
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["true"]}, {"AutoRemove": True})["Id"]
    svc.start(cid)
    svc.wait(cid, "removed")
    assert wait_for(lambda: cid not in svc.ids())
    assert "destroy" in engine.actions(cid)


def test_init_reaps_and_is_pid1(engine):
    svc = engine.containers
    if not svc.init_path:
        pytest.skip("no C compiler to build docker-init")
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["sleep", "1000"]}, {"Init": True})["Id"]
    svc.start(cid)
    eid = svc.exec_create(cid, {"Cmd": ["cat", "/proc/1/cmdline"], "AttachStdout": True})["Id"]
    out = b"".join(d for _, d in svc.exec_start(eid))
    assert out.startswith(b"/sbin/docker-init\x00")
    t0 = time.monotonic()
    svc.stop(cid, timeout=10)  # the init forwards SIGTERM to sleep, which dies at once
    assert time.monotonic() - t0 < 3
    assert svc.inspect(cid)["State"]["ExitCode"] == 143


def test_top_and_stats(engine):
    svc = engine.containers
    cid = svc.create(
        None,
        {"Image": "busybox", "Cmd": ["sleep", "1000"]},
        {"Memory": 64 * 1024 * 1024, "PidsLimit": 50},
    )["Id"]
    svc.start(cid)
    top = svc.top(cid)
    assert "PID" in top["Titles"] and "CMD" in top["Titles"]
    assert len(top["Processes"]) == 1 and top["Processes"][0][-1] == "sleep 1000"
    stats = next(svc.stats(cid, stream=False))
    assert stats["id"] == cid and stats["name"] == svc.inspect(cid)["Name"]
    assert stats["memory_stats"]["limit"] == 64 * 1024 * 1024
    assert stats["memory_stats"]["usage"] > 0
    assert stats["pids_stats"] == {"current": 1, "limit": 50}
    assert stats["cpu_stats"]["system_cpu_usage"] > 0
    assert stats["precpu_stats"]["system_cpu_usage"] > 0
    svc.update(cid, {"Memory": 32 * 1024 * 1024})
    assert (
        next(svc.stats(cid, stream=False, one_shot=True))["memory_stats"]["limit"]
        == 32 * 1024 * 1024
    )
    assert svc.inspect(cid)["HostConfig"]["Memory"] == 32 * 1024 * 1024


def test_oom_killed(engine):
    svc = engine.containers
    cid = svc.create(
        None,
        {"Image": "busybox", "Cmd": ["sh", "-c", "x=a; while true; do x=$x$x; done"]},
        {"Memory": 16 * 1024 * 1024, "MemorySwap": 16 * 1024 * 1024},
    )["Id"]
    svc.start(cid)
    assert svc.wait(cid)["StatusCode"] == 137
    assert svc.inspect(cid)["State"]["OOMKilled"] is True
    assert "oom" in engine.actions(cid)


def test_a_freeze_that_is_not_a_pause_is_not_paused(engine):
    """The runtime freezes a container for a moment to SIGKILL all of its processes (a stop
    that times out, a restart): the container must not read as paused meanwhile; only
    `pause` pauses."""
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["sleep", "1000"]}, {})["Id"]
    svc.start(cid)
    state_file = os.path.join(svc.cgroup_dir(cid, "freezer"), "freezer.state")
    try:
        with open(state_file, "w") as f:
            f.write("FROZEN")
        assert svc.inspect(cid)["State"]["Status"] == "running"
    finally:
        with open(state_file, "w") as f:
            f.write("THAWED")
    svc.pause(cid)
    assert svc.inspect(cid)["State"]["Status"] == "paused"
    svc.unpause(cid)
    assert svc.inspect(cid)["State"]["Status"] == "running"
    svc.pause(cid)
    svc.kill(cid)  # SIGKILL of a paused container thaws it; the next start is not paused
    svc.start(cid)
    assert svc.inspect(cid)["State"]["Status"] == "running"
    svc.remove(cid, force=True)
