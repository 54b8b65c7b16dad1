"""depends_on: start order and the conditions service_healthy and
service_completed_successfully."""

from __future__ import annotations

import datetime


def _started(compose, name: str) -> datetime.datetime:
    text = compose.inspect(name)["State"]["StartedAt"]
    return datetime.datetime.fromisoformat(text.rstrip("Z")[:26])


def test_dependencies_start_first_and_stop_last(compose):
    compose.write(
        "compose.yaml",
        """
        services:
          front:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            depends_on: [middle]
          middle:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            depends_on:
              back:
                condition: service_started
          back:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
        """,
    )
    p = compose.name
    r = compose.run("up", "-d", "front")
    order = [f"{p}-back-1", f"{p}-middle-1", f"{p}-front-1"]
    times = [_started(compose, n) for n in order]
    assert times == sorted(times)
    lines = [line for line in r.stderr.splitlines() if "Container" in line]
    assert [line.split()[2] for line in lines] == order
    r = compose.run("stop")
    stopped = [line.split()[2] for line in r.stderr.splitlines() if "Stopped" in line]
    assert stopped == list(reversed(order))
    compose.run("rm", "-f")
    compose.run("up", "-d", "--no-deps", "front")
    assert compose.names() == [f"{p}-front-1"]


HEALTHY = """
services:
  db:
    image: busybox
    command: ["sh", "-c", "sleep 2; touch /tmp/ready; sleep 600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 500ms
      retries: 20
  web:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on:
      db:
        condition: service_healthy
"""


def test_service_healthy_gate(compose):
    compose.write("compose.yaml", HEALTHY)
    p = compose.name
    r = compose.run("up", "-d")
    db = compose.inspect(f"{p}-db-1")
    assert db["State"]["Health"]["Status"] == "healthy"
    # web started only once db was healthy: at least 2 s after db.
    gap = _started(compose, f"{p}-web-1") - _started(compose, f"{p}-db-1")
    assert gap.total_seconds() >= 2, gap
    assert "Healthy" in r.stderr


def test_unhealthy_dependency_stops_up(compose):
    compose.write(
        "compose.yaml",
        HEALTHY.replace('["CMD", "test", "-f", "/tmp/ready"]', '["CMD", "false"]').replace(
            "retries: 20", "retries: 2"
        ),
    )
    p = compose.name
    r = compose.run("up", "-d", check=False)
    assert r.returncode != 0
    assert f"dependency failed to start: container {p}-db-1 is unhealthy" in r.stderr
    assert f"{p}-web-1" not in compose.names()


JOB = """
services:
  init:
    image: busybox
    command: ["sh", "-c", "sleep 1; echo seeded > /data/seed; exit EXIT"]
    volumes: [data:/data]
  web:
    image: busybox
    command: ["sh", "-c", "cat /data/seed; sleep 600"]
    stop_signal: SIGKILL
    volumes: [data:/data]
    depends_on:
      init:
        condition: service_completed_successfully
volumes:
  data:
"""


def test_service_completed_successfully(compose):
    compose.write("compose.yaml", JOB.replace("EXIT", "0"))
    p = compose.name
    compose.run("up", "-d")
    assert compose.inspect(f"{p}-init-1")["State"]["ExitCode"] == 0
    compose.wait_for(lambda: "seeded" in compose.run("logs", "web").stdout, what="web's log")
    assert compose.exec(f"{p}-web-1", "cat", "/data/seed").strip() == "seeded"


def test_failed_job_stops_up(compose):
    compose.write("compose.yaml", JOB.replace("EXIT", "3"))
    p = compose.name
    r = compose.run("up", "-d", check=False)
    assert r.returncode != 0
    assert 'service "init" didn\'t complete successfully: exit 3' in r.stderr
    assert f"{p}-web-1" not in compose.names()


def test_run_waits_for_a_healthy_dependency(compose):
    compose.write("compose.yaml", HEALTHY)
    p = compose.name
    r = compose.run("run", "--rm", "web", "echo", "ran")
    assert r.stdout == "ran\n"
    assert compose.inspect(f"{p}-db-1")["State"]["Health"]["Status"] == "healthy"
    assert "Healthy" in r.stderr
