"""Acceptance 4 and 6 of issue 4 through the daemon: kill -9 and restart keeps containers;
parallel runs all succeed."""

from __future__ import annotations

import concurrent.futures
import json
import time

from daemon_fixture import running_daemon


def ok(r):
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r


def _pid(d, name: str) -> int:
    return json.loads(ok(d.docker("inspect", name)).stdout)[0]["State"]["Pid"]


def test_kill9_and_restart_keeps_running_containers(busybox_rootfs):
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        ok(
            d.docker(
                "run",
                "-d",
                "--name",
                "alive",
                "busybox",
                "sh",
                "-c",
                "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done",
            )
        )
        ok(
            d.docker(
                "run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "1000"
            )
        )
        assert d.docker("run", "--name", "done", "busybox", "sh", "-c", "exit 3").returncode == 3
        pid_before = _pid(d, "alive")
        always_pid = _pid(d, "always")
        d.kill9()
        # While the daemon is down: the container keeps running; kill the `always` one.
        time.sleep(0.5)
        import os
        import signal

        os.kill(pid_before, 0)
        os.kill(always_pid, signal.SIGKILL)
        d.start()
        ps = ok(d.docker("ps", "-a", "--format", "{{.Names}} {{.State}}")).stdout.split("\n")
        states = dict(line.split() for line in ps if line)
        assert states["alive"] == "running"
        assert states["done"] == "exited"
        assert _pid(d, "alive") == pid_before
        assert json.loads(ok(d.docker("inspect", "done")).stdout)[0]["State"]["ExitCode"] == 3
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = json.loads(ok(d.docker("inspect", "always")).stdout)[0]["State"]
            if info["Running"] and info["Pid"] != always_pid:
                break
            time.sleep(0.2)
        assert info["Running"] and info["Pid"] != always_pid
        logs = ok(d.docker("logs", "alive")).stdout.split()
        time.sleep(0.6)
        later = ok(d.docker("logs", "alive")).stdout.split()
        assert len(later) > len(logs) >= 3  # the log goes on after the restart
        ok(d.docker("rm", "-f", "alive", "always", "done"))


def test_parallel_runs(busybox_rootfs):
    """20 `docker run --rm` at once, several rounds: each prints its line (the attach made
    before the start misses nothing), with stdin piped in on the last round."""
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)

        def run(i: int, stdin: bool) -> tuple[int, str, str]:
            if stdin:
                args = ["run", "-i", "--rm", "busybox", "cat"]
                r = d.docker(*args, input=f"in{i}\n", timeout=120)
            else:
                r = d.docker("run", "--rm", "busybox", "sh", "-c", f"echo n{i}", timeout=120)
            return r.returncode, r.stdout, r.stderr

        for stdin in (False, False, False, True):
            with concurrent.futures.ThreadPoolExecutor(20) as pool:
                results = list(pool.map(lambda i, s=stdin: run(i, s), range(20)))
            want = "in{}\n" if stdin else "n{}\n"
            assert [(code, out) for code, out, _ in results] == [
                (0, want.format(i)) for i in range(20)
            ], [r[2] for r in results if r[0]]
        assert ok(d.docker("ps", "-aq")).stdout == ""


def test_graceful_shutdown_leaves_containers_running(busybox_rootfs):
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        ok(d.docker("run", "-d", "--name", "keeper", "busybox", "sleep", "1000"))
        pid = _pid(d, "keeper")
        assert d.stop() == 0, d.log()  # SIGTERM
        import os

        os.kill(pid, 0)  # still running without the daemon
        d.start()
        assert _pid(d, "keeper") == pid
        assert ok(d.docker("exec", "keeper", "echo", "still here")).stdout == "still here\n"
        ok(d.docker("rm", "-f", "keeper"))
