"""CVE-2019-5736: a container process opened the runtime's binary through /proc/<pid>/exe
of a runtime process that had entered the container, and overwrote it on the host.

Our runtime is not a binary of its own: the container's init and every exec'd process are
forks of the engine's Python until they execute the user's program, so /proc/<pid>/exe of
such a process is the host's Python interpreter. They make themselves non-dumpable first,
so a process of the container cannot open that link at all (without CAP_SYS_PTRACE), and
the interpreter is never writable while any Python of the engine runs it (ETXTBSY). The
program itself is executed through a sealed memfd trampoline (dockyard.linux.execfd), so
no exec in the container, not even of a `#!/proc/self/exe` script, loads the host's Python.

A watcher in container A tries to open /proc/<pid>/exe for writing for every process it
can see that is not its own shell tools: the init of a second container made in A's pid
namespace and left waiting for `start` (a Python fork for as long as we like), execs
entering A, and a script of A whose interpreter line is `#!/proc/self/exe`. Nothing may be
opened for writing and the host interpreter's bytes must not change."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid

import pytest

from daemon_fixture import running_daemon
from dockyard.runtime.defaults import default_spec
from dockyard.runtime.runtime import Runtime

PYTHON = os.path.realpath(sys.executable)

WATCHER = r"""
printf '#!/proc/self/exe\n' > /tmp/evil && chmod +x /tmp/evil
while [ ! -e /tmp/stop ]; do
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    comm=$(cat "$d/comm" 2>/dev/null) || continue
    case "$comm" in sh|cat|sleep|ls|true) continue;; esac
    exe=$(readlink "$d/exe" 2>/dev/null) && echo "EXE $p $exe"
    if (exec 3<>"$d/exe") 2>/dev/null; then echo "OPENED-FOR-WRITE $p $comm"
    else echo "DENIED $p $comm"; fi
  done
done
echo watcher-done
"""


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


def _waiting_init_in_pid_namespace_of(tmp_path, busybox_rootfs, pid: int):
    """A container created by the runtime in the pid namespace of `pid`, not started: its
    init is a fork of this Python until `start`."""
    bundle = tmp_path / "bundle"
    shutil.copytree(busybox_rootfs, bundle / "rootfs", symlinks=True)
    conf = default_spec()
    conf["process"].update(terminal=False, args=["true"])
    conf["root"] = {"path": "rootfs", "readonly": True}
    conf["linux"]["cgroupsPath"] = f"/dockyard-hostile-{uuid.uuid4().hex[:8]}"
    for ns in conf["linux"]["namespaces"]:
        if ns["type"] == "pid":
            ns["path"] = f"/proc/{pid}/ns/pid"
    (bundle / "config.json").write_text(json.dumps(conf))
    rt = Runtime(str(tmp_path / "state"))
    null = os.open("/dev/null", os.O_RDWR)
    try:
        init = rt.create("waiting", str(bundle), stdin=null, stdout=null, stderr=null)
    finally:
        os.close(null)
    return rt, init


@pytest.mark.parametrize("caps", [[], ["--cap-add", "SYS_PTRACE"]], ids=["default", "ptrace"])
def test_runtime_processes_cannot_be_opened_for_writing_through_proc_exe(
    d, tmp_path, busybox_rootfs, hx, caps
):
    before = hx.file_digest(PYTHON)
    name = f"watch{uuid.uuid4().hex[:8]}"
    r = d.docker("run", "-d", "--name", name, *caps, "busybox", "sh", "-c", WATCHER)
    assert r.returncode == 0, r.stderr
    rt = init = None
    try:
        pid = int(d.docker("inspect", "-f", "{{.State.Pid}}", name).stdout)
        rt, init = _waiting_init_in_pid_namespace_of(tmp_path, busybox_rootfs, pid)
        with open(f"/proc/{init}/comm") as f:
            init_comm = f.read().strip()
        with open(f"/proc/{init}/status") as f:
            nspid = [line.split()[-1] for line in f if line.startswith("NSpid:")][0]
        # the watcher must have tried the waiting init (the control that it works)
        deadline = time.monotonic() + 20
        while f"DENIED {nspid} {init_comm}" not in d.docker("logs", name).stdout:
            assert time.monotonic() < deadline, d.docker("logs", name).stdout[-2000:]
            time.sleep(0.1)
        # execs entering A are Python forks too until they execute their program
        for _ in range(20):
            assert d.docker("exec", name, "true").returncode == 0
        # and a script whose interpreter is /proc/self/exe (the original attack's door):
        # the interpreter it gets is the sealed trampoline, which has nothing to run
        for _ in range(5):
            r = d.docker("exec", name, "/tmp/evil")
            assert "python" not in (r.stdout + r.stderr).lower(), r
        # the waiting init must be gone (reaped by us) before A's pid namespace can end
        rt.delete("waiting", force=True)
        os.waitpid(init, 0)
        rt = None
        d.docker("exec", name, "touch", "/tmp/stop")
        assert d.docker("wait", name).stdout.strip() == "0"
    finally:
        if rt is not None:
            rt.delete("waiting", force=True)
            os.waitpid(init, 0)
        logs = d.docker("logs", name).stdout
        d.docker("rm", "-f", name)
    assert "watcher-done" in logs
    assert "OPENED-FOR-WRITE" not in logs, logs
    # No process of the container ever ran the host's interpreter as its program: without
    # CAP_SYS_PTRACE only dumpable processes (programs, not the runtime's forks) show their
    # exe, so a Python there would be the interpreter loaded by an exec in the container.
    exes = {line.split(" ", 2)[2] for line in logs.splitlines() if line.startswith("EXE ")}
    if not caps:
        assert not any(PYTHON in exe or "python" in exe for exe in exes), exes
        assert "/memfd:dockyard-exec (deleted)" in exes or "/bin/busybox" in exes, exes
    assert hx.file_digest(PYTHON) == before


@pytest.mark.parametrize("program", ["/proc/self/exe", "/proc/1/exe"])
def test_the_runtime_interpreter_is_not_a_program_of_the_container(d, hx, program):
    """Running /proc/self/exe (the host's Python until the exec) is refused by name."""
    before = hx.file_digest(PYTHON)
    r = d.docker("run", "--rm", "busybox", program, "-c", "print('host python ran')")
    assert r.returncode != 0
    assert "a /proc magic link is not a program" in r.stderr, r.stderr
    name = f"magic{uuid.uuid4().hex[:8]}"
    assert d.docker("run", "-d", "--name", name, "busybox", "sleep", "60").returncode == 0
    try:
        r = d.docker("exec", name, program, "-c", "print('host python ran')")
        out = r.stdout + r.stderr
        assert "a /proc magic link is not a program" in out, out
        assert "host python ran" not in out
    finally:
        d.docker("rm", "-f", name)
    assert hx.file_digest(PYTHON) == before
