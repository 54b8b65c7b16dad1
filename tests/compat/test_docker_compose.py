"""docker-compose 1.29 (Debian's /usr/bin/docker-compose) against our daemon: the reference
app (acceptance 2 of issue 7), and one project that docker-compose and dockyard compose
both recognise by Docker Compose's labels."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration", "compose"))

from hitcounter_flow import APP_DIR, free_port, import_debian, run_flow  # noqa: E402

from daemon_fixture import running_daemon  # noqa: E402

DOCKER_COMPOSE = "/usr/bin/docker-compose"
BUSYBOX_CHANGES = ['CMD ["sh"]', "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]  # fmt: skip

pytestmark = pytest.mark.skipif(
    not os.path.exists(DOCKER_COMPOSE), reason="docker-compose 1.29 is not installed"
)


@pytest.fixture(scope="module")
def daemon_with_images():
    sys.path.insert(0, os.path.join(HERE, "..", "..", "examples"))
    import base_images

    with running_daemon() as d:
        args = ["import"]
        for change in BUSYBOX_CHANGES:
            args += ["-c", change]
        r = d.docker(*args, base_images.busybox(), "busybox:latest", timeout=300)
        assert r.returncode == 0, r.stderr
        import_debian(d)
        yield d


def _runner(d, project: str, cwd: str, tool: list[str], env: dict[str, str]):  # type: ignore[no-untyped-def]
    def run(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(
            [*tool, "-p", project, *args],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check:
            assert r.returncode == 0, f"{tool[-1]} {args}:\n{r.stdout}\n{r.stderr}"
        return r

    return run


@pytest.mark.timeout(1800)
def test_hitcounter_with_docker_compose_1_29(daemon_with_images):
    d = daemon_with_images
    project = "dc" + uuid.uuid4().hex[:6]
    port = free_port()
    env = {**d.env, "WEB_PORT": str(port), "COMPOSE_INTERACTIVE_NO_CLI": "1"}
    compose = _runner(d, project, APP_DIR, [DOCKER_COMPOSE], env)
    try:
        run_flow(compose, d, project, port)
    finally:
        compose("down", "-v", check=False)


def test_docker_compose_and_dockyard_compose_share_a_project(daemon_with_images, tmp_path):
    d = daemon_with_images
    project = "sh" + uuid.uuid4().hex[:6]
    (tmp_path / "docker-compose.yml").write_text(
        "version: '3.8'\n"
        "services:\n"
        "  app:\n    image: busybox\n    command: [sleep, '600']\n    stop_signal: SIGKILL\n"
        "  side:\n    image: busybox\n    command: [sleep, '600']\n    stop_signal: SIGKILL\n"
    )
    env = dict(d.env)
    dc = _runner(d, project, str(tmp_path), [DOCKER_COMPOSE], env)
    dy = _runner(d, project, str(tmp_path), [sys.executable, "-m", "dockyard.cli.main", "compose"], env)  # fmt: skip
    try:
        dy("up", "-d")
        ps = dc("ps").stdout
        assert f"{project}-app-1" in ps and f"{project}-side-1" in ps and "Up" in ps
        dc("stop", "side")
        out = dy("ps", "-a").stdout
        assert any(f"{project}-side-1" in line and "Exited" in line for line in out.splitlines())
        dc("start", "side")
        running = dy("ps").stdout
        assert f"{project}-app-1" in running and f"{project}-side-1" in running
        dc("down")
        assert dy("ps", "-a").stdout.splitlines()[1:] == []
        assert d.docker("network", "ls", "-q", "--filter", f"name={project}_default").stdout == ""
    finally:
        dy("down", check=False)
