"""restart, prune, update of the restart policy, list filters, rename conflicts, export of a
never-started container, and the runc backend driven by the same monitor."""

from __future__ import annotations

import os
import time

import pytest

from dockyard.errors import Conflict, InvalidParameter, NotModified


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_restart_gives_a_new_process(engine):
    svc = engine.containers
    cid = svc.create("r1", {"Image": "busybox", "Cmd": ["sleep", "1000"]}, {})["Id"]
    svc.start(cid)
    pid = svc.inspect(cid)["State"]["Pid"]
    svc.restart(cid, timeout=0)
    state = svc.inspect(cid)["State"]
    assert state["Status"] == "running" and state["Pid"] != pid
    assert engine.actions(cid)[-3:] == ["die", "start", "restart"] or "restart" in engine.actions(
        cid
    )
    svc.kill(cid, "SIGKILL")
    with pytest.raises(Conflict):
        svc.kill(cid)


def test_prune_and_filters(engine):
    svc = engine.containers
    keep = svc.create(
        "keep", {"Image": "busybox", "Cmd": ["sleep", "1000"], "Labels": {"tier": "web"}}, {}
    )["Id"]
    svc.start(keep)
    done = svc.create(
        "done", {"Image": "busybox", "Cmd": ["sh", "-c", "exit 4"], "Labels": {"tier": "job"}}, {}
    )["Id"]
    svc.start(done)
    svc.wait(done)
    fresh = svc.create("fresh", {"Image": "busybox", "Cmd": ["true"]}, {})["Id"]
    all_ids = lambda **f: [c["Id"] for c in svc.list(all=True, filters=f)]  # noqa: E731
    assert all_ids(status=["exited"]) == [done]
    assert all_ids(exited=["4"]) == [done]
    assert all_ids(label=["tier=web"]) == [keep]
    assert sorted(all_ids(label=["tier"])) == sorted([keep, done])
    assert all_ids(ancestor=["busybox"]) == [fresh, done, keep]
    assert all_ids(since=["keep"]) == [fresh, done]
    assert all_ids(before=["done"]) == [keep]
    assert all_ids(id=[fresh[:6]]) == [fresh]
    assert [c["Id"] for c in svc.list(all=True, limit=1)] == [fresh]
    with pytest.raises(InvalidParameter):
        svc.list(filters={"colour": ["red"]})
    report = svc.prune({"label": ["tier=job"]})
    assert report["ContainersDeleted"] == [done]
    report = svc.prune()
    assert report["ContainersDeleted"] == [fresh]
    assert svc.ids() == [keep]


def test_update_restart_policy_of_running_container(engine):
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["sleep", "1000"]}, {})["Id"]
    svc.start(cid)
    svc.update(cid, {"RestartPolicy": {"Name": "always"}})
    pid = svc.inspect(cid)["State"]["Pid"]
    import os
    import signal

    os.kill(pid, signal.SIGKILL)  # dies "by itself": the new policy restarts it
    assert wait_for(  # one inspect per look: two could straddle the restart
        lambda: (s := svc.inspect(cid)["State"])["Status"] == "running" and s["Pid"] != pid
    )
    assert svc.inspect(cid)["RestartCount"] == 1
    assert svc.inspect(cid)["HostConfig"]["RestartPolicy"]["Name"] == "always"


def test_rename_conflict_and_not_modified(engine):
    svc = engine.containers
    a = svc.create("aa", {"Image": "busybox", "Cmd": ["true"]}, {})["Id"]
    svc.create("bb", {"Image": "busybox", "Cmd": ["true"]}, {})
    with pytest.raises(Conflict):
        svc.rename(a, "bb")
    with pytest.raises(NotModified):
        svc.stop(a)


def test_runc_backend(runc_engine):
    """The monitor drives runc through the same interface (Docker's default runtime)."""
    svc = runc_engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["sh", "-c", "echo via runc; exit 6"]}, {})[
        "Id"
    ]
    svc.start(cid)
    assert svc.wait(cid)["StatusCode"] == 6
    assert [d for _, d in svc.logs(cid)] == [b"via runc\n"]
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["sleep", "1000"]}, {})["Id"]
    svc.start(cid)
    eid = svc.exec_create(cid, {"Cmd": ["sh", "-c", "exit 9"]})["Id"]
    list(svc.exec_start(eid))
    assert svc.exec_inspect(eid)["ExitCode"] == 9
    svc.stop(cid, timeout=0)
    assert svc.inspect(cid)["State"]["ExitCode"] == 137


