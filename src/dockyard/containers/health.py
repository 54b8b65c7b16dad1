"""Health checks: run the HEALTHCHECK test in the container at its interval (through exec),
keep the last five results and derive starting/healthy/unhealthy like Docker."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from dockyard.containers.jsonlog import format_time

if TYPE_CHECKING:
    from dockyard.containers.service import ContainerService

NS = 1_000_000_000
DEFAULT_INTERVAL = 30 * NS
DEFAULT_TIMEOUT = 30 * NS
DEFAULT_RETRIES = 3
MAX_LOG = 5
MAX_OUTPUT = 4096


def check_command(healthcheck: dict[str, Any] | None) -> list[str] | None:
    """The argv to run for a Healthcheck config, or None when there is no check."""
    if not healthcheck:
        return None
    test = healthcheck.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return list(test[1:])
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", test[1]]
    return None


class HealthMonitor:
    """One thread per running container with a health check."""

    def __init__(self, service: ContainerService) -> None:
        self._svc = service
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Event] = {}

    def start(self, cid: str, healthcheck: dict[str, Any], reset: bool = True) -> None:
        """Run the checks of a started container (`reset`: from "starting"; a daemon
        restart keeps the status it finds)."""
        cmd = check_command(healthcheck)
        if cmd is None:
            return
        stop = threading.Event()
        with self._lock:
            old = self._threads.pop(cid, None)
            if old:
                old.set()
            self._threads[cid] = stop
        if reset or self._svc.store.read_health(cid) is None:
            self._svc.store.write_health(cid, {"Status": "starting", "FailingStreak": 0, "Log": []})
        threading.Thread(
            target=self._run,
            args=(cid, cmd, healthcheck, stop),
            name=f"health-{cid[:12]}",
            daemon=True,
        ).start()

    def stop(self, cid: str) -> None:
        with self._lock:
            ev = self._threads.pop(cid, None)
        if ev:
            ev.set()

    def close(self) -> None:
        with self._lock:
            for ev in self._threads.values():
                ev.set()
            self._threads.clear()

    def _run(self, cid: str, cmd: list[str], hc: dict[str, Any], stop: threading.Event) -> None:
        interval = (hc.get("Interval") or DEFAULT_INTERVAL) / NS
        timeout = (hc.get("Timeout") or DEFAULT_TIMEOUT) / NS
        retries = hc.get("Retries") or DEFAULT_RETRIES
        start_period = (hc.get("StartPeriod") or 0) / NS
        start_interval = (hc.get("StartInterval") or 0) / NS or interval
        began = time.monotonic()
        while True:
            in_start = time.monotonic() - began < start_period
            if stop.wait(start_interval if in_start else interval):
                return
            if self._svc.state(cid)["Status"] != "running":
                continue
            t0 = time.time_ns()
            try:
                code, out = self._svc.execs.run(cid, cmd, timeout)
            except Exception as e:  # noqa: BLE001 (a failing probe is a result)
                code, out = -1, str(e).encode()
            if code == -1 and not out:
                out = f"Health check exceeded timeout ({timeout:g}s)".encode()
            if stop.is_set():
                return
            self._record(
                cid, code, out, t0, retries, in_start=time.monotonic() - began < start_period
            )

    def _record(
        self, cid: str, code: int, out: bytes, t0: int, retries: int, in_start: bool
    ) -> None:
        health = self._svc.store.read_health(cid) or {
            "Status": "starting",
            "FailingStreak": 0,
            "Log": [],
        }
        entry = {
            "Start": format_time(t0, fixed=True),
            "End": format_time(time.time_ns(), fixed=True),
            "ExitCode": code,
            "Output": out[:MAX_OUTPUT].decode("utf-8", "replace"),
        }
        health["Log"] = (health.get("Log") or [])[-(MAX_LOG - 1) :] + [entry]
        old = health["Status"]
        if code == 0:
            health["Status"] = "healthy"
            health["FailingStreak"] = 0
        elif not (in_start and old == "starting"):
            health["FailingStreak"] = health.get("FailingStreak", 0) + 1
            if health["FailingStreak"] >= retries:
                health["Status"] = "unhealthy"
        self._svc.store.write_health(cid, health)
        if health["Status"] != old:
            self._svc._event(f"health_status: {health['Status']}", cid)
