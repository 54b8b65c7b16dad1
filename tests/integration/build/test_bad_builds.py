"""Bad builds stop with Docker's words and leave nothing behind (no container, no mount,
no snapshot: the `engine` fixture checks after every test)."""

from __future__ import annotations

from buildsupport import build

from dockyard.build.runner import RunError
from dockyard.build.service import error_message


def test_failing_run_stops_with_its_code_and_output(engine) -> None:
    df = "FROM busybox\nRUN echo before\nRUN echo failing-output && exit 3\nRUN echo never\n"
    result = build(engine, {"Dockerfile": df})
    assert isinstance(result.error, RunError)
    assert result.error.code == 3
    assert "failing-output\n" in result.output
    assert "never" not in result.output.replace("RUN echo never", "")
    assert "Step 4/4" not in result.output
    assert error_message(result.error) == {
        "errorDetail": {
            "code": 3,
            "message": "The command '/bin/sh -c echo failing-output && exit 3' "
            "returned a non-zero code: 3",
        },
        "error": "The command '/bin/sh -c echo failing-output && exit 3' returned a non-zero code: 3",
    }
    assert engine.containers.ids() == []


def test_exec_form_failure_names_the_command(engine) -> None:
    result = build(engine, {"Dockerfile": 'FROM busybox\nRUN ["false"]\n'})
    assert str(result.error) == "The command 'false' returned a non-zero code: 1"
    assert engine.containers.ids() == []


def test_missing_command_fails_cleanly(engine) -> None:
    result = build(engine, {"Dockerfile": 'FROM busybox\nRUN ["/no/such/binary"]\n'})
    assert result.error is not None
    assert engine.containers.ids() == []


def test_copy_errors_have_no_code(engine) -> None:
    result = build(engine, {"Dockerfile": "FROM busybox\nCOPY missing.txt /\n"})
    assert error_message(result.error) == {
        "errorDetail": {
            "message": "COPY failed: file not found in build context or excluded by "
            ".dockerignore: stat missing.txt: file does not exist"
        },
        "error": "COPY failed: file not found in build context or excluded by .dockerignore: "
        "stat missing.txt: file does not exist",
    }


def test_context_tar_escaping_is_refused(engine) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM busybox\n"), ("../evil", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    try:
        engine.builder.build(buf)
    except Exception as err:  # noqa: BLE001
        assert "invalid path in the build context: ../evil" in str(err)
    else:
        raise AssertionError("an escaping context was accepted")


def test_missing_dockerfile(engine) -> None:
    result = build(engine, {"other": "x"})
    assert "Cannot locate specified Dockerfile: Dockerfile" in str(result.error)
    result = build(engine, {"Dockerfile.dev": "FROM busybox\n"}, dockerfile="Dockerfile.prod")
    assert "Cannot locate specified Dockerfile: Dockerfile.prod" in str(result.error)
    result = build(engine, {"Dockerfile.dev": "FROM busybox\n"}, dockerfile="Dockerfile.dev")
    assert result.error is None


def test_cancel_kills_the_running_step(engine) -> None:
    import threading
    import time

    from buildsupport import tar_of

    cancel = threading.Event()
    messages: list[dict] = []
    outcome: dict = {}

    def on_message(m: dict) -> None:
        messages.append(m)
        if "Running in" in m.get("stream", ""):
            cancel.set()

    def run() -> None:
        try:
            engine.builder.build(
                tar_of({"Dockerfile": "FROM busybox\nRUN sleep 30\nRUN echo never\n"}),
                on_message=on_message,
                cancel=cancel,
                nocache=True,
            )
        except Exception as err:  # noqa: BLE001
            outcome["error"] = err

    started = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(20)
    assert not thread.is_alive()
    assert time.monotonic() - started < 10
    assert "context canceled" in str(outcome.get("error"))
    assert engine.containers.ids() == []
