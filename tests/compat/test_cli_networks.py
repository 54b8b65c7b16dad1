"""The docker CLI's network commands and published ports against our daemon."""

from __future__ import annotations

import json
import random
import urllib.request

import pytest

from daemon_fixture import running_daemon


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


def ok(r):
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r


def test_network_lifecycle_and_dns(d):
    subnet = f"10.{random.randint(201, 250)}.{random.randint(0, 255)}.0/24"
    ok(d.docker("network", "create", "--subnet", subnet, "--label", "t=1", "cnet"))
    try:
        ls = ok(d.docker("network", "ls")).stdout.splitlines()
        assert ls[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
        assert any(" cnet " in line for line in ls)
        (net,) = json.loads(ok(d.docker("network", "inspect", "cnet")).stdout)
        assert net["IPAM"]["Config"][0]["Subnet"] == subnet and net["Labels"] == {"t": "1"}
        ok(
            d.docker(
                "run",
                "-d",
                "--name",
                "srv",
                "--network",
                "cnet",
                "--network-alias",
                "db",
                "busybox",
                "sleep",
                "100",
            )
        )
        r = ok(d.docker("run", "--rm", "--network", "cnet", "busybox", "ping", "-c1", "-W3", "db"))
        assert "1 packets received" in r.stdout
        r = d.docker("network", "rm", "cnet")
        assert r.returncode == 1 and "has active endpoints" in r.stderr
        r = d.docker("network", "create", "cnet")
        assert r.returncode == 1 and "already exists" in r.stderr
    finally:
        d.docker("rm", "-f", "srv")
        d.docker("network", "rm", "cnet")
    assert "cnet" not in d.docker("network", "ls").stdout


def test_published_port(d):
    port = random.randint(20000, 30000)
    ok(
        d.docker(
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            f"127.0.0.1:{port}:80",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /www && echo hello-web > /www/index.html && httpd -f -p 80 -h /www",
        )
    )
    try:
        assert ok(d.docker("port", "web")).stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"
        body = b""
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        assert body == b"hello-web\n"
        assert f"127.0.0.1:{port}->80/tcp" in ok(d.docker("ps")).stdout
    finally:
        d.docker("rm", "-f", "web")


def test_connect_and_disconnect(d):
    a = f"10.{random.randint(201, 250)}.{random.randint(0, 255)}.0/24"
    ok(d.docker("network", "create", "--subnet", a, "cnet2"))
    try:
        # A created container joins at its start; a running one at once.
        ok(d.docker("create", "--name", "late", "busybox", "sleep", "100"))
        ok(d.docker("network", "connect", "--alias", "lateal", "cnet2", "late"))
        ok(d.docker("start", "late"))
        nets = json.loads(ok(d.docker("inspect", "late")).stdout)[0]["NetworkSettings"]["Networks"]
        assert set(nets) == {"bridge", "cnet2"} and nets["cnet2"]["IPAddress"]
        ok(d.docker("run", "-d", "--name", "live", "busybox", "sleep", "100"))
        ok(d.docker("network", "connect", "cnet2", "live"))
        nets = json.loads(ok(d.docker("inspect", "live")).stdout)[0]["NetworkSettings"]["Networks"]
        assert "cnet2" in nets
        r = ok(d.docker("exec", "live", "ping", "-c1", "-W3", "lateal"))
        assert "1 packets received" in r.stdout
        r = d.docker("network", "connect", "cnet2", "live")
        assert r.returncode == 1 and "already exists" in r.stderr
        ok(d.docker("network", "disconnect", "cnet2", "live"))
        nets = json.loads(ok(d.docker("inspect", "live")).stdout)[0]["NetworkSettings"]["Networks"]
        assert "cnet2" not in nets
    finally:
        d.docker("rm", "-f", "late", "live")
        d.docker("network", "rm", "cnet2")
