"""The planner's pure parts: the create body of a service, the progress block and the
dependency-ordered parallel runner."""

from __future__ import annotations

import io
import threading
import time

import pytest

from dockyard.compose.errors import ComposeError
from dockyard.compose.planner import run_ordered
from dockyard.compose.progress import Progress
from dockyard.compose.spec import create_body


def test_create_body_maps_service_fields(project):
    project.write(
        "compose.yaml",
        """
        name: demo
        services:
          web:
            image: busybox
            command: echo hi
            environment: {A: "1", B: null}
            ports: ["127.0.0.1:8080:80", "9000/udp"]
            volumes: ["./src:/src:ro", "data:/data", "/anon", {type: tmpfs, target: /t,
                      tmpfs: {size: 1m}}]
            networks:
              front: {aliases: [www], ipv4_address: 10.5.0.9}
              back:
            stop_grace_period: 1m30s
            restart: unless-stopped
            cpus: 1.5
        networks: {front: {}, back: {}}
        volumes: {data: {}}
        """,
    )
    proj = project.load()
    body = create_body(proj, proj.services["web"], 2, image_id="sha256:abc")
    assert body["Image"] == "busybox" and body["Cmd"] == ["echo", "hi"]
    assert body["Env"] == ["A=1"]
    assert body["StopTimeout"] == 90
    assert body["ExposedPorts"] == {"80/tcp": {}, "9000/udp": {}}
    labels = body["Labels"]
    assert labels["com.docker.compose.container-number"] == "2"
    assert labels["com.docker.compose.image"] == "sha256:abc"
    host = body["HostConfig"]
    assert host["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "9000/udp": [{"HostIp": "", "HostPort": ""}],
    }
    assert host["Binds"] == [f"{project.root}/src:/src:ro"]
    assert host["Mounts"] == [
        {"Type": "volume", "Target": "/data", "ReadOnly": False, "Source": "demo_data"},
        {"Type": "volume", "Target": "/anon", "ReadOnly": False},
        {"Type": "tmpfs", "Target": "/t", "ReadOnly": False,
         "TmpfsOptions": {"SizeBytes": 1024 * 1024}},
    ]  # fmt: skip
    assert host["RestartPolicy"] == {"Name": "unless-stopped"}
    assert host["NanoCpus"] == 1_500_000_000
    assert host["NetworkMode"] == "demo_back"
    endpoints = body["NetworkingConfig"]["EndpointsConfig"]
    assert endpoints["demo_front"] == {
        "IPAMConfig": {"IPv4Address": "10.5.0.9"},
        "Aliases": ["web", "www"],
    }
    assert endpoints["demo_back"] == {"Aliases": ["web"]}
    # a one-off container publishes nothing and has no restart policy
    oneoff = create_body(proj, proj.services["web"], 1, oneoff=True, command=["true"])
    assert "PortBindings" not in oneoff["HostConfig"]
    assert "RestartPolicy" not in oneoff["HostConfig"]
    assert oneoff["Cmd"] == ["true"]
    assert oneoff["Labels"]["com.docker.compose.oneoff"] == "True"


def test_progress_block():
    out = io.StringIO()
    progress = Progress("Running", out)
    progress.event("Network", "p_default", "Creating")
    progress.event("Network", "p_default", "Created")
    progress.event("Container", "p-web-1", "Starting")
    progress.event("Container", "p-db-1", "Error", failed=True)
    progress.close()
    assert out.getvalue().splitlines() == [
        "[+] Running 2/3",
        " ✔ Network p_default  Created",
        "   Container p-web-1  Starting",
        " ✘ Container p-db-1   Error",
    ]
    progress.close()
    assert out.getvalue().count("[+]") == 1


def test_run_ordered_waits_for_dependencies_and_runs_the_rest_in_parallel():
    started: dict[str, float] = {}
    finished: dict[str, float] = {}
    lock = threading.Lock()

    def act(name: str) -> None:
        with lock:
            started[name] = time.monotonic()
        time.sleep(0.2)
        with lock:
            finished[name] = time.monotonic()

    after = {"web": {"db", "cache"}, "db": set(), "cache": set(), "worker": {"db"}}
    t0 = time.monotonic()
    run_ordered(list(after), after, act)
    assert started["web"] >= max(finished["db"], finished["cache"])
    assert started["worker"] >= finished["db"]
    assert time.monotonic() - t0 < 0.75  # db, cache in parallel; then web, worker together


def test_run_ordered_stops_starting_after_a_failure():
    ran: list[str] = []

    def act(name: str) -> None:
        ran.append(name)
        if name == "db":
            raise ComposeError("db failed")

    with pytest.raises(ComposeError, match="db failed"):
        run_ordered(["db", "web"], {"web": {"db"}}, act)
    assert ran == ["db"]
    with pytest.raises(ComposeError, match="cycle"):
        run_ordered(["a", "b"], {"a": {"b"}, "b": {"a"}}, lambda name: None)
