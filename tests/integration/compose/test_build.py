"""Services built from a Dockerfile: tagged PROJECT-SERVICE, rebuilt with --build (which
recreates the container on a new image), `build` args, `down --rmi local`; and `up --wait`."""

from __future__ import annotations


def _image_id(compose, ref: str) -> str | None:
    r = compose.d.docker("image", "inspect", "-f", "{{.Id}}", ref)
    return r.stdout.strip() if r.returncode == 0 else None


def test_build_rebuild_and_rmi(compose):
    compose.write("app/Dockerfile", "FROM busybox\nARG FLAVOUR\nRUN echo $FLAVOUR > /flavour\n"
                  'CMD ["sleep", "600"]\n')  # fmt: skip
    compose.write(
        "compose.yaml",
        """
        services:
          app:
            build:
              context: ./app
              args:
                FLAVOUR: vanilla
            stop_signal: SIGKILL
          plain:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
        """,
    )
    p = compose.name
    r = compose.run("up", "-d")
    assert "Service app" in r.stderr and "Built" in r.stderr
    first = _image_id(compose, f"{p}-app")
    assert first is not None
    info = compose.inspect(f"{p}-app-1")
    assert info["Config"]["Image"] == f"{p}-app"
    assert info["Config"]["Labels"]["com.docker.compose.image"] == first
    assert compose.exec(f"{p}-app-1", "cat", "/flavour").strip() == "vanilla"
    plain_id = compose.inspect(f"{p}-plain-1")["Id"]
    # an up without --build does not rebuild; with --build and a changed arg it does,
    # and only the rebuilt service's container is recreated
    compose.write("compose.yaml", open(compose.dir + "/compose.yaml").read().replace(
        "vanilla", "chocolate"))  # fmt: skip
    compose.run("up", "-d")
    assert compose.exec(f"{p}-app-1", "cat", "/flavour").strip() == "vanilla"
    compose.run("up", "-d", "--build")
    assert _image_id(compose, f"{p}-app") != first
    assert compose.exec(f"{p}-app-1", "cat", "/flavour").strip() == "chocolate"
    assert compose.inspect(f"{p}-plain-1")["Id"] == plain_id
    # `build` alone rebuilds; --rmi local removes the built image but not busybox
    r = compose.run("build", "app")
    assert "Successfully tagged" in r.stderr or "Built" in r.stderr
    r = compose.run("down", "--rmi", "local")
    assert f"Image {p}-app" in r.stderr and "Removed" in r.stderr
    assert _image_id(compose, f"{p}-app") is None
    assert _image_id(compose, "busybox:latest") is not None


def test_build_dockerfile_target_and_labels(compose):
    compose.write(
        "app/build.Dockerfile",
        "FROM busybox AS base\nRUN echo base > /stage\n"
        "FROM base AS chosen\nRUN echo chosen > /stage\n"
        'CMD ["sleep", "600"]\n'
        "FROM base AS last\nRUN echo last > /stage\n",
    )
    compose.write(
        "compose.yaml",
        """
        services:
          app:
            build:
              context: ./app
              dockerfile: build.Dockerfile
              target: chosen
              labels:
                com.example.built-by: compose
            stop_signal: SIGKILL
        """,
    )
    p = compose.name
    compose.run("up", "-d")
    assert compose.exec(f"{p}-app-1", "cat", "/stage").strip() == "chosen"
    r = compose.d.docker("image", "inspect", "-f", "{{json .Config.Labels}}", f"{p}-app")
    assert r.returncode == 0 and '"com.example.built-by":"compose"' in r.stdout, r.stdout


def test_up_wait_returns_once_healthy(compose):
    compose.write(
        "compose.yaml",
        """
        services:
          slow:
            image: busybox
            command: ["sh", "-c", "sleep 1; touch /tmp/ok; sleep 600"]
            stop_signal: SIGKILL
            healthcheck:
              test: ["CMD", "test", "-f", "/tmp/ok"]
              interval: 300ms
              retries: 30
        """,
    )
    p = compose.name
    compose.run("up", "-d", "--wait")
    assert compose.inspect(f"{p}-slow-1")["State"]["Health"]["Status"] == "healthy"


def test_failed_build_reports_and_creates_no_container(compose):
    compose.write("app/Dockerfile", "FROM busybox\nRUN echo building; exit 3\n")
    compose.write(
        "compose.yaml",
        """
        services:
          app:
            build: ./app
          other:
            image: busybox
            command: ["sleep", "600"]
        """,
    )
    r = compose.run("up", "-d", check=False)
    assert r.returncode != 0
    assert "returned a non-zero code: 3" in r.stderr, r.stderr
    assert compose.names() == []
