"""`push` and `pull` against Debian's docker-registry on 127.0.0.1, and `up` pulling a
missing image."""

from __future__ import annotations

import json
import os
import sys
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "distribution"))

from registry_peers import DOCKER_REGISTRY, DockerRegistry  # noqa: E402


@pytest.fixture
def registry(tmp_path):
    if not os.path.exists(DOCKER_REGISTRY):
        pytest.fail(f"{DOCKER_REGISTRY} is missing (make install installs docker-registry)")
    with DockerRegistry(str(tmp_path / "registry")) as reg:
        yield reg


def test_push_pull_and_up_pulling_a_missing_image(compose, registry):
    image = f"{registry.host}/compose/{compose.name}:1"
    compose.write(
        "app/Dockerfile", 'FROM busybox\nRUN echo pushed > /marker\nCMD ["sleep", "600"]\n'
    )
    compose.write(
        "compose.yaml",
        f"""
        services:
          app:
            build: ./app
            image: {image}
            stop_signal: SIGKILL
          user:
            image: {image}
            stop_signal: SIGKILL
            profiles: [later]
        """,
    )
    compose.run("build")
    r = compose.run("push")
    assert "Service app" in r.stderr and "Pushed" in r.stderr
    url = f"http://{registry.host}/v2/compose/{compose.name}/tags/list"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert json.load(resp)["tags"] == ["1"]
    assert compose.d.docker("rmi", image).returncode == 0
    r = compose.run("--profile", "later", "pull", "user")
    assert "Service user" in r.stderr and "Pulled" in r.stderr
    assert compose.d.docker("image", "inspect", image).returncode == 0
    assert compose.d.docker("rmi", image).returncode == 0
    # up pulls what is missing (a service with build: and image: would build instead)
    p = compose.name
    compose.run("--profile", "later", "up", "-d", "user")
    assert compose.exec(f"{p}-user-1", "cat", "/marker").strip() == "pushed"
    assert compose.names() == [f"{p}-user-1"]
