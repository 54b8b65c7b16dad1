"""50 concurrent clients for a bounded time: no 5xx, no lost exec output, nothing left behind,
and the daemon's threads and memory back near idle afterwards. (Timings go to bench/load.)

"Idle" is measured after a short warm-up burst: the first requests import the modules they
need and grow the allocator's pools once; what must not happen is growth that stays after
the load, as the 50 worker threads (and their memory) used to.
"""

from __future__ import annotations

import os
import time

import pytest

from daemon_fixture import running_daemon
from faults.loadgen import leftovers, run_load

CLIENTS = int(os.environ.get("DOCKYARD_LOAD_CLIENTS", "50"))
SECONDS = float(os.environ.get("DOCKYARD_LOAD_SECONDS", "20"))


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def settle(pid: int, at_most: int, seconds: float = 15) -> int:
    """Wait for the daemon's worker threads to end (they do after 5 s idle)."""
    deadline = time.monotonic() + seconds
    while threads(pid) > at_most and time.monotonic() < deadline:
        time.sleep(0.2)
    return threads(pid)


@pytest.fixture
def d(busybox_rootfs):
    pools = [{"base": f"10.{200 + os.getpid() % 40}.0.0/16", "size": 24}]
    with running_daemon(config={"default-address-pools": pools}) as d:
        d.import_busybox(busybox_rootfs)
        r = d.docker(
            "run",
            "-d",
            "--name",
            "target",
            "busybox",
            "sh",
            "-c",
            "while :; do echo tick; sleep 1; done",
        )
        assert r.returncode == 0, r.stderr
        yield d
        d.docker("rm", "-f", "target")


def test_fifty_clients_get_no_server_error_and_leave_nothing(d):
    base_threads = threads(d.pid)
    warm = run_load(d.host, "target", clients=CLIENTS, seconds=8)
    assert warm.server_errors() == 0, warm.errors[:10]
    settle(d.pid, base_threads)
    idle = rss_kb(d.pid)

    result = run_load(d.host, "target", clients=CLIENTS, seconds=SECONDS)
    summary = {op: len(v) for op, v in result.latencies.items()}
    assert result.server_errors() == 0, result.errors[:10]
    assert result.lost_exec_output == 0, result.errors[:10]
    assert result.errors == [], result.errors[:10]
    assert all(summary.get(op, 0) > 0 for op in ("run_rm", "exec", "volume", "network")), summary
    left: dict = {}
    for _ in range(50):
        left = leftovers(d.host)
        if not any(left.values()):
            break
        time.sleep(0.2)
    assert not any(left.values()), left

    assert settle(d.pid, base_threads) <= base_threads, "worker threads stayed after the load"
    after = rss_kb(d.pid)
    assert after - idle <= 10 * 1024, f"daemon RSS {idle} kB idle, {after} kB after the load"
    fds = len(os.listdir(f"/proc/{d.pid}/fd"))
    assert fds < 64, f"{fds} descriptors open after the load"
