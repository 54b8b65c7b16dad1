"""A chatty container on a full disk (issue 11: the monitor died of ENOSPC from its log write,
the container with it, and inspect said running with a dead pid). The data root is a small
tmpfs of the test's own; the monitor keeps draining the container's output, drops and
counts log lines, logging resumes once there is room, and the state stays true."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import time

from daemon_fixture import running_daemon

SIZE_MB = 24
CHATTY = (
    "i=0; while true; do i=$((i+1)); echo batch-$i; "
    "yes chatty-chatty-chatty-chatty | head -n 500; sleep 0.1; done"
)


def _free(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _fill(path: str, leave: int) -> None:
    """A file taking all but `leave` bytes of the file system holding `path`."""
    size = max(0, _free(os.path.dirname(path)) - leave)
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            n = min(size, len(chunk))
            try:
                f.write(chunk[:n])
            except OSError as e:  # the chatty container took the rest meanwhile: full
                if e.errno != errno.ENOSPC:
                    raise
                break
            size -= n


def _inspect(d, name: str) -> dict:
    r = d.docker("inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def _wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _batches(d, name: str) -> list[int]:
    r = d.docker("logs", name, timeout=120)
    assert r.returncode == 0, r.stderr
    return [int(n) for n in re.findall(r"^batch-(\d+)$", r.stdout, re.M)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_chatty_container_on_a_full_disk(busybox_rootfs):
    with running_daemon(start=False) as d:
        os.makedirs(d.data_root)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", d.data_root], check=True
        )
        # (running_daemon's clean-up kills the containers, then unmounts the tmpfs)
        d.start()
        d.import_busybox(busybox_rootfs)
        big, small = os.path.join(d.data_root, "filler"), os.path.join(d.data_root, "room")
        _fill(big, leave=3 << 20)
        r = d.docker("run", "-d", "--name", "chatty", "busybox", "sh", "-c", CHATTY)
        assert r.returncode == 0, r.stderr

        # the log fills the disk: lines are dropped and counted, the container runs on
        first = _wait_for(
            lambda: _inspect(d, "chatty")["State"].get("LogDropped"), 60, "dropped lines"
        )
        assert _free(d.data_root) < (1 << 20)
        # still draining: the count goes on growing (a blocked container would stop it)
        _wait_for(
            lambda: _inspect(d, "chatty")["State"].get("LogDropped", 0) > first,
            30,
            "more dropped lines",
        )
        state = _inspect(d, "chatty")["State"]
        assert state["Status"] == "running" and state["Running"] is True
        assert _alive(state["Pid"]), "inspect says running, but the pid is dead"
        assert "lines dropped" in d.log()  # the daemon's log says so, as dockerd's does

        # room again: logging resumes by itself (later batches appear in the log)
        before = max(_batches(d, "chatty"))
        os.unlink(big)
        _fill(small, leave=2 << 20)  # keep the disk small: it fills up again soon
        os.unlink(small)
        _wait_for(lambda: max(_batches(d, "chatty")) > before + 2, 60, "logging to resume")

        # full again, then stopped: the exit is recorded, inspect tells the truth
        _fill(big, leave=0)
        r = d.docker("stop", "-t", "1", "chatty", timeout=60)
        assert r.returncode == 0, r.stderr
        state = _inspect(d, "chatty")["State"]
        assert state["Status"] == "exited" and state["Running"] is False, state
        assert state["Pid"] == 0
        assert state["ExitCode"] in (137, 143), state
        # the exit reached the disk too: the monitor's space reserve was given up for it
        cid = _inspect(d, "chatty")["Id"]
        with open(os.path.join(d.data_root, "containers", cid, "state.json")) as f:
            on_disk = json.load(f)
        assert (on_disk["Status"], on_disk["ExitCode"]) == ("exited", state["ExitCode"])
        r = d.docker("ps", "-q", "--filter", "name=chatty")
        assert r.returncode == 0 and r.stdout.strip() == ""
        # and a second stop says so truthfully, at once
        r = d.docker("stop", "chatty", timeout=30)
        assert r.returncode == 0, r.stderr

        # the daemon restarts and still sees the same (its record reached the disk,
        # or is rewritten from what the monitor left)
        os.unlink(big)
        d.restart()
        state = _inspect(d, "chatty")["State"]
        assert state["Status"] == "exited" and state["ExitCode"] in (137, 143), state
        r = d.docker("rm", "chatty")
        assert r.returncode == 0, r.stderr


def test_monitor_killed_on_a_full_disk(busybox_rootfs):
    """The monitor dies (kill -9) while the disk is full: the service records the end in
    memory (its own write fails too), never shows running for the dead process, and writes
    the record once there is room."""
    with running_daemon(start=False) as d:
        os.makedirs(d.data_root)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", d.data_root], check=True
        )
        d.start()
        d.import_busybox(busybox_rootfs)
        big = os.path.join(d.data_root, "filler")
        _fill(big, leave=3 << 20)
        r = d.docker("run", "-d", "--name", "chatty", "busybox", "sh", "-c", CHATTY)
        assert r.returncode == 0, r.stderr
        cid = r.stdout.strip()
        _wait_for(lambda: _inspect(d, "chatty")["State"].get("LogDropped"), 60, "dropped lines")
        pid = _inspect(d, "chatty")["State"]["Pid"]
        with open(os.path.join(d.data_root, "containers", cid, "state.json")) as f:
            monitor = json.load(f)["MonitorPid"]
        assert _alive(monitor) and _alive(pid)
        _fill(os.path.join(d.data_root, "rest"), leave=0)
        os.kill(monitor, 9)
        state = _wait_for(
            lambda: (s := _inspect(d, "chatty")["State"])["Status"] != "running" and s,
            30,
            "the container to show as not running",
        )
        assert state["Running"] is False and state["Pid"] == 0, state
        _wait_for(lambda: not _alive(pid), 10, "the container's process to end")
        r = d.docker("stop", "chatty", timeout=30)
        assert r.returncode == 0, r.stderr
        assert _inspect(d, "chatty")["State"]["Status"] == "exited"
        # room again: the record reaches the disk, a restarted daemon agrees
        os.unlink(big)
        os.unlink(os.path.join(d.data_root, "rest"))
        state_file = os.path.join(d.data_root, "containers", cid, "state.json")

        def on_disk() -> bool:
            _inspect(d, "chatty")  # a read writes the kept record again (every 2 s at most)
            with open(state_file) as f:
                return json.load(f)["Status"] == "exited"

        _wait_for(on_disk, 30, "the record to reach the disk")
        d.restart()
        state = _inspect(d, "chatty")["State"]
        assert state["Status"] == "exited" and state["Pid"] == 0, state
        r = d.docker("rm", "chatty")
        assert r.returncode == 0, r.stderr
