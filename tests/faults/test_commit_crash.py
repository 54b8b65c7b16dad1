"""kill -9 of the daemon in the middle of `commit`: the container is left as commit found it."""

from __future__ import annotations

import json

from daemon_fixture import running_daemon


def _state(d, name: str) -> dict:
    r = d.docker("inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]["State"]


def test_kill9_while_commit_paused_is_undone_at_restart(busybox_rootfs):
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        d.daemon_env = {"DOCKYARD_CRASH_AT": "commit.paused"}
        d.restart()
        r = d.docker(
            "run", "-d", "--name", "cc", "busybox", "sh", "-c", "while :; do sleep 1; done"
        )
        assert r.returncode == 0, r.stderr
        r = d.docker("commit", "cc", "snap:1")
        assert r.returncode != 0  # the daemon died under it
        assert d.proc.wait(10) == -9
        d.daemon_env = {}
        d.start()
        state = _state(d, "cc")
        assert state["Status"] == "running" and state["Paused"] is False, state
        # the container really runs again: its processes answer
        r = d.docker("exec", "cc", "echo", "alive", timeout=20)
        assert (r.returncode, r.stdout.strip()) == (0, "alive"), r.stderr
        # a retry succeeds, and a pause of the user's own is kept across a restart
        r = d.docker("commit", "cc", "snap:1")
        assert r.returncode == 0, r.stderr
        assert d.docker("pause", "cc").returncode == 0
        d.restart(kill=True)
        assert _state(d, "cc")["Status"] == "paused"
        assert d.docker("unpause", "cc").returncode == 0
        d.docker("rm", "-f", "cc")