def test_stats_stream_and_exec_resize(engine):
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["sleep", "1000"]}, {})["Id"]
    svc.start(cid)
    stream = svc.stats(cid, stream=True, interval=0.2)
    first, second = next(stream), next(stream)
    stream.close()
    assert second["precpu_stats"] == first["cpu_stats"]
    assert second["preread"] == first["read"]
    eid = svc.exec_create(
        cid, {"Cmd": ["sh", "-c", "sleep 0.3; stty size"], "Tty": True, "AttachStdout": True}
    )["Id"]
    out = svc.exec_start(eid)
    svc.exec_resize(eid, 21, 77)
    assert b"21 77" in b"".join(d for _, d in out)
    with pytest.raises(Conflict):
        svc.exec_resize(eid, 1, 1)  # it has exited
    svc.stop(cid, timeout=0)
    assert next(svc.stats(cid, stream=False))["read"] == "0001-01-01T00:00:00Z"


def test_prune_until(engine):
    svc = engine.containers
    old = svc.create(None, {"Image": "busybox", "Cmd": ["true"]}, {})["Id"]
    time.sleep(0.05)
    cut = f"{time.time():.9f}"
    time.sleep(0.05)
    new = svc.create(None, {"Image": "busybox", "Cmd": ["true"]}, {})["Id"]
    assert svc.prune({"until": [cut]})["ContainersDeleted"] == [old]
    assert svc.ids() == [new]


def _memory_limits(svc, cid: str) -> tuple[int, int]:
    mem = svc.cgroup_dir(cid, "memory")
    with open(f"{mem}/memory.limit_in_bytes") as f, open(f"{mem}/memory.memsw.limit_in_bytes") as g:
        return int(f.read()), int(g.read())


@pytest.mark.skipif(
    not os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
    reason="no swap accounting in the memory cgroup",
)
def test_update_memory_and_swap_grow_then_shrink(engine):
    """cgroup v1 wants memsw >= memory at every write: growing sets memsw first, shrinking
    memory first (`docker update --memory 64m --memory-swap 128m` failed with EINVAL)."""
    svc = engine.containers
    mib = 1024 * 1024
    cid = svc.create(
        None,
        {"Image": "busybox", "Cmd": ["sleep", "1000"]},
        {"Memory": 32 * mib, "MemorySwap": 48 * mib},
    )["Id"]
    svc.start(cid)
    assert _memory_limits(svc, cid) == (32 * mib, 48 * mib)
    svc.update(cid, {"Memory": 64 * mib, "MemorySwap": 128 * mib})
    assert _memory_limits(svc, cid) == (64 * mib, 128 * mib)
    svc.update(cid, {"Memory": 16 * mib, "MemorySwap": 24 * mib})
    assert _memory_limits(svc, cid) == (16 * mib, 24 * mib)
    hc = svc.inspect(cid)["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"]) == (16 * mib, 24 * mib)
    free = svc.create(None, {"Image": "busybox", "Cmd": ["sleep", "1000"]}, {})["Id"]
    svc.start(free)  # no limits yet: memory first, then memsw
    svc.update(free, {"Memory": 64 * mib, "MemorySwap": 128 * mib})
    assert _memory_limits(svc, free) == (64 * mib, 128 * mib)


def test_auto_remove_container_whose_start_fails_is_removed(engine):
    """As dockerd: `docker run --rm` of a command that cannot start waits for the removal."""
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["/no/such/cmd"]}, {"AutoRemove": True})[
        "Id"
    ]
    with pytest.raises(InvalidParameter):
        svc.start(cid)
    assert cid not in svc.ids()
    kept = svc.create(None, {"Image": "busybox", "Cmd": ["/no/such/cmd"]}, {})["Id"]
    with pytest.raises(InvalidParameter):
        svc.start(kept)
    assert svc.inspect(kept)["State"]["Status"] == "created"
