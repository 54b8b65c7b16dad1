"""The daemon's elastic worker pool: bounded, and its threads end when the work does."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from dockyard.daemon.workers import ElasticExecutor


def _wait_for(cond, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_results_exceptions_and_reuse_of_idle_threads():
    pool = ElasticExecutor(max_workers=4, idle_timeout=5)
    try:
        assert pool.submit(lambda x: x * 2, 21).result(5) == 42
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result(5)
        for _ in range(20):  # one at a time: the idle thread takes each
            pool.submit(time.sleep, 0).result(5)
        assert pool.thread_count == 1
    finally:
        pool.shutdown()


def test_never_more_threads_than_the_bound_and_all_work_done():
    pool = ElasticExecutor(max_workers=3, idle_timeout=5)
    running = 0
    most = 0
    lock = threading.Lock()

    def job(i: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return i

    try:
        futures = [pool.submit(job, i) for i in range(30)]
        assert [f.result(10) for f in futures] == list(range(30))
        assert most <= 3 and pool.thread_count <= 3
    finally:
        pool.shutdown()


def test_idle_threads_end():
    pool = ElasticExecutor(max_workers=8, idle_timeout=0.2)
    try:
        gate = threading.Event()
        futures = [pool.submit(gate.wait, 5) for _ in range(8)]
        assert _wait_for(lambda: pool.thread_count == 8)
        gate.set()
        for f in futures:
            f.result(5)
        assert _wait_for(lambda: pool.thread_count == 0)
        assert pool.submit(lambda: "again").result(5) == "again"  # a new thread starts
    finally:
        pool.shutdown()


def test_shutdown_runs_queued_work_then_refuses():
    pool = ElasticExecutor(max_workers=1, idle_timeout=5)
    done = []
    for i in range(5):
        pool.submit(done.append, i)
    pool.shutdown(wait=True)
    assert done == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError):
        pool.submit(done.append, 5)


def test_asyncio_takes_it_as_its_default_executor():
    async def main() -> str:
        asyncio.get_running_loop().set_default_executor(ElasticExecutor(max_workers=2))
        return await asyncio.to_thread(lambda: "ok")

    assert asyncio.run(main()) == "ok"
