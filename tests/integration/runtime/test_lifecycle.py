"""Acceptance 4 of issue 2: exit status, signals (compared with runc), create then start, and
the OCI state transitions, through the CLI and the library."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dockyard.errors import Conflict, NotFound
from dockyard.runtime import wait_status

EXE = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")


def _cli(which: str, state_root: str) -> list[str]:
    if which == "runc":
        return ["runc", "--root", os.path.join(state_root, "runc")]
    return [EXE, "--root", state_root]


def _wait_status(cmd: list[str], cid: str, want: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = subprocess.run(cmd + ["state", cid], capture_output=True, text=True)
        if r.returncode == 0 and json.loads(r.stdout)["status"] == want:
            return
        time.sleep(0.02)
    raise AssertionError(f"{cid} never reached {want}")


def test_exit_status_passes_through(bundles, runtime_cli):
    bundle = bundles.make(["sh", "-c", "exit 42"])
    r = runtime_cli("run", "--bundle", bundle, "exit42")
    assert r.returncode == 42, r.stderr


def test_library_run_returns_status(bundles, rt):
    bundle = bundles.make(["sh", "-c", "kill -SEGV $$"])
    # A shell that kills itself with SEGV as pid 1: ignored (no handler), then exits 0.
    assert rt.run("segv", bundle) == 0
    assert rt.run("exit7", bundles.make(["sh", "-c", "exit 7"])) == 7


@pytest.mark.parametrize("which", ["runc", "ours"])
def test_signals_as_runc(which, bundles, state_root):
    cmd = _cli(which, state_root)
    trap = bundles.make(
        [
            "sh",
            "-c",
            'trap "echo trapped; exit 3" TERM; echo ready; while true; do sleep 0.05; done',
        ],
        name=f"trap-{which}",
    )
    p = subprocess.Popen(
        cmd + ["run", "--bundle", trap, f"trap-{which}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout.readline().strip() == "ready"
        assert subprocess.run(cmd + ["kill", f"trap-{which}", "TERM"]).returncode == 0
        assert p.wait(10) == 3
        assert p.stdout.read().strip() == "trapped"
    finally:
        p.kill()
        p.wait()

    plain = bundles.make(["sleep", "30"], name=f"plain-{which}")
    p = subprocess.Popen(
        cmd + ["run", "--bundle", plain, f"plain-{which}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_status(cmd, f"plain-{which}", "running")
        assert subprocess.run(cmd + ["kill", f"plain-{which}", "SIGTERM"]).returncode == 0
        time.sleep(0.3)
        assert p.poll() is None, "a pid 1 without a handler must ignore SIGTERM"
        assert subprocess.run(cmd + ["kill", f"plain-{which}", "9"]).returncode == 0
        assert p.wait(10) == 137
    finally:
        p.kill()
        p.wait()


def test_create_runs_program_only_after_start(bundles, runtime_cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()

    def edit(conf):
        conf["mounts"].append(
            {"destination": "/out", "type": "bind", "source": str(out), "options": ["rbind", "rw"]}
        )

    bundle = bundles.make(
        ["sh", "-c", "echo started > /out/flag; exec sleep 30"], edit=edit, writable=True
    )
    log = open(tmp_path / "stdio", "w")
    try:
        r = runtime_cli(
            "create",
            "--bundle",
            bundle,
            "--pid-file",
            str(tmp_path / "pid"),
            "cs",
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            capture_output=False,
        )
    finally:
        log.close()
    assert r.returncode == 0
    state = json.loads(runtime_cli("state", "cs").stdout)
    assert state["status"] == "created"
    assert state["pid"] == int((tmp_path / "pid").read_text())
    time.sleep(0.3)
    assert not (out / "flag").exists(), "the program ran before start"
    assert runtime_cli("start", "cs").returncode == 0
    deadline = time.monotonic() + 5
    while not (out / "flag").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (out / "flag").read_text() == "started\n"
    assert json.loads(runtime_cli("state", "cs").stdout)["status"] == "running"
    r = runtime_cli("start", "cs")
    assert r.returncode == 1 and "already running" in r.stderr
    r = runtime_cli("delete", "cs")
    assert r.returncode == 1 and "not stopped: running" in r.stderr
    assert runtime_cli("kill", "cs", "KILL").returncode == 0
    deadline = time.monotonic() + 5
    while json.loads(runtime_cli("state", "cs").stdout)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    r = runtime_cli("kill", "cs", "KILL")
    assert r.returncode == 1 and "container not running" in r.stderr
    assert runtime_cli("delete", "cs").returncode == 0
    r = runtime_cli("state", "cs")
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_library_state_transitions(bundles, rt):
    bundle = bundles.make(["sleep", "30"])
    pid = rt.create("lib", bundle)
    try:
        st = rt.state("lib")
        assert (st["status"], st["pid"], st["id"]) == ("created", pid, "lib")
        assert st["bundle"] == bundle and st["ociVersion"]
        # the init is our child: we can wait for it
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)
        assert [s["id"] for s in rt.list()] == ["lib"]
        with pytest.raises(Conflict):
            rt.create("lib", bundle)
        rt.start("lib")
        assert rt.state("lib")["status"] == "running"
        with pytest.raises(Conflict):
            rt.delete("lib")
        rt.kill("lib", signal.SIGKILL)
        assert wait_status(pid) == 137
        assert rt.state("lib")["status"] == "stopped"
        assert rt.state("lib")["pid"] == 0
    finally:
        rt.delete("lib", force=True)
    with pytest.raises(NotFound):
        rt.state("lib")
    assert rt.list() == []


def test_delete_created_container_kills_init(bundles, rt):
    pid = rt.create("cdel", bundles.make(["sleep", "30"]))
    rt.delete("cdel")
    assert wait_status(pid) == 137


def test_kill_all_reaches_every_process(bundles, rt):
    bundle = bundles.make(["sh", "-c", "sleep 30 & sleep 30 & wait"])
    pid = rt.create("killall", bundle)
    rt.start("killall")
    try:
        from dockyard.runtime.cgroups import CgroupSet

        cg = CgroupSet.from_dict(rt.store.load("killall").cgroups)
        deadline = time.monotonic() + 5
        while len(cg.procs()) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        rt.kill("killall", signal.SIGKILL, all=True)
        assert wait_status(pid) == 137
        assert cg.procs() == []
    finally:
        rt.delete("killall", force=True)


@pytest.mark.parametrize("which", ["runc", "ours"])
def test_run_forwards_signals(which, bundles, state_root):
    cmd = _cli(which, state_root)
    bundle = bundles.make(
        [
            "sh",
            "-c",
            'trap "echo got-usr1" USR1; trap "exit 5" TERM; echo ready; '
            "while true; do sleep 0.05; done",
        ],
        name=f"fwd-{which}",
    )
    p = subprocess.Popen(
        cmd + ["run", "--bundle", bundle, f"fwd-{which}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout.readline().strip() == "ready"
        p.send_signal(signal.SIGUSR1)
        assert p.stdout.readline().strip() == "got-usr1"
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 5
    finally:
        p.kill()
        p.wait()


def test_delete_of_unknown_container_as_runc(runtime_cli, runc_cli, rt):
    """runc: delete of an unknown id fails, delete --force succeeds (and removes what an
    interrupted create left: a directory without a state file)."""
    for cli in (runc_cli, runtime_cli):
        r = cli("delete", "nope")
        assert r.returncode == 1 and "does not exist" in r.stderr
        r = cli("delete", "--force", "nope")
        assert r.returncode == 0, r.stderr
    leftover = rt.store.dir("half")
    os.makedirs(leftover)
    os.mkfifo(os.path.join(leftover, "exec.fifo"))
    assert rt.list() == []
    assert runtime_cli("delete", "-f", "half").returncode == 0
    assert not os.path.exists(leftover)
    with pytest.raises(NotFound):
        rt.delete("half")


def test_library_start_returns_once_the_program_runs(bundles, rt):
    """Started through the Runtime that created it, the container runs its program when
    `start` returns (a startContainer hook that takes a while comes before the exec): the
    engine's inspect right after a start sees the program's command line, not the runtime's."""
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "sleep 0.3"]}
    bundle = bundles.make(
        ["sleep", "30"], edit=lambda c: c.update(hooks={"startContainer": [hook]})
    )
    pid = rt.create("execd", bundle)
    try:
        rt.start("execd")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read() == b"sleep\x0030\x00"
        assert os.readlink(f"/proc/{pid}/exe") != os.path.realpath(sys.executable)
    finally:
        rt.delete("execd", force=True)
    assert wait_status(pid) == 137
