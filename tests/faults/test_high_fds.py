"""Starts with the daemon's descriptors above 1023 (issue 11: `select()` refused them and
`run --rm` answered 500, leaving containers behind). Real connections hold the low numbers."""

from __future__ import annotations

import os
import resource
import socket
import threading
import time

import pytest

from daemon_fixture import running_daemon

HELD = 1100  # connections held open: the daemon's next descriptors are above 1023
RUNS = 6


def _raise_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"the nofile hard limit ({hard}) is below {want}")
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _fds(pid: int) -> list[int]:
    return [int(n) for n in os.listdir(f"/proc/{pid}/fd")]


def _hold_connections(path: str, count: int) -> list[socket.socket]:
    """`count` keep-alive connections, each having had one answered request (so the daemon
    accepted it and keeps it)."""
    held = []
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        for _attempt in range(500):
            try:
                s.connect(path)
                break
            except BlockingIOError:  # the listen backlog is full for a moment
                time.sleep(0.01)
        else:
            raise AssertionError("cannot connect to the daemon")
        held.append(s)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while not data.endswith(b"OK"):
            chunk = s.recv(4096)
            assert chunk, "the daemon closed a held connection"
            data += chunk
        assert data.startswith(b"HTTP/1.1 200")
    return held


def test_run_rm_with_descriptors_above_1023(busybox_rootfs):
    _raise_nofile(4096)  # the daemon inherits it: it must be able to hold the connections
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        held = _hold_connections(d.sock, HELD)
        try:
            assert max(_fds(d.pid)) > 1023, "the daemon's descriptors did not go above 1023"
            results: dict[int, tuple[int, str, str]] = {}

            def run(i: int) -> None:
                try:
                    r = d.docker("run", "--rm", "busybox", "echo", f"hello-{i}", timeout=120)
                    results[i] = (r.returncode, r.stdout, r.stderr)
                except Exception as e:  # noqa: BLE001 - reported below
                    results[i] = (-1, "", repr(e))

            threads = [threading.Thread(target=run, args=(i,)) for i in range(RUNS)]
            for t in threads:
                t.start()
                time.sleep(0.05)
            for t in threads:
                t.join(180)
            for i in range(RUNS):
                code, out, err = results[i]
                assert code == 0, err
                assert out == f"hello-{i}\n"
                assert "500" not in err and "out of range" not in err
            # a start with attachers waiting (the monitor's created report) works as well
            r = d.docker("run", "--rm", "-i", "busybox", "cat", input="through stdin\n")
            assert r.returncode == 0, r.stderr
            assert r.stdout == "through stdin\n"
            # still above 1023 while they ran (the held connections were not dropped)
            assert len(_fds(d.pid)) > HELD
        finally:
            for s in held:
                s.close()
        # nothing left behind: no container, no monitor, no mount of a container's root
        r = d.docker("ps", "-aq")
        assert r.returncode == 0 and r.stdout.strip() == "", r.stdout
        assert os.listdir(os.path.join(d.data_root, "containers")) == []
        with open("/proc/self/mountinfo") as f:
            assert not [line for line in f if os.path.join(d.data_root, "containers") in line]
        assert "filedescriptor out of range" not in d.log()
