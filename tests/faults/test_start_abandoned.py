"""A start the daemon never answered (it died after the monitor reported, before it
acknowledged) leaves nothing running: the monitor kills the container and records the start
as failed; after a restart the container is not running, and a retry starts it."""

from __future__ import annotations

import json
import os
import time

from daemon_fixture import running_daemon


def _in_cgroup_of(cid: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cgroup") as f:
                    if cid in f.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def test_start_not_acknowledged_leaves_nothing_running(busybox_rootfs):
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        r = d.docker("create", "--name", "starter", "busybox", "sleep", "1000")
        assert r.returncode == 0, r.stderr
        cid = r.stdout.strip()
        d.daemon_env = {"DOCKYARD_CRASH_AT": "container.start.reported"}
        d.restart()
        r = d.docker("start", "starter")
        assert r.returncode != 0  # the daemon died under it
        assert d.proc.wait(10) == -9
        # the monitor undoes the start by itself, the daemon being gone
        state_file = os.path.join(d.data_root, "containers", cid, "state.json")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(state_file) as f:
                state = json.load(f)
            if state["Status"] != "running" and not state["MonitorPid"]:
                break
            time.sleep(0.1)
        assert state["Status"] == "created", state
        assert "gave up" in state["Error"]
        assert _in_cgroup_of(cid) == []
        d.daemon_env = {}
        d.start()
        r = d.docker("inspect", "starter")
        assert r.returncode == 0, r.stderr
        view = json.loads(r.stdout)[0]["State"]
        assert view["Running"] is False and view["Pid"] == 0, view
        assert d.docker("ps", "-q").stdout.strip() == ""
        # a retry works
        r = d.docker("start", "starter")
        assert r.returncode == 0, r.stderr
        r = d.docker("exec", "starter", "echo", "alive", timeout=20)
        assert (r.returncode, r.stdout.strip()) == (0, "alive"), r.stderr
