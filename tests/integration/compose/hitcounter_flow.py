"""The reference app's acceptance flow (issue 7), run with any compose implementation:
`up -d --build`, the count goes up per request, `restart web` keeps it, `down` removes the
containers and the network but keeps the Redis volume, `down -v` resets the count.

Needs the daemon to have debian:bookworm-slim (imported from the tarball
examples/base_images.py caches) and apt to work inside RUN steps.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
APP_DIR = os.path.join(REPO, "examples", "hitcounter")
DEBIAN_CHANGES = [
    'CMD ["bash"]',
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
]

Runner = Callable[..., subprocess.CompletedProcess]


def import_debian(d) -> None:  # type: ignore[no-untyped-def]
    sys.path.insert(0, os.path.join(REPO, "examples"))
    import base_images

    tarball = base_images.bookworm_slim()
    args = ["import"]
    for change in DEBIAN_CHANGES:
        args += ["-c", change]
    r = d.docker(*args, tarball, "debian:bookworm-slim", timeout=900)
    assert r.returncode == 0, r.stderr


def fetch(url: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def count(url: str) -> int:
    text = fetch(url)
    assert text.startswith("Hello World! I have been seen "), text
    return int(text.split("seen ")[1].split()[0])


def free_port() -> int:
    return random.randint(20000, 40000)


def run_flow(compose: Runner, d, project: str, port: int) -> None:  # type: ignore[no-untyped-def]
    """compose(*args) runs the compose tool against the daemon d in the app directory."""
    url = f"http://127.0.0.1:{port}/"

    def project_objects() -> tuple[list[str], list[str], list[str]]:
        label = f"label=com.docker.compose.project={project}"
        cs = d.docker("ps", "-a", "--filter", label, "--format", "{{.Names}}").stdout.split()
        ns = d.docker("network", "ls", "--filter", label, "--format", "{{.Name}}").stdout.split()
        vs = d.docker("volume", "ls", "--filter", label, "--format", "{{.Name}}").stdout.split()
        return sorted(cs), sorted(ns), sorted(vs)

    compose("up", "-d", "--build", timeout=1500)
    containers, networks, volumes = project_objects()
    assert len(containers) == 2, containers
    assert networks == [f"{project}_default"]
    assert volumes == [f"{project}_redis-data"]
    first = count(url)
    assert [count(url) for _ in range(3)] == [first + 1, first + 2, first + 3]
    assert first == 1

    compose("restart", "web")
    assert count(url) == first + 4  # the count lives in redis, not in web

    compose("down")
    containers, networks, volumes = project_objects()
    assert containers == [] and networks == []
    assert volumes == [f"{project}_redis-data"]

    compose("up", "-d")
    assert count(url) == first + 5  # redis saved its data in the volume on the way down

    compose("down", "-v")
    assert project_objects() == ([], [], [])
    compose("up", "-d")
    assert count(url) == 1  # a fresh volume
    compose("down", "-v")
    assert project_objects() == ([], [], [])
