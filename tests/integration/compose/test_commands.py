"""run, exec, logs, the lifecycle commands, ls/images/top, and `up` in the foreground."""

from __future__ import annotations

import re
import select
import signal
import time

from support import OutputLines

SLEEPER = """
services:
  app:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    environment:
      FROM_SERVICE: service
  dep:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
"""


def test_run_rm_with_env_and_exit_code(compose):
    compose.write(
        "compose.yaml",
        SLEEPER.replace("  app:\n", "  app:\n    depends_on: [dep]\n"),
    )
    p = compose.name
    r = compose.run("run", "--rm", "-e", "EXTRA=given", "app", "sh", "-c",
                    "echo $FROM_SERVICE $EXTRA; exit 3", check=False)  # fmt: skip
    assert r.returncode == 3, r.stderr
    assert r.stdout == "service given\n"
    # the dependency was started, the one-off container is gone
    assert compose.names() == [f"{p}-dep-1"]
    compose.run("down")
    r = compose.run("run", "--no-deps", "app", "echo", "kept")
    assert r.stdout == "kept\n"
    names = compose.names()
    assert len(names) == 1 and names[0].startswith(f"{p}-app-run-")
    labels = compose.inspect(names[0])["Config"]["Labels"]
    assert labels["com.docker.compose.oneoff"] == "True"
    compose.run("down")
    assert compose.names() == []


def test_exec(compose):
    compose.write("compose.yaml", SLEEPER)
    compose.run("up", "-d")
    r = compose.run("exec", "-T", "app", "sh", "-c", "echo $FROM_SERVICE; echo err >&2")
    assert r.stdout == "service\n" and "err" in r.stderr
    r = compose.run("exec", "-T", "-e", "X=1", "-w", "/tmp", "app", "sh", "-c", "echo $X $PWD")
    assert r.stdout == "1 /tmp\n"
    r = compose.run("exec", "-T", "app", "sh", "-c", "exit 7", check=False)
    assert r.returncode == 7
    r = compose.run("exec", "-T", "dep", "true")
    compose.run("stop", "dep")
    r = compose.run("exec", "-T", "dep", "true", check=False)
    assert r.returncode != 0 and "not running" in r.stderr


def test_logs_follow_tail_and_timestamps(compose):
    compose.write(
        "compose.yaml",
        """
        services:
          ticker:
            image: busybox
            command: ["sh", "-c", "i=0; while true; do i=$$((i+1)); echo tick $$i; sleep 0.3; done"]
            stop_signal: SIGKILL
          once:
            image: busybox
            command: ["echo", "only once"]
        """,
    )
    p = compose.name
    compose.run("up", "-d")
    compose.wait_for(lambda: "tick 3" in compose.run("logs", "ticker").stdout, what="ticks")
    out = compose.run("logs", "--tail", "1", "ticker").stdout
    assert len(out.splitlines()) == 1 and out.startswith(f"{p}-ticker-1  | tick ")
    out = compose.run("logs", "-t", "once").stdout
    line = out.splitlines()[0]
    assert line.startswith(f"{p}-once-1  | 20") and line.endswith(" only once")
    both = compose.run("logs", "--no-color").stdout
    assert f"{p}-once-1    | only once" in both  # padded to the longest name
    coloured = compose.run("--ansi", "always", "logs", "once").stdout
    assert coloured.startswith(f"\x1b[36m{p}-once-1  | \x1b[0monly once"), repr(coloured)
    proc = compose.popen("logs", "-f", "--tail", "0", "ticker")
    try:
        out = OutputLines(proc.stdout)
        out.read_until(lambda lines: len(lines) >= 3, timeout=10)
        seen = out.lines[:3]
        assert len(seen) == 3, seen
        numbers = [int(line.split()[-1]) for line in seen]
        assert numbers == list(range(numbers[0], numbers[0] + 3)) and numbers[0] > 3, seen
        assert all(line.startswith(f"{p}-ticker-1  | tick") for line in seen)
    finally:
        proc.kill()
        proc.wait()


