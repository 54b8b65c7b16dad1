"""`up -d`, `ps`, `down`: networks, containers, labels, recreation and scale."""

from __future__ import annotations


SIMPLE = """
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo web ready; sleep 600"]
    stop_signal: SIGKILL
  db:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
"""


def test_up_creates_network_and_containers_with_labels_then_down_removes_them(compose):
    compose.write("compose.yaml", SIMPLE)
    r = compose.run("up", "-d")
    p = compose.name
    assert f"Network {p}_default" in r.stderr and "Created" in r.stderr
    assert f"Container {p}-web-1" in r.stderr and "Started" in r.stderr
    assert r.stderr.startswith("[+] Running 3/3")
    assert compose.names() == [f"{p}-db-1", f"{p}-web-1"]
    assert compose.networks() == [f"{p}_default"]
    info = compose.inspect(f"{p}-web-1")
    labels = info["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == p
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert len(labels["com.docker.compose.config-hash"]) == 64
    assert labels["com.docker.compose.project.working_dir"] == compose.dir
    assert labels["com.docker.compose.project.config_files"].endswith("/compose.yaml")
    assert info["State"]["Running"]
    ps = compose.run("ps")
    assert ps.stdout.splitlines()[0].split()[:4] == ["NAME", "IMAGE", "COMMAND", "SERVICE"]
    assert f"{p}-web-1" in ps.stdout and "Up" in ps.stdout

    r = compose.run("down")
    assert f"Container {p}-web-1" in r.stderr and "Removed" in r.stderr
    assert compose.names() == []
    assert compose.networks() == []
