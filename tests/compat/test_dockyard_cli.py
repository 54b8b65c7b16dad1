"""Acceptance 3 of issue 4: the same scenarios through `dockyard`, with docker's columns."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sys
import time

import pytest

from daemon_fixture import running_daemon


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


def ok(r):
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r


def same(d, *args: str) -> str:
    """dockyard and docker print the same thing (ages may tick between the two runs)."""
    ours, theirs = d.dockyard(*args), d.docker(*args)

    def norm(text: str) -> str:
        # Ages tick between the two runs and change column widths: compare words.
        text = re.sub(r"(\d+|Less than a|About a(n)?) (seconds?|minutes?|second)", "N units", text)
        return re.sub(r" +", " ", text)

    assert ours.returncode == theirs.returncode, (args, ours.stderr, theirs.stderr)
    assert norm(ours.stdout) == norm(theirs.stdout), args
    return ours.stdout


def test_run_and_exit_codes(d):
    assert ok(d.dockyard("run", "--rm", "busybox", "echo", "hello")).stdout == "hello\n"
    assert d.dockyard("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    r = d.dockyard("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (r.stdout, r.stderr) == ("out\n", "err\n")
    assert d.dockyard("ps", "-aq").stdout == ""


def test_detached_scenario_matches_docker(d):
    cid = ok(
        d.dockyard("run", "-d", "--name", "dweb", "-l", "a=b", "busybox", "sleep", "1000")
    ).stdout.strip()
    try:
        assert len(cid) == 64
        for args in (
            ["ps"],
            ["ps", "-a"],
            ["ps", "-q"],
            ["ps", "--no-trunc"],
            ["ps", "--format", '{{.ID}} {{.Names}} {{.Label "a"}}'],
            ["ps", "--format", "table {{.Names}}\t{{.Image}}"],
            ["ps", "--format", "{{json .Names}}"],
            ["inspect", "-f", "{{.State.Status}} {{.Config.Image}}", "dweb"],
            ["images"],
            ["images", "-q"],
            ["port", "dweb"],
            ["volume", "ls"],
            ["network", "ls"],
        ):
            same(d, *args)
        assert ok(d.dockyard("exec", "dweb", "ps")).stdout.splitlines()[1].split()[:3] == [
            "1",
            "root",
            "sleep",
        ]
        assert d.dockyard("exec", "dweb", "sh", "-c", "exit 4").returncode == 4
        top = ok(d.dockyard("top", "dweb")).stdout.splitlines()
        assert top[0].split()[:3] == ["UID", "PID", "PPID"] and "sleep 1000" in top[1]
        stats = ok(d.dockyard("stats", "--no-stream", "dweb")).stdout.splitlines()
        assert stats[0] == (
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     "
            "NET I/O   BLOCK I/O   PIDS"
        ) or stats[0].startswith("CONTAINER ID")
        (c,) = json.loads(ok(d.dockyard("inspect", "dweb")).stdout)
        assert c["Id"] == cid and c["State"]["Running"] is True
        t = time.monotonic()
        assert ok(d.dockyard("stop", "-t", "1", "dweb")).stdout == "dweb\n"
        assert time.monotonic() - t < 6
        same(d, "ps", "-a")
        assert ok(d.dockyard("start", "dweb")).stdout == "dweb\n"
    finally:
        d.dockyard("rm", "-f", "dweb")
    assert "dweb" not in d.docker("ps", "-a").stdout


def test_logs_wait_cp_volumes(d, tmp_path):
    ok(
        d.dockyard(
            "run",
            "-d",
            "--name",
            "dlog",
            "-v",
            "dvol:/data",
            "busybox",
            "sh",
            "-c",
            "echo one; echo two >&2; echo saved > /data/f; exit 6",
        )
    )
    try:
        assert ok(d.dockyard("wait", "dlog")).stdout == "6\n"
        r = ok(d.dockyard("logs", "dlog"))
        assert (r.stdout, r.stderr) == ("one\n", "two\n")
        assert ok(d.dockyard("logs", "--tail", "1", "dlog")).stdout == ""
        ok(d.dockyard("cp", "dlog:/data/f", str(tmp_path / "f")))
        assert (tmp_path / "f").read_text() == "saved\n"
        (tmp_path / "up.txt").write_text("uploaded\n")
        ok(d.dockyard("cp", str(tmp_path / "up.txt"), "dlog:/tmp/"))
        ok(d.dockyard("cp", "dlog:/tmp/up.txt", str(tmp_path / "back.txt")))
        assert (tmp_path / "back.txt").read_text() == "uploaded\n"
    finally:
        d.dockyard("rm", "-f", "dlog")
    r = ok(d.dockyard("run", "--rm", "-v", "dvol:/data", "busybox", "cat", "/data/f"))
    assert r.stdout == "saved\n"
    assert ok(d.dockyard("volume", "rm", "dvol")).stdout == "dvol\n"


def test_errors_like_docker(d):
    for args in (
        ["stop", "web9"],
        ["rm", "web9"],
        ["logs", "web9"],
        ["inspect", "web9"],
        ["volume", "inspect", "web9"],
        ["rmi", "nosuchimage"],
    ):
        ours, theirs = d.dockyard(*args), d.docker(*args)
        assert ours.returncode == theirs.returncode == 1, args
        assert ours.stderr == theirs.stderr, args


def test_run_it_pty(d):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(
            sys.executable,
            [sys.executable, "-m", "dockyard.cli.main", "run", "-it", "--rm", "busybox", "sh"],
            d.env,
        )
    out = b""

    def read_until(token: bytes, timeout: float = 20) -> bytes:
        nonlocal out
        deadline = time.monotonic() + timeout
        while token not in out and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        return out

    try:
        assert b"# " in read_until(b"# ")
        os.write(fd, b"echo $((6*7))\n")
        assert b"42" in read_until(b"42")
        os.write(fd, b"exit 5\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 5
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_events_logs_follow_version_info_volumes(d):
    """dockyard events/logs -f/version/info/volume inspect print what docker prints."""
    since = time.time()
    ok(
        d.dockyard(
            "run",
            "--name",
            "dfollow",
            "busybox",
            "sh",
            "-c",
            "for i in 1 2 3; do echo l$i; sleep 0.2; done",
        )
    )
    try:
        assert ok(d.dockyard("logs", "-f", "dfollow")).stdout == "l1\nl2\nl3\n"
        ok(d.dockyard("rm", "dfollow"))
        window = ["--since", f"{since:.3f}", "--until", f"{time.time() + 0.5:.3f}"]
        time.sleep(0.6)
        actions = same(
            d, "events", *window, "--filter", "container=dfollow", "--format", "{{.Action}}"
        ).split()
        assert [a for a in actions if a in ("create", "start", "die", "destroy")] == [
            "create",
            "start",
            "die",
            "destroy",
        ], actions
    finally:
        d.dockyard("rm", "-f", "dfollow")
    same(d, "version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}")
    assert "dockyard" in ok(d.dockyard("version")).stdout
    same(d, "info", "--format", "{{.Containers}} {{.Images}} {{.Driver}}")
    ok(d.dockyard("volume", "create", "--label", "x=y", "dinsp"))
    try:
        same(d, "volume", "inspect", "dinsp")
        same(d, "volume", "ls", "--format", "{{.Name}} {{.Driver}}")
    finally:
        ok(d.dockyard("volume", "rm", "dinsp"))


@pytest.mark.parametrize("client", ["docker", "dockyard"])
def test_attach_detach_keys(d, client):
    """`attach` to a `-dit` shell under a pty: typed commands run; ctrl-p ctrl-q (and a
    custom --detach-keys) leave the client and keep the container running."""
    name = f"keys-{client}"
    ok(d.docker("run", "-dit", "--name", name, "busybox", "sh"))
    argv = (
        ["/usr/local/bin/docker"]
        if client == "docker"
        else [sys.executable, "-m", "dockyard.cli.main"]
    )
    try:
        for extra, keys in (([], b"\x10\x11"), (["--detach-keys", "ctrl-x,x"], b"\x18x")):
            pid, fd = pty.fork()
            if pid == 0:
                os.execve(argv[0], [*argv, "attach", *extra, name], d.env)
            out = b""
            try:
                os.write(fd, b"echo $((6*7))\n")
                deadline = time.monotonic() + 20
                while b"42" not in out and time.monotonic() < deadline:
                    if select.select([fd], [], [], 0.2)[0]:
                        try:
                            out += os.read(fd, 4096)
                        except OSError:  # the client exited
                            break
                assert b"42" in out, (extra, out)
                os.write(fd, keys)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        break
                    if select.select([fd], [], [], 0.1)[0]:
                        try:
                            out += os.read(fd, 4096)
                        except OSError:
                            pass
                assert done, ("the client did not detach", out)
                # docker's CLI: "read escape sequence", exit status 1
                assert os.waitstatus_to_exitcode(status) == 1
                assert b"read escape sequence" in out
            finally:
                try:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
                os.close(fd)
            state = json.loads(ok(d.docker("inspect", name)).stdout)[0]["State"]
            assert state["Running"] is True, (extra, state)
    finally:
        d.docker("rm", "-f", name)


def _running(d, name: str, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = d.dockyard("inspect", "-f", "{{.State.Running}}", name)
        if r.stdout.strip() == "true":
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("command", ["run", "attach", "start"])
def test_sig_proxy_forwards_signals_to_the_container(d, command):
    """Without a tty, SIGTERM to `dockyard run` / `attach` / `start -a` reaches the container
    (the kill API), which traps it and exits 3; with --sig-proxy=false the client alone dies."""
    import subprocess

    name = f"sigp-{command}"
    script = 'trap "echo trapped; exit 3" TERM; echo ready; while :; do sleep 0.1; done'
    run = [sys.executable, "-m", "dockyard.cli.main"]
    if command == "run":
        argv = [*run, "run", "--name", name, "busybox", "sh", "-c", script]
    elif command == "start":
        ok(d.dockyard("create", "--name", name, "busybox", "sh", "-c", script))
        argv = [*run, "start", "-a", name]
    else:
        ok(d.dockyard("run", "-d", "--name", name, "busybox", "sh", "-c", script))
        argv = [*run, "attach", name]
    proc = subprocess.Popen(argv, env=d.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _running(d, name)
        time.sleep(0.5)  # attached
        proc.send_signal(15)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 3, (out, err)
        assert b"trapped" in out or command == "attach", (out, err)
        assert d.dockyard("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "3"
        # --sig-proxy=false: the signal ends the client only; the container keeps running.
        ok(d.dockyard("start", name))
        assert _running(d, name)
        proxy_off = [*run, "attach", "--sig-proxy=false", name]
        proc = subprocess.Popen(proxy_off, env=d.env, stdout=subprocess.PIPE)
        time.sleep(0.5)
        proc.send_signal(15)
        proc.communicate(timeout=20)
        assert proc.returncode == -15
        assert d.dockyard("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        d.dockyard("rm", "-f", name)


def test_cp_follow_link_logs_details_and_refused_flags(d, tmp_path):
    name = "cpl"
    ok(
        d.dockyard(
            "run", "--name", name, "busybox", "sh", "-c",
            "mkdir /d && echo target > /d/f && ln -s /d/f /lnk && ln -s d /dl && echo hi",
        )
    )  # fmt: skip
    try:
        for tool in ("dockyard", "docker"):
            out = tmp_path / tool
            out.mkdir()
            run = getattr(d, tool)
            ok(run("cp", "-L", f"{name}:/lnk", str(out / "copy")))
            ok(run("cp", "-L", f"{name}:/dl", str(out)))
            ok(run("cp", f"{name}:/lnk", str(out / "plain")))
            assert (out / "copy").read_text() == "target\n"
            assert (out / "dl" / "f").read_text() == "target\n"
            assert os.readlink(out / "plain") == "/d/f"
        # host -> container with -L: the link's target, under the link's name
        src = tmp_path / "hostlink"
        (tmp_path / "real").write_text("from host\n")
        src.symlink_to(tmp_path / "real")
        ok(d.dockyard("cp", "-L", str(src), f"{name}:/"))
        r = ok(d.dockyard("cp", f"{name}:/hostlink", "-"))
        assert "from host" in r.stdout
        # logs --details: dockerd puts the (here empty) attributes and a space first
        assert same(d, "logs", "--details", name) == " hi\n"
        # refused, never ignored
        r = d.dockyard("system", "df", "-v")
        assert r.returncode == 1 and "not supported" in r.stderr
        r = d.dockyard("--log-level", "debug", "ps")
        assert r.returncode == 125 and "--log-level" in r.stderr
        for opt in ("labels=a", "env=A", "tag=x", "compress=true"):
            r = d.dockyard("create", "--log-opt", opt, "busybox", "true")
            assert r.returncode != 0 and opt.split("=")[0] in r.stderr, (opt, r.stderr)
    finally:
        d.dockyard("rm", "-f", name)
