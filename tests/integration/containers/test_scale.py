"""Many containers: 200 create/start/rm cycles leave nothing behind, 20 parallel runs all
succeed, and a monitor's unshared memory stays small."""

from __future__ import annotations

import os
import threading
import time


def engine_processes(engine) -> list[int]:
    """Processes forked for this engine (monitors and the zygote carry its run dir)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if engine.run_dir.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def assert_clean(engine):
    svc = engine.containers
    assert svc.ids() == []
    assert os.listdir(os.path.join(engine.root, "containers")) == []
    assert os.listdir(os.path.join(engine.run_dir, "c")) == []
    rt = os.path.join(engine.run_dir, "rt")
    assert not os.path.isdir(rt) or os.listdir(rt) == []
    snapshots = [s.name for s in engine.snapshots.walk()]
    assert all(name.startswith("sha256:") for name in snapshots), snapshots
    zygote = svc.launcher._proc.pid if svc.launcher._proc else None
    assert [p for p in engine_processes(engine) if p != zygote] == []
    with open("/proc/self/mountinfo") as f:
        assert [line for line in f if engine.root in line] == []


def test_200_create_start_rm_cycles(engine):
    svc = engine.containers
    t0 = time.monotonic()
    for _ in range(200):
        cid = svc.create(None, {"Image": "busybox", "Cmd": ["true"]}, {})["Id"]
        svc.start(cid)
        assert svc.wait(cid)["StatusCode"] == 0
        svc.remove(cid, force=True)
    elapsed = time.monotonic() - t0
    assert_clean(engine)
    print(f"200 cycles in {elapsed:.1f}s ({elapsed / 200 * 1000:.0f} ms each)")


def test_20_parallel_runs(engine):
    svc = engine.containers
    results, errors = [], []

    def run_rm(i):
        try:
            cid = svc.create(
                None, {"Image": "busybox", "Cmd": ["sh", "-c", f"echo {i}"]}, {"AutoRemove": False}
            )["Id"]
            svc.start(cid)
            code = svc.wait(cid)["StatusCode"]
            out = b"".join(d for _, d in svc.logs(cid))
            svc.remove(cid, force=True)
            results.append((i, code, out))
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=run_rm, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(results) == [(i, 0, f"{i}\n".encode()) for i in range(20)]
    assert_clean(engine)


def private_kb(pid: int) -> int:
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def test_monitor_unshared_memory_is_small(engine):
    svc = engine.containers
    cid = svc.create(
        None,
        {"Image": "busybox", "Cmd": ["sh", "-c", "while true; do echo x; sleep 0.01; done"]},
        {},
    )["Id"]
    svc.start(cid)
    time.sleep(1)  # the monitor has pumped some output by now
    stream = svc.attach(cid)
    stream.read()
    stream.close()
    monitor = svc.store.read_state(cid)["MonitorPid"]
    kb = private_kb(monitor)
    print(f"monitor private memory: {kb} kB")
    assert kb < 5 * 1024
    svc.remove(cid, force=True)


def test_20_parallel_docker_run_rm_flow(engine):
    """What `docker run --rm` does, 20 times at once: create with AutoRemove, attach, wait
    for removal, start, read the output."""
    svc = engine.containers
    results, errors = {}, []

    def run(i):
        try:
            cid = svc.create(
                None, {"Image": "busybox", "Cmd": ["sh", "-c", f"echo {i}"]}, {"AutoRemove": True}
            )["Id"]
            stream = svc.attach(cid, stdout=True, stderr=True)
            waited = {}
            waiter = threading.Thread(target=lambda: waited.update(svc.wait(cid, "removed")))
            waiter.start()
            svc.start(cid)
            out = b"".join(d for _, d in stream)
            waiter.join(30)
            results[i] = (out, waited.get("StatusCode"))
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert results == {i: (f"{i}\n".encode(), 0) for i in range(20)}
    assert wait_for_clean(engine)


def wait_for_clean(engine, timeout=10):
    deadline = time.monotonic() + timeout
    while engine.containers.ids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_clean(engine)
    return True
