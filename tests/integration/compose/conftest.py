"""Fixtures for compose tests: one real daemon per module with busybox imported (from the
tarball examples/base_images.py caches), and `Compose`, which writes a project directory,
runs `dockyard compose` in it and removes whatever the project left on the daemon.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "examples"))
sys.path.insert(0, HERE)

from daemon_fixture import Daemon, running_daemon  # noqa: E402
from dockyard.client import APIClient  # noqa: E402

BUSYBOX_CHANGES = [
    'CMD ["sh"]',
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
]


def import_tarball(d: Daemon, tarball: str, tag: str) -> None:
    """`docker import` of a cached root filesystem tarball (POST /images/create?fromSrc=-)."""
    args = ["import"]
    for change in BUSYBOX_CHANGES:
        args += ["-c", change]
    r = d.docker(*args, tarball, tag, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"docker import {tarball} failed: {r.stderr}")


@pytest.fixture(scope="module")
def cdaemon() -> Iterator[Daemon]:
    """A daemon with busybox:latest."""
    import base_images

    tarball = base_images.busybox()
    with running_daemon() as d:
        import_tarball(d, tarball, "busybox:latest")
        yield d


class Compose:
    """A compose project in a temporary directory, run against the test daemon."""

    def __init__(self, d: Daemon, root: str) -> None:
        self.d = d
        self.name = "t" + uuid.uuid4().hex[:8]
        self.dir = os.path.join(root, self.name)
        os.makedirs(self.dir)
        self.client = APIClient(d.host)

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def run(
        self,
        *args: str,
        timeout: float = 120,
        check: bool = True,
        env: dict[str, str] | None = None,
        project: bool = True,
        cwd: str | None = None,
    ) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "dockyard.cli.main", "compose"]
        if project:
            argv += ["-p", self.name]
        full_env = {**self.d.env, **(env or {})}
        r = subprocess.run(
            [*argv, *args],
            cwd=cwd or self.dir,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and r.returncode != 0:
            raise AssertionError(
                f"compose {' '.join(args)} exited {r.returncode}\n"
                f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
            )
        return r

    def popen(self, *args: str) -> subprocess.Popen:
        argv = [sys.executable, "-m", "dockyard.cli.main", "compose", "-p", self.name, *args]
        return subprocess.Popen(
            argv,
            cwd=self.dir,
            env=self.d.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    # --- what the project has on the daemon ---------------------------------------------

    def containers(self, all: bool = True) -> list[dict]:
        label = f"com.docker.compose.project={self.name}"
        return self.client.transport.request(
            "GET", "/containers/json", {"all": all, "filters": {"label": [label]}}
        )

    def names(self, all: bool = True) -> list[str]:
        return sorted(c["Names"][0].lstrip("/") for c in self.containers(all))

    def networks(self) -> list[str]:
        label = f"com.docker.compose.project={self.name}"
        nets = self.client.transport.request("GET", "/networks", {"filters": {"label": [label]}})
        return sorted(n["Name"] for n in nets)

    def volumes(self) -> list[str]:
        label = f"com.docker.compose.project={self.name}"
        out = self.client.volumes.list({"label": [label]})
        return sorted(v["Name"] for v in out.get("Volumes") or [])

    def inspect(self, name: str) -> dict:
        return self.client.transport.request("GET", f"/containers/{name}/json")

    def exec(self, container: str, *cmd: str) -> str:
        r = self.d.docker("exec", container, *cmd, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def wait_for(self, predicate, timeout: float = 20, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def cleanup(self) -> None:
        """Remove the project's containers, networks and volumes, whatever state it is in."""
        t = self.client.transport
        for c in self.containers():
            try:
                t.request("DELETE", f"/containers/{c['Id']}", {"force": True, "v": True})
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
        for n in self.networks():
            try:
                t.request("DELETE", f"/networks/{n}")
            except Exception:  # noqa: BLE001
                pass
        for v in self.volumes():
            try:
                self.client.volumes.remove(v, force=True)
            except Exception:  # noqa: BLE001
                pass


@pytest.fixture
def compose(cdaemon: Daemon, tmp_path) -> Iterator[Compose]:
    c = Compose(cdaemon, str(tmp_path))
    try:
        yield c
    finally:
        c.cleanup()
