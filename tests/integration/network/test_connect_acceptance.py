"""Issue 5 acceptance checks through the real docker CLI that the other network tests do not
make: a host port that a host process (not a container) holds is refused with Docker's start
of the message, and the failed start leaves no namespace, bridge port or DNAT rule behind.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess

import pytest

from daemon_fixture import raw_request, running_daemon


@pytest.fixture(scope="module")
def daemon(busybox_rootfs):
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        yield d


def leftovers(daemon) -> tuple:
    dnat = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    subnet_prefix = daemon.bip.rsplit(".", 1)[0] + "."
    return (
        sorted(os.listdir(os.path.join(daemon.exec_root, "netns"))),
        sorted(os.listdir(f"/sys/class/net/{daemon.bridge}/brif")),
        [line for line in dnat.splitlines() if "DNAT" in line and subnet_prefix in line],
    )


def test_port_held_by_a_host_process(daemon):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    before = leftovers(daemon)
    try:
        r = daemon.docker(
            "run", "-d", "--name", "held", "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "60"
        )
        assert r.returncode != 0
        # Docker's words before 28 (its userland proxy cannot listen; Docker 28 says "failed to
        # bind host port for 127.0.0.1:PORT:IP:80/tcp: address already in use")
        assert re.search(
            r"driver failed programming external connectivity on endpoint held \(\w+\): "
            f"Error starting userland proxy: listen tcp4 127.0.0.1:{port}: "
            "bind: address already in use",
            r.stderr,
        ), r.stderr
        assert leftovers(daemon) == before
        state = daemon.docker("inspect", "-f", "{{.State.Status}}", "held").stdout.strip()
        assert state == "created"  # as with Docker, `run` leaves the container it created
        # a server error, as Docker's (500 for this and for a port another container holds)
        assert raw_request(daemon.sock, "POST", "/v1.47/containers/held/start") == 500
        assert leftovers(daemon) == before
    finally:
        holder.close()
        daemon.docker("rm", "-f", "held")