def test_lifecycle_commands(compose):
    compose.write("compose.yaml", SLEEPER)
    p = compose.name
    compose.run("up", "-d")

    def state(name: str) -> str:
        return compose.inspect(f"{p}-{name}-1")["State"]["Status"]

    compose.run("stop", "app")
    assert state("app") == "exited" and state("dep") == "running"
    assert f"{p}-app-1" not in compose.run("ps").stdout
    assert f"{p}-app-1" in compose.run("ps", "-a").stdout
    compose.run("start", "app")
    assert state("app") == "running"
    started = compose.inspect(f"{p}-app-1")["State"]["StartedAt"]
    r = compose.run("restart", "app")
    assert "Restarting" in r.stderr or "Started" in r.stderr
    assert compose.inspect(f"{p}-app-1")["State"]["StartedAt"] != started
    compose.run("pause", "app")
    assert state("app") == "paused"
    compose.run("unpause", "app")
    assert state("app") == "running"
    top = compose.run("top", "app").stdout
    assert f"{p}-app-1" in top and "sleep 600" in top
    compose.run("kill", "dep")
    assert state("dep") == "exited"
    compose.run("rm", "-f", "dep")
    assert compose.names() == [f"{p}-app-1"]
    images = compose.run("images").stdout.splitlines()
    assert images[0].split() == ["CONTAINER", "REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]
    assert images[1].split()[:3] == [f"{p}-app-1", "busybox", "latest"]
    ls = compose.run("ls", project=False).stdout
    assert any(line.split()[:2] == [p, "running(1)"] for line in ls.splitlines()), ls
    assert compose.run("ps", "-q").stdout.strip() == compose.inspect(f"{p}-app-1")["Id"]
    assert compose.run("ps", "--services").stdout.split() == ["app", "dep"]


def test_up_in_the_foreground_streams_logs_and_stops_on_ctrl_c(compose):
    compose.write(
        "compose.yaml",
        """
        services:
          talker:
            image: busybox
            command: ["sh", "-c", "echo hello from talker; sleep 600"]
            stop_grace_period: 1s
          quitter:
            image: busybox
            command: ["sh", "-c", "echo bye; exit 4"]
        """,
    )
    p = compose.name
    proc = compose.popen("--ansi", "always", "up")
    try:
        out = OutputLines(proc.stdout)
        out.read_until(
            lambda lines: (
                "hello from talker" in "".join(lines) and "exited with code 4" in "".join(lines)
            ),
            timeout=30,
        )
        coloured = out.text
        # each service's prefix in its own colour
        talker = re.search(
            rf"\x1b\[([0-9;]+)m{p}-talker-1   \| \x1b\[0mhello from talker", coloured
        )
        quitter = re.search(rf"\x1b\[([0-9;]+)m{p}-quitter-1  \| \x1b\[0mbye", coloured)
        assert talker and quitter, repr(coloured)
        assert talker.group(1) != quitter.group(1)
        text = re.sub(r"\x1b\[[0-9;]*m", "", coloured)
        assert f"{p}-talker-1   | hello from talker" in text, text
        assert f"{p}-quitter-1  | bye" in text, text
        assert f"{p}-quitter-1 exited with code 4" in text, text
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert "Gracefully stopping..." in rest
        assert proc.returncode == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert compose.inspect(f"{p}-talker-1")["State"]["Status"] == "exited"


def _on_a_terminal(compose, *args: str, send: bytes, timeout: float = 30) -> tuple[int, bytes]:
    """Run `compose ARGS` with a pseudo-terminal as stdin/stdout/stderr, type `send`."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    argv = [sys.executable, "-m", "dockyard.cli.main", "compose", "-p", compose.name, *args]
    proc = subprocess.Popen(
        argv, cwd=compose.dir, env=compose.d.env, stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    out = b""
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            if not sent and (b"built-in shell" in out or b"# " in out):
                # ash's prompt (no newline) may arrive only with the next output, and ash
                # asks for the cursor position (ESC[6n) first: give it a moment, then type.
                time.sleep(1.5)
                os.write(master, send)
                sent = True
            if proc.poll() is not None and not ready:
                break
        try:
            return proc.wait(timeout=10), out
        except subprocess.TimeoutExpired:
            return -1, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_run_and_exec_on_a_terminal(compose):
    compose.write("compose.yaml", SLEEPER)
    p = compose.name
    code, out = _on_a_terminal(compose, "run", "--rm", "app", "sh", send=b"tty; exit 5\n")
    assert code == 5, out
    assert b"/dev/pts/" in out or b"/dev/console" in out, out
    compose.run("up", "-d", "app")
    code, out = _on_a_terminal(compose, "exec", "app", "sh", send=b"echo in-$((6*7)); exit 0\n")
    assert code == 0, out
    assert b"in-42" in out, out
    assert [n for n in compose.names() if "-run-" in n] == []
    assert compose.names() == [f"{p}-app-1"]


def test_second_ctrl_c_kills_what_a_graceful_stop_waits_for(compose):
    compose.write(
        "compose.yaml",
        """
        services:
          stubborn:
            image: busybox
            command: ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done"]
            stop_grace_period: 60s
        """,
    )
    p = compose.name
    proc = compose.popen("up")
    try:
        out = OutputLines(proc.stdout)
        out.read_until(lambda lines: "ready" in "".join(lines), timeout=30)
        assert "ready" in out.text, out.text
        proc.send_signal(signal.SIGINT)
        time.sleep(1.5)
        assert proc.poll() is None  # still waiting for the 60 s grace period
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=20)
        assert time.monotonic() - start < 10
        assert "Killed" in rest, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    compose.wait_for(
        lambda: compose.inspect(f"{p}-stubborn-1")["State"]["Status"] == "exited",
        what="the container to be killed",
    )


def test_logs_follow_picks_up_restarted_and_new_containers(compose):
    compose.write(
        "compose.yaml",
        """
        services:
          ticker:
            image: busybox
            command: ["sh", "-c", "echo start $$HOSTNAME; while true; do sleep 0.3; echo tick; done"]
            stop_signal: SIGKILL
        """,
    )
    p = compose.name
    compose.run("up", "-d")
    proc = compose.popen("logs", "-f")
    out = OutputLines(proc.stdout)
    lines = out.lines

    def read_until(predicate, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
        out.read_until(lambda _: predicate(), timeout)
        assert predicate(), [line for line in lines if "| tick" not in line] + [len(lines)]

    try:
        read_until(lambda: any("tick" in line for line in lines))
        compose.run("restart", "ticker")
        read_until(lambda: sum("| start" in line for line in lines) >= 2)
        compose.run("up", "-d", "--scale", "ticker=2")
        read_until(lambda: any(line.startswith(f"{p}-ticker-2") for line in lines))
    finally:
        proc.kill()
        proc.wait()
    starts = [line for line in lines if "| start" in line]
    assert len([s for s in starts if s.startswith(f"{p}-ticker-1")]) == 2, starts
