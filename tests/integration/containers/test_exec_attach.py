"""Exec and attach through the monitor: exit codes, output, stdin, ttys."""

from __future__ import annotations

import threading
import time

import pytest

from dockyard.errors import Conflict, InvalidParameter


def start(svc, cmd, **config):
    cid = svc.create(None, {"Image": "busybox", "Cmd": cmd, **config}, {})["Id"]
    svc.start(cid)
    return cid


def collect(stream):
    out = {"stdout": b"", "stderr": b""}
    for kind, data in stream:
        out[kind] += data
    return out


def test_exec_exit_codes_and_output(engine):
    svc = engine.containers
    cid = start(svc, ["sleep", "1000"])
    eid = svc.exec_create(
        cid,
        {
            "Cmd": ["sh", "-c", "echo hi; echo oops >&2; exit 7"],
            "AttachStdout": True,
            "AttachStderr": True,
        },
    )["Id"]
    out = collect(svc.exec_start(eid))
    assert out == {"stdout": b"hi\n", "stderr": b"oops\n"}
    info = svc.exec_inspect(eid)
    assert info["ExitCode"] == 7 and info["Running"] is False and info["ContainerID"] == cid
    assert eid in svc.inspect(cid)["ExecIDs"]
    # ps shows the container's own PID namespace: sleep is PID 1
    eid = svc.exec_create(cid, {"Cmd": ["ps"], "AttachStdout": True})["Id"]
    lines = collect(svc.exec_start(eid))["stdout"].decode().splitlines()
    assert any(line.split()[0] == "1" and "sleep 1000" in line for line in lines[1:])
    with pytest.raises(Conflict):
        svc.exec_start(eid)
    # detached exec: the exit code is still recorded
    eid = svc.exec_create(cid, {"Cmd": ["sh", "-c", "exit 4"]})["Id"]
    assert svc.exec_start(eid, detach=True) is None
    deadline = time.monotonic() + 5
    while svc.exec_inspect(eid)["ExitCode"] is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert svc.exec_inspect(eid)["ExitCode"] == 4
    eid = svc.exec_create(cid, {"Cmd": ["nosuchbinary"]})["Id"]
    with pytest.raises(InvalidParameter):
        svc.exec_start(eid)
    with pytest.raises(InvalidParameter):
        svc.exec_create(cid, {"Cmd": []})


def test_exec_stdin_and_tty(engine):
    svc = engine.containers
    cid = start(svc, ["sleep", "1000"])
    eid = svc.exec_create(cid, {"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True})["Id"]
    stream = svc.exec_start(eid)
    stream.write(b"hello through stdin\n")
    stream.close_stdin()
    assert collect(stream)["stdout"] == b"hello through stdin\n"
    assert svc.exec_inspect(eid)["ExitCode"] == 0
    eid = svc.exec_create(
        cid, {"Cmd": ["sh"], "AttachStdin": True, "AttachStdout": True, "Tty": True}
    )["Id"]
    stream = svc.exec_start(eid)
    stream.resize(40, 132)
    stream.write(b"stty size; tty; exit 3\n")
    out = collect(stream)["stdout"]
    assert b"40 132" in out and b"/dev/pts/" in out
    assert svc.exec_inspect(eid)["ExitCode"] == 3


def test_exec_in_stopped_container_refused(engine):
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["true"]}, {})["Id"]
    with pytest.raises(Conflict):
        svc.exec_create(cid, {"Cmd": ["true"]})


def test_attach_stdin_and_output(engine):
    svc = engine.containers
    cid = svc.create(
        None,
        {
            "Image": "busybox",
            "Cmd": ["sh", "-c", "read x; echo got:$x; echo bye >&2"],
            "OpenStdin": True,
            "StdinOnce": True,
            "AttachStdin": True,
        },
        {},
    )["Id"]
    svc.start(cid)
    stream = svc.attach(cid, stdin=True, stdout=True, stderr=True)
    stream.write(b"ping\n")
    out = collect(stream)
    assert out == {"stdout": b"got:ping\n", "stderr": b"bye\n"}
    assert svc.wait(cid)["StatusCode"] == 0
    waiting = svc.attach(cid)  # like Docker: an attach to a stopped container waits for a start
    assert waiting.pending
    waiting.close()
    assert waiting.read() is None
    logs_only = collect(svc.attach(cid, logs=True, stream=False))
    assert logs_only["stdout"] == b"got:ping\n"


def test_attach_tty_resize(engine):
    svc = engine.containers
    cid = svc.create(
        None,
        {"Image": "busybox", "Cmd": ["sh"], "Tty": True, "OpenStdin": True, "AttachStdin": True},
        {},
    )["Id"]
    svc.start(cid)
    stream = svc.attach(cid, stdin=True)
    svc.resize(cid, 33, 99)
    stream.write(b"stty size\n")
    buf = b""
    deadline = time.monotonic() + 5
    while b"33 99" not in buf and time.monotonic() < deadline:
        item = stream.read()
        if item is None:
            break
        buf += item[1]
    assert b"33 99" in buf
    stream.write(b"exit 9\n")
    assert svc.wait(cid)["StatusCode"] == 9
    assert b"33 99" in b"".join(d for _, d in svc.logs(cid))


