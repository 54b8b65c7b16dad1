"""The sealed exec trampoline: it executes the program with its own argv and environment,
reports a failed exec on the report descriptor, and nobody can write it."""

from __future__ import annotations

import errno
import fcntl
import json
import os

import pytest

from dockyard.linux import execfd

pytestmark = pytest.mark.skipif(not execfd.available(), reason="x86_64 only")


def _run_through_trampoline(
    path: str, args: list[str], env: dict[str, str], report_fd: int | None = None
):
    tramp = execfd.sealed_trampoline()
    assert tramp is not None
    out_r, out_w = os.pipe()
    rep_r, rep_w = os.pipe()
    if report_fd is not None:  # the report descriptor at the first free number from there
        high = fcntl.fcntl(rep_w, fcntl.F_DUPFD, report_fd)
        os.close(rep_w)
        rep_w = high
        assert report_fd <= rep_w < 256, rep_w
        env = {**env, "REPORT_FD": str(rep_w)}
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.dup2(out_w, 1)
            execfd.execute(tramp, rep_w, path, args, env)
        finally:
            os._exit(99)
    os.close(out_w)
    os.close(rep_w)
    os.close(tramp)
    out = b"".join(iter(lambda: os.read(out_r, 65536), b""))
    report = b"".join(iter(lambda: os.read(rep_r, 65536), b""))
    _, status = os.waitpid(pid, 0)
    os.close(out_r)
    os.close(rep_r)
    return os.waitstatus_to_exitcode(status), out, report


def test_the_program_gets_its_argv_and_environment():
    code, out, report = _run_through_trampoline(
        "/bin/sh", ["sh", "-c", 'echo "$0|$1|$X"', "zero", "one"], {"X": "env-ok"}
    )
    assert (code, out, report) == (0, b"zero|one|env-ok\n", b"")
    # argv[0] is the program's own (busybox picks its applet by it)
    if os.path.exists("/bin/busybox"):
        code, out, _ = _run_through_trampoline("/bin/busybox", ["echo", "hi"], {})
        assert (code, out) == (0, b"hi\n")


def test_a_failed_exec_is_reported_as_a_message_line():
    code, out, report = _run_through_trampoline("/nonexistent/prog", ["prog"], {})
    assert code == 127 and out == b""
    assert json.loads(report) == {"t": "error", "message": "exec failed: errno 002"}


@pytest.mark.parametrize("fd", [127, 128, 200, 250])
def test_a_report_descriptor_of_any_byte_value_is_used_and_not_leaked(fd):
    """The descriptor goes to the trampoline as one raw byte (from 128 on, a str argument
    was encoded as two bytes: the report went to another descriptor and this one leaked
    into the program)."""
    code, out, report = _run_through_trampoline("/nonexistent/prog", ["prog"], {}, fd)
    assert code == 127 and json.loads(report)["message"] == "exec failed: errno 002"
    script = '[ -e "/proc/self/fd/$REPORT_FD" ] && echo "leaked $REPORT_FD" || echo closed'
    code, out, _ = _run_through_trampoline("/bin/sh", ["sh", "-c", script], {}, fd)
    assert (code, out) == (0, b"closed\n")


def test_the_trampoline_cannot_be_written_or_grown():
    tramp = execfd.sealed_trampoline()
    try:
        with pytest.raises(PermissionError):
            os.pwrite(tramp, b"\x90", 200)
        with pytest.raises(PermissionError):
            os.ftruncate(tramp, 0)
        with pytest.raises(PermissionError):
            fd = os.open(f"/proc/self/fd/{tramp}", os.O_WRONLY)
            try:
                os.write(fd, b"x")
            finally:
                os.close(fd)
    finally:
        os.close(tramp)


def test_check_format_refuses_what_the_kernel_cannot_execute(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a program")
    with pytest.raises(OSError) as e:
        execfd.check_format(str(junk))
    assert e.value.errno == errno.ENOEXEC and e.value.filename == str(junk)
    script = tmp_path / "script"
    script.write_bytes(b"#!/bin/sh\n")
    execfd.check_format(str(script))
    execfd.check_format("/bin/sh")
