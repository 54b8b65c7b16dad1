"""A container's monitor outlives bad requests on its socket (a malformed frame, a resize of
a closed terminal, a client that vanishes mid-request): the container keeps running and
its monitor keeps serving."""

from __future__ import annotations

import glob
import json
import os
import socket
import struct

from daemon_fixture import running_daemon


def _frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BI", kind, len(payload)) + payload


def _monitor_socket(d, cid: str) -> str:
    found = [
        p
        for p in glob.glob(os.path.join(d.exec_root, "**", "*.sock"), recursive=True)
        if os.path.basename(p).startswith(cid[:16])
    ]
    assert len(found) == 1, found
    return found[0]


def test_bad_requests_do_not_end_the_monitor(busybox_rootfs):
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        r = d.docker("run", "-d", "-i", "-t", "--name", "m1", "busybox", "cat")
        assert r.returncode == 0, r.stderr
        cid = r.stdout.strip()
        path = _monitor_socket(d, cid)
        bad = [
            # a resize whose payload is not JSON, then one without its fields
            [b'{"op":"attach","stdin":true}\n', _frame(5, b"not json")],
            [b'{"op":"attach","stdin":true}\n', _frame(5, b"{}")],
            [b'{"op":"kill","signal":"SIGNOPE"}\n'],
            [b'{"op":"exec","process":"nope"}\n'],
            [b"\xff\xfe not a request\n"],
            [b'{"op":"attach"'],  # half a request, then gone
        ]
        for parts in bad:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(path)
            for p in parts:
                s.sendall(p)
            s.close()
        # the monitor still answers and the container still runs
        r = d.docker("exec", "m1", "echo", "alive", timeout=30)
        assert (r.returncode, r.stdout.strip()) == (0, "alive"), r.stderr
        state = json.loads(d.docker("inspect", "m1").stdout)[0]["State"]
        assert state["Status"] == "running", state
        r = d.docker("stop", "-t", "1", "m1")
        assert r.returncode == 0, r.stderr
        state = json.loads(d.docker("inspect", "m1").stdout)[0]["State"]
        assert state["Status"] == "exited", state
