"""Image routes with the real docker CLI: import, images, tag, history, inspect, save | load,
rmi, and login/push/pull against dockyard's own registry server with basic auth."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from daemon_fixture import running_daemon
from dockyard.distribution.htpasswd import make_entry


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


def ok(r):
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r


def test_local_image_commands(d, tmp_path):
    images = ok(d.docker("images")).stdout.splitlines()
    assert images[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert images[1].startswith("busybox   ")
    ok(d.docker("tag", "busybox", "example.com/team/bb:v1"))
    (img,) = json.loads(ok(d.docker("image", "inspect", "example.com/team/bb:v1")).stdout)
    assert "busybox:latest" in img["RepoTags"] and "example.com/team/bb:v1" in img["RepoTags"]
    assert img["Config"]["Cmd"] == ["sh"] and img["Os"] == "linux"
    hist = ok(d.docker("history", "busybox")).stdout.splitlines()
    assert hist[0].split()[:2] == ["IMAGE", "CREATED"]
    archive = tmp_path / "bb.tar"
    ok(d.docker("save", "-o", str(archive), "example.com/team/bb:v1"))
    r = ok(d.docker("rmi", "example.com/team/bb:v1"))
    assert "Untagged: example.com/team/bb:v1" in r.stdout
    r = ok(d.docker("load", "-i", str(archive)))
    assert "Loaded image: example.com/team/bb:v1" in r.stdout
    assert ok(d.docker("run", "--rm", "example.com/team/bb:v1", "echo", "loaded")).stdout == (
        "loaded\n"
    )
    ok(d.docker("rmi", "example.com/team/bb:v1"))
    r = d.docker("rmi", "nosuch:image")
    assert r.returncode == 1 and "No such image: nosuch:image" in r.stderr


def test_rmi_conflict_while_in_use(d):
    ok(d.docker("tag", "busybox", "inuse:1"))
    ok(d.docker("create", "--name", "user1", "inuse:1", "true"))
    try:
        ok(d.docker("rmi", "inuse:1"))  # only untags: busybox:latest still names it
        r = d.docker("rmi", "busybox")
        assert r.returncode == 1 and "conflict" in r.stderr.lower()
    finally:
        ok(d.docker("rm", "user1"))


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_login_push_pull_with_our_registry(d, tmp_path):
    port = _free_port()
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(make_entry("alice", "s3cret") + "\n")
    reg = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dockyard.cli.main",
            "registry",
            "serve",
            "--addr",
            f"127.0.0.1:{port}",
            "--root",
            str(tmp_path / "registry"),
            "--htpasswd",
            str(htpasswd),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        server = f"127.0.0.1:{port}"
        ref = f"{server}/test/bb:1"
        ok(d.docker("tag", "busybox", ref))
        r = d.docker("push", ref)
        out = (r.stdout + r.stderr).lower()
        assert r.returncode == 1 and ("no basic auth credentials" in out or "unauthorized" in out)
        r = d.docker("login", server, "-u", "alice", "-p", "wrong")
        assert r.returncode == 1
        r = ok(d.docker("login", server, "-u", "alice", "--password-stdin", input="s3cret\n"))
        assert "Login Succeeded" in r.stdout
        cfg = json.loads(open(os.path.join(d.env["DOCKER_CONFIG"], "config.json")).read())
        assert server in cfg["auths"]
        r = ok(d.docker("push", ref))
        assert "1: digest: sha256:" in r.stdout
        ok(d.docker("rmi", ref))
        r = ok(d.docker("pull", ref))
        assert (
            f"Status: Downloaded newer image for {ref}" in r.stdout
            or "Image is up to date" in r.stdout
        )
        assert ok(d.docker("run", "--rm", ref, "echo", "pulled")).stdout == "pulled\n"
        ok(d.docker("rmi", ref))
        ok(d.docker("logout", server))
    finally:
        reg.terminate()
        reg.wait(10)


def test_commit(d):
    ok(d.docker("run", "--name", "tocommit", "busybox", "sh", "-c", "echo made > /made.txt"))
    try:
        r = ok(
            d.docker(
                "commit", "-c", "ENV COMMITTED=1", "-m", "a message", "tocommit", "committed:1"
            )
        )
        assert r.stdout.startswith("sha256:")
        out = ok(
            d.docker("run", "--rm", "committed:1", "sh", "-c", "cat /made.txt; echo $COMMITTED")
        )
        assert out.stdout == "made\n1\n"
        hist = ok(d.docker("history", "--format", "{{.Comment}}", "committed:1")).stdout
        assert hist.splitlines()[0] == "a message"
        r = ok(d.dockyard("commit", "tocommit", "committed:2"))
        assert r.stdout.startswith("sha256:")
        ok(d.docker("rmi", "committed:1", "committed:2"))
    finally:
        d.docker("rm", "-f", "tocommit")
