"""The daemon's worker threads: a bounded pool that gives its threads back when the load ends.

The API's handlers run the services' blocking calls in threads (`asyncio.to_thread`). The
standard ThreadPoolExecutor keeps every thread it ever started, so after a burst of 50
clients the daemon keeps 50 idle threads and the memory they touched. This pool starts a
thread only when no idle one is waiting (at most `max_workers`), lets a thread end after
`idle_timeout` seconds without work, and when the last thread of a burst ends gives the
freed heap back to the system (glibc's malloc_trim), so the daemon returns near its idle size.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

_STOP = object()


def _trim_heap() -> None:
    """Return free heap pages to the system (glibc only; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


class ElasticExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor (asyncio takes no other kind as its default executor) whose
    submit and shutdown are its own: the base class only holds its unused attributes."""

    def __init__(
        self, max_workers: int = 256, idle_timeout: float = 5.0, name: str = "dockyard"
    ) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=name)
        self._max = max_workers
        self._idle_timeout = idle_timeout
        self._name = name
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # one permit per idle thread: a submit that takes one needs no new thread
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._count = 0  # threads started, for their names
        self._shutdown = False

    @property
    def thread_count(self) -> int:
        with self._lock:
            return len(self._threads)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._work.put((future, fn, args, kwargs))
            if self._idle.acquire(blocking=False):
                return future  # an idle thread takes it
            if len(self._threads) < self._max:
                self._count += 1
                t = threading.Thread(
                    target=self._worker, name=f"{self._name}_{self._count}", daemon=True
                )
                self._threads.add(t)
                t.start()
        return future

    def _worker(self) -> None:
        me = threading.current_thread()
        while True:
            try:
                item = self._work.get(timeout=self._idle_timeout)
            except queue.Empty:
                # idle for long enough: leave, unless a submit has just counted on this
                # thread (it took the idle permit, so the work is in the queue for us)
                if not self._idle.acquire(blocking=False):
                    continue
                with self._lock:
                    self._threads.discard(me)
                    last = not self._threads
                if last:
                    _trim_heap()
                return
            if item is _STOP:
                with self._lock:
                    self._threads.discard(me)
                return
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 (handed to the waiter)
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del item, future, fn, args, kwargs
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._work.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    item[0].cancel()
        for _ in threads:
            self._work.put(_STOP)
        if wait:
            for t in threads:
                t.join()
