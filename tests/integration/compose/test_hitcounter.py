"""Acceptance 1 of issue 7: the reference app (examples/hitcounter) end to end with
`dockyard compose`, built from its files on debian:bookworm-slim (minutes: apt in RUN)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from hitcounter_flow import APP_DIR, free_port, import_debian, run_flow

from daemon_fixture import running_daemon


@pytest.fixture(scope="module")
def debian_daemon():
    with running_daemon() as d:
        import_debian(d)
        yield d


@pytest.mark.timeout(1800)
def test_hitcounter_with_dockyard_compose(debian_daemon):
    d = debian_daemon
    project = "hit" + uuid.uuid4().hex[:6]
    port = free_port()
    env = {**d.env, "WEB_PORT": str(port)}

    def compose(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "dockyard.cli.main", "compose", "-p", project, *args]
        r = subprocess.run(
            argv, cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=timeout
        )
        assert r.returncode == 0, f"compose {args}:\n{r.stdout}\n{r.stderr}"
        return r

    try:
        run_flow(compose, d, project, port)
    finally:
        subprocess.run(
            [sys.executable, "-m", "dockyard.cli.main", "compose", "-p", project, "down", "-v"],
            cwd=APP_DIR, env=env, capture_output=True, timeout=300,
        )  # fmt: skip
