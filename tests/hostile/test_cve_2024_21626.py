"""CVE-2024-21626: a working directory of /proc/self/fd/N (WORKDIR in the image, `run -w`,
`exec -w`) that names a descriptor the runtime leaked gave runc's container a cwd in the
host's tree. Here no descriptor of the host reaches the container's processes (they are
closed before set-up), and the cwd is resolved inside the container's root where magic links
are refused: every such request is refused with a clear error naming process.cwd, and the
container never sees a file of the host."""

from __future__ import annotations

import uuid

import pytest

from daemon_fixture import running_daemon

FDS = range(3, 10)
PROBE = "pwd; ls -a . .. ../.. ../../.. 2>&1"


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


def _marked(sentinel) -> str:
    marker = f"HOST_MARKER_{uuid.uuid4().hex}"
    with open(f"{sentinel.path}/{marker}", "w"):
        pass
    return marker


def _refused(r, n: int) -> None:
    assert r.returncode != 0, r.stdout
    assert f"process.cwd /proc/self/fd/{n}" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("n", FDS)
def test_workdir_of_the_image_on_proc_self_fd(d, busybox_rootfs, sentinel, hx, n):
    marker = _marked(sentinel)
    before = sentinel.digest()
    tag = hx.import_image(d, hx.image_tar(busybox_rootfs, {}), f"WORKDIR /proc/self/fd/{n}")
    r = d.docker("run", "--rm", tag, "sh", "-c", PROBE)
    _refused(r, n)
    assert marker not in r.stdout + r.stderr
    assert sentinel.digest() == before


def test_run_w_on_proc_self_fd(d, sentinel):
    marker = _marked(sentinel)
    for n in FDS:
        r = d.docker("run", "--rm", "-w", f"/proc/self/fd/{n}", "busybox", "sh", "-c", PROBE)
        _refused(r, n)
        assert marker not in r.stdout + r.stderr


def test_exec_w_on_proc_self_fd(d, sentinel):
    marker = _marked(sentinel)
    name = f"cwd{uuid.uuid4().hex[:8]}"
    assert d.docker("run", "-d", "--name", name, "busybox", "sleep", "60").returncode == 0
    try:
        for n in FDS:
            r = d.docker("exec", "-w", f"/proc/self/fd/{n}", name, "sh", "-c", PROBE)
            # Docker prints an exec's start failure into the attached stream (stdout)
            out = r.stdout + r.stderr
            assert f"process.cwd /proc/self/fd/{n}" in out, out
            assert "OCI runtime exec failed" in out, out
            assert marker not in out
        # the container is unharmed and a normal exec -w still works
        r = d.docker("exec", "-w", "/tmp", name, "pwd")
        assert (r.returncode, r.stdout.strip()) == (0, "/tmp"), r.stderr
    finally:
        d.docker("rm", "-f", name)


def test_container_processes_hold_no_host_descriptor(d):
    """The init and an exec'd process have only their stdio (pipes, /dev/null, a pty)."""
    name = f"fds{uuid.uuid4().hex[:8]}"
    script = "ls -l /proc/$$/fd; sleep 60"
    assert d.docker("run", "-d", "--name", name, "busybox", "sh", "-c", script).returncode == 0
    try:
        r = d.docker("exec", name, "sh", "-c", "ls -l /proc/$$/fd")
        assert r.returncode == 0, r.stderr
        logs = d.docker("logs", name)
        for text in (r.stdout, logs.stdout):
            targets = [line.split(" -> ", 1)[1] for line in text.splitlines() if " -> " in line]
            assert targets, text
            for target in targets:
                assert target.startswith(("pipe:", "/dev/null", "/dev/pts/", "socket:")), text
    finally:
        d.docker("rm", "-f", name)
