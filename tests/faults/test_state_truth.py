"""A record that says "running" for processes that are gone, or whose pids now name other
processes (pids are reused: after a crash, a reboot), is never shown as running: the start
times recorded with the pids are checked when the state is read and at start-up. The other
processes are left alone."""

from __future__ import annotations

import json
import os
import subprocess

from daemon_fixture import running_daemon


def _start_time(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def _lie(path: str, pid: int, monitor: int) -> None:
    """Make the record say running, with `pid` and `monitor` but other start times."""
    with open(path) as f:
        state = json.load(f)
    state.update(
        Status="running",
        Pid=pid,
        PidStartTime=_start_time(pid) + 1,
        MonitorPid=monitor,
        MonitorStartTime=_start_time(monitor) + 1,
        StartedAt="2026-01-01T00:00:00.000000000Z",
    )
    tmp = path + ".lie"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.rename(tmp, path)


def _state(d, name: str) -> dict:
    r = d.docker("inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]["State"]


def test_reused_pids_are_not_taken_for_the_container(busybox_rootfs):
    decoys = [subprocess.Popen(["sleep", "300"]) for _ in range(2)]
    try:
        with running_daemon() as d:
            d.import_busybox(busybox_rootfs)
            r = d.docker("create", "--name", "ghost", "busybox", "sleep", "1000")
            assert r.returncode == 0, r.stderr
            cid = r.stdout.strip()
            path = os.path.join(d.data_root, "containers", cid, "state.json")

            # read by a running daemon
            _lie(path, decoys[0].pid, decoys[1].pid)
            state = _state(d, "ghost")
            assert state["Status"] == "exited" and state["Running"] is False, state
            assert state["Pid"] == 0
            assert d.docker("ps", "-q").stdout.strip() == ""
            r = d.docker("stop", "ghost")
            assert r.returncode == 0, r.stderr

            # found at start-up
            d.stop()
            _lie(path, decoys[0].pid, decoys[1].pid)
            d.start()
            state = _state(d, "ghost")
            assert state["Status"] == "exited" and state["Pid"] == 0, state
            assert all(p.poll() is None for p in decoys), "a process that is not ours was killed"

            # and the container is as good as new
            r = d.docker("start", "ghost")
            assert r.returncode == 0, r.stderr
            state = _state(d, "ghost")
            assert state["Status"] == "running" and state["Pid"] not in [p.pid for p in decoys]
            r = d.docker("stop", "-t", "1", "ghost")
            assert r.returncode == 0, r.stderr
    finally:
        for p in decoys:
            p.kill()
            p.wait()