def test_two_attached_clients_see_the_same_output(engine):
    svc = engine.containers
    cid = svc.create(
        None, {"Image": "busybox", "Cmd": ["sh", "-c", "sleep 0.5; echo one; echo two"]}, {}
    )["Id"]
    svc.start(cid)
    streams = [svc.attach(cid), svc.attach(cid)]
    results = [None, None]

    def reader(i):
        results[i] = collect(streams[i])["stdout"]

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [b"one\ntwo\n", b"one\ntwo\n"]


def test_attach_before_start_sees_all_output(engine):
    """docker run: the client attaches, waits for next-exit, then starts."""
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["echo", "hello"]}, {})["Id"]
    stream = svc.attach(cid, stdout=True, stderr=True)
    result = {}
    waiter = threading.Thread(target=lambda: result.update(svc.wait(cid, "next-exit")))
    waiter.start()
    svc.start(cid)
    assert collect(stream)["stdout"] == b"hello\n"
    waiter.join(10)
    assert result["StatusCode"] == 0
    svc.remove(cid)
    actions = engine.actions(cid)
    assert actions == ["create", "attach", "start", "die", "destroy"]


def test_attach_before_start_interactive(engine):
    """docker run -i: stdin attached before the start reaches the process."""
    svc = engine.containers
    cid = svc.create(
        None,
        {
            "Image": "busybox",
            "Cmd": ["sh", "-c", "cat; echo done"],
            "OpenStdin": True,
            "StdinOnce": True,
            "AttachStdin": True,
        },
        {},
    )["Id"]
    stream = svc.attach(cid, stdin=True, stdout=True, stderr=True)
    svc.start(cid)
    stream.write(b"typed\n")
    stream.close_stdin()
    assert collect(stream)["stdout"] == b"typed\ndone\n"
    assert svc.wait(cid)["StatusCode"] == 0


def test_stop_events_order(engine):
    svc = engine.containers
    cid = start(svc, ["sleep", "1000"])
    svc.stop(cid, timeout=0)
    assert engine.actions(cid)[-3:] == ["kill", "die", "stop"]


def test_exec_user_workdir_env(engine):
    svc = engine.containers
    cid = start(svc, ["sleep", "1000"], Env=["FROM_CONTAINER=1"])
    eid = svc.exec_create(
        cid,
        {
            "Cmd": ["sh", "-c", "id -u; pwd; echo $FROM_CONTAINER $EXTRA"],
            "User": "nobody",
            "WorkingDir": "/tmp",
            "Env": ["EXTRA=2"],
            "AttachStdout": True,
        },
    )["Id"]
    assert collect(svc.exec_start(eid))["stdout"] == b"65534\n/tmp\n1 2\n"
    info = svc.exec_inspect(eid)
    assert info["ProcessConfig"]["user"] == "nobody" and info["ExitCode"] == 0


def _sleeper_exec(svc, cid, seconds="0.5"):
    return svc.exec_create(cid, {"Cmd": ["sleep", seconds], "AttachStdout": True})["Id"]


def test_exec_start_state_checks_are_atomic_with_the_start(engine):
    """Concurrent starts of one exec, attached or detached: exactly one runs, the others get
    dockerd's Conflicts; a start that never ran (container stopped) can be retried."""
    svc = engine.containers
    cid = start(svc, ["sleep", "1000"])
    for detach in (False, True):
        eid = _sleeper_exec(svc, cid)
        results: list[object] = []
        barrier = threading.Barrier(4)

        def go(eid=eid, detach=detach, barrier=barrier, results=results):
            barrier.wait()
            try:
                results.append(svc.exec_start(eid, detach))
            except Conflict as exc:
                results.append(exc)

        threads = [threading.Thread(target=go) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        conflicts = [r for r in results if isinstance(r, Conflict)]
        started = [r for r in results if not isinstance(r, Conflict)]
        assert len(started) == 1 and len(conflicts) == 3, results
        assert all("is already running" in str(c) for c in conflicts), conflicts
        if not detach:
            collect(started[0])
        deadline = time.monotonic() + 10
        while svc.exec_inspect(eid)["Running"] and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(Conflict, match="has already run"):
            svc.exec_start(eid, detach)


def test_exec_claim_then_start_and_release(engine):
    svc = engine.containers
    cid = start(svc, ["sleep", "1000"])
    eid = _sleeper_exec(svc, cid, "0")
    assert svc.exec_claim(eid)["ID"] == eid
    with pytest.raises(Conflict, match="is already running"):
        svc.exec_claim(eid)
    with pytest.raises(Conflict, match="is already running"):
        svc.exec_start(eid, True)  # the detached branch honours the claim too
    svc.exec_release(eid)  # the client went away before the start
    svc.exec_claim(eid)
    collect(svc.exec_start(eid, False, None, None, True))
    assert svc.exec_inspect(eid)["ExitCode"] == 0
    # a start refused because the container stopped leaves the exec startable
    eid2 = _sleeper_exec(svc, cid, "0")
    svc.kill(cid, "SIGKILL")
    svc.wait(cid, timeout=10)
    with pytest.raises(Conflict, match="is not running"):
        svc.exec_start(eid2, True)
    svc.start(cid)
    assert svc.exec_start(eid2, True) is None
