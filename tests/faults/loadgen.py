"""A bounded load of concurrent Docker API clients, for tests/faults/test_load.py and bench/load.

Each client is a thread with its own docker SDK client (so its own connections) that runs a
fixed cycle of operations until the deadline: `run --rm` (create with AutoRemove, start,
wait), `ps -a`, `inspect` and `logs` of a long-running container, `exec` of a command whose
output is checked, `volume create` + `rm`, and `network create` + `rm`. Every request has a
timeout; every outcome is counted: successes with their latency, HTTP errors by status code,
exec calls whose output was not what the command printed, and anything else that went wrong.
Nothing here talks to anything but the daemon's UNIX socket.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import docker
from docker.errors import APIError, NotFound

OPERATIONS = ("run_rm", "ps", "inspect", "logs", "exec", "volume", "network")
LABEL = "dockyard.loadgen"


@dataclass
class Result:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)  # (operation, status code)
    lost_exec_output: int = 0
    errors: list[str] = field(default_factory=list)  # anything that was not an HTTP answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def server_errors(self) -> int:
        return sum(n for (_, code), n in self.statuses.items() if code >= 500)

    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + sum(self.statuses.values())

    def percentiles(self, op: str) -> tuple[float, float]:
        """p50 and p95 in milliseconds."""
        values = sorted(self.latencies.get(op) or [0.0])
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        return statistics.median(values) * 1000, p95 * 1000


class _Client:
    def __init__(self, base_url: str, index: int, target: str, result: Result) -> None:
        self.api = docker.APIClient(base_url=base_url, version="1.41", timeout=120)
        self.index = index
        self.target = target
        self.result = result
        self.image = "busybox"

    def run_rm(self) -> None:
        c = self.api.create_container(
            self.image,
            ["true"],
            labels={LABEL: "1"},
            host_config=self.api.create_host_config(auto_remove=True, network_mode="none"),
        )
        self.api.start(c["Id"])
        try:
            # docker-py's wait has no timeout unless given one
            code = self.api.wait(c["Id"], timeout=120, condition="removed")["StatusCode"]
        except NotFound:
            return  # removed before the wait reached the daemon (`true` is quick)
        if code != 0:
            raise RuntimeError(f"run --rm exited {code}")

    def ps(self) -> None:
        self.api.containers(all=True)

    def inspect(self) -> None:
        self.api.inspect_container(self.target)

    def logs(self) -> None:
        self.api.logs(self.target, tail=100)

    def exec(self) -> None:
        token = uuid.uuid4().hex
        e = self.api.exec_create(self.target, ["echo", token])
        out = self.api.exec_start(e["Id"])
        if out.strip() != token.encode():
            with self.result.lock:
                self.result.lost_exec_output += 1
                self.result.errors.append(f"exec printed {out!r}, not {token}")

    def volume(self) -> None:
        name = f"load-{uuid.uuid4().hex[:12]}"
        self.api.create_volume(name, labels={LABEL: "1"})
        self.api.remove_volume(name)

    def network(self) -> None:
        name = f"load-{uuid.uuid4().hex[:12]}"
        net = self.api.create_network(name, labels={LABEL: "1"})
        self.api.remove_network(net["Id"])

    def loop(self, deadline: float, ops: tuple[str, ...]) -> None:
        for op in itertools.islice(itertools.cycle(ops), self.index % len(ops), None):
            if time.monotonic() >= deadline:
                return
            start = time.perf_counter()
            try:
                getattr(self, op)()
            except APIError as e:
                code = e.response.status_code if e.response is not None else 0
                with self.result.lock:
                    self.result.statuses[(op, code)] += 1
                    if code >= 500:
                        self.result.errors.append(f"{op}: {code} {e.explanation}")
                continue
            except Exception as e:  # noqa: BLE001 (counted and reported: timeouts, resets)
                with self.result.lock:
                    self.result.statuses[(op, 0)] += 1
                    self.result.errors.append(f"{op}: {type(e).__name__}: {e}")
                continue
            with self.result.lock:
                self.result.latencies[op].append(time.perf_counter() - start)


def run_load(
    base_url: str,
    target: str,
    clients: int = 50,
    seconds: float = 20.0,
    ops: tuple[str, ...] = OPERATIONS,
) -> Result:
    """`clients` threads for `seconds` against the daemon at `base_url`; `target` is a running
    container for inspect, logs and exec."""
    result = Result()
    deadline = time.monotonic() + seconds
    workers = [_Client(base_url, i, target, result) for i in range(clients)]
    threads = [threading.Thread(target=w.loop, args=(deadline, ops), daemon=True) for w in workers]
    for t in threads:
        t.start()
    give_up = deadline + 180  # a request's own timeout (120 s) bounds it past the deadline
    for t in threads:
        t.join(max(0.0, give_up - time.monotonic()))
    if any(t.is_alive() for t in threads):
        result.errors.append("a client was still waiting for an answer after its timeout")
    for w in workers:
        w.api.close()
    return result


def leftovers(base_url: str) -> dict[str, list[str]]:
    """What the load made and did not remove (it labels everything it makes)."""
    api = docker.APIClient(base_url=base_url, version="1.41", timeout=60)
    try:
        selector = {"label": [LABEL]}
        return {
            "containers": [c["Id"] for c in api.containers(all=True, filters=selector)],
            "volumes": [v["Name"] for v in api.volumes(filters=selector)["Volumes"] or []],
            "networks": [n["Name"] for n in api.networks(filters=selector)],
        }
    finally:
        api.close()
