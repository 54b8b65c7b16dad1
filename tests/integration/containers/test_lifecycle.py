"""Container lifecycle through ContainerService with real processes: create, start, stop,
kill, wait, remove, exit codes, logs, inspect and list."""

from __future__ import annotations

import os
import time

import pytest

from dockyard.errors import Conflict, InvalidParameter, NotFound, NotModified


def run(svc, cmd, name=None, host_config=None, **config):
    cid = svc.create(name, {"Image": "busybox", "Cmd": cmd, **config}, host_config or {})["Id"]
    svc.start(cid)
    return cid


def test_run_to_exit_code_and_logs(engine):
    svc = engine.containers
    cid = run(svc, ["sh", "-c", "echo out; echo err >&2; exit 3"], name="job")
    assert svc.wait(cid)["StatusCode"] == 3
    state = svc.inspect("job")["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 3 and not state["Running"]
    logs = list(svc.logs(cid))
    assert ("stdout", b"out\n") in logs and ("stderr", b"err\n") in logs
    assert list(svc.logs(cid, stderr=False)) == [("stdout", b"out\n")]
    assert engine.actions(cid)[:3] == ["create", "start", "die"]


def test_long_running_stop_and_inspect(engine):
    svc = engine.containers
    cid = run(svc, ["sleep", "1000"], name="web")
    info = svc.inspect(cid)
    assert info["State"]["Status"] == "running" and info["State"]["Pid"] > 0
    assert info["Name"] == "/web" and info["Path"] == "sleep" and info["Args"] == ["1000"]
    assert info["Config"]["Env"][0].startswith("PATH=")
    with open(f"/proc/{info['State']['Pid']}/cmdline", "rb") as f:
        assert f.read() == b"sleep\x001000\x00"
    listed = svc.list()
    assert [c["Names"] for c in listed] == [["/web"]]
    assert listed[0]["Status"].startswith("Up ")
    assert listed[0]["Command"] == "sleep 1000"
    with pytest.raises(NotModified):
        svc.start(cid)
    with pytest.raises(Conflict):
        svc.remove(cid)
    t0 = time.monotonic()
    svc.stop(cid, timeout=1)  # sleep as PID 1 ignores SIGTERM: SIGKILL after 1 s
    assert time.monotonic() - t0 < 5
    state = svc.inspect(cid)["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 137
    assert svc.list() == []
    assert svc.list(all=True)[0]["Status"].startswith("Exited (137)")
    with pytest.raises(NotModified):
        svc.stop(cid)
    svc.start(cid)  # a second life, same container
    assert svc.inspect(cid)["State"]["Status"] == "running"
    svc.kill(cid)
    assert svc.wait(cid)["StatusCode"] == 137
    svc.remove(cid)
    with pytest.raises(NotFound, match="No such container: web"):
        svc.inspect("web")


def test_stop_with_trapping_process_is_fast(engine):
    svc = engine.containers
    cid = run(svc, ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"])
    time.sleep(0.3)
    t0 = time.monotonic()
    svc.stop(cid, timeout=10)
    assert time.monotonic() - t0 < 3
    assert svc.inspect(cid)["State"]["ExitCode"] == 0


def test_names_and_lookup(engine):
    svc = engine.containers
    cid = svc.create("web", {"Image": "busybox", "Cmd": ["true"]}, {})["Id"]
    with pytest.raises(Conflict) as e:
        svc.create("web", {"Image": "busybox", "Cmd": ["true"]}, {})
    assert str(e.value) == (
        f'Conflict. The container name "/web" is already in use by container "{cid}". You '
        "have to remove (or rename) that container to be able to reuse that name."
    )
    with pytest.raises(InvalidParameter):
        svc.create("bad name!", {"Image": "busybox"}, {})
    assert svc.resolve(cid[:5]) == cid
    assert svc.resolve("/web") == cid
    other = svc.create(None, {"Image": "busybox", "Cmd": ["true"]}, {})["Id"]
    assert "_" in svc.inspect(other)["Name"]
    with pytest.raises(NotFound, match="No such container: web9"):
        svc.resolve("web9")
    svc.rename("web", "web2")
    assert svc.inspect(cid)["Name"] == "/web2"
    assert svc.list(all=True, filters={"name": ["web2"]})[0]["Id"] == cid


def test_unsupported_options_refused(engine):
    svc = engine.containers
    with pytest.raises(InvalidParameter, match="Devices"):
        svc.create(
            None,
            {"Image": "busybox"},
            {"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/x"}]},
        )
    with pytest.raises(NotFound):
        svc.create(None, {"Image": "nosuchimage"}, {})
    assert svc.ids() == []


def test_wait_conditions_and_missing_binary(engine):
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["nosuchcmd"]}, {})["Id"]
    with pytest.raises(InvalidParameter):
        svc.start(cid)
    state = svc.inspect(cid)["State"]
    assert state["ExitCode"] == 127 and state["Error"]
    cid2 = svc.create(None, {"Image": "busybox", "Cmd": ["sh", "-c", "exit 5"]}, {})["Id"]
    import threading

    result = {}
    t = threading.Thread(target=lambda: result.update(svc.wait(cid2, "next-exit")))
    t.start()
    time.sleep(0.1)
    svc.start(cid2)
    t.join(10)
    assert result["StatusCode"] == 5


def test_logs_follow_and_tail(engine):
    svc = engine.containers
    cid = run(svc, ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done"])
    got = list(svc.logs(cid, follow=True))
    assert [d for _, d in got] == [f"line{i}\n".encode() for i in range(1, 6)]
    assert [d for _, d in svc.logs(cid, tail=2)] == [b"line4\n", b"line5\n"]
    stamped = list(svc.logs(cid, timestamps=True, tail=1))[0][1]
    assert stamped.endswith(b"Z line5\n")


def test_log_rotation(engine):
    svc = engine.containers
    cid = run(
        svc,
        ["sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done"],
        host_config={
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "2k", "max-file": "3"}}
        },
    )
    svc.wait(cid)
    path = svc.inspect(cid)["LogPath"]
    assert os.path.exists(path + ".1") and os.path.exists(path + ".2")
    assert not os.path.exists(path + ".3")
    assert all(os.path.getsize(p) <= 2048 for p in (path, path + ".1", path + ".2"))
    lines = [d for _, d in svc.logs(cid)]
    assert lines[-1] == b"line-299\n"
    nums = [int(x[5:]) for x in lines]
    assert nums == list(range(nums[0], 300))
