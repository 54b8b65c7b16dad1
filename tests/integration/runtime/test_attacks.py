"""Acceptance 6 of issue 2: nothing of the host leaks in.

- descriptors: the caller holds a descriptor on a host directory (inheritable and not); the
  container sees only 0, 1, 2 and what was passed, and a cwd of /proc/self/fd/N (the trick of
  runc's CVE-2024-21626) never lands in a host directory;
- /proc/PID/exe: a process in the container watches every pid while we exec into it, opens
  the executable of every process and reports any that is not busybox (runc's CVE-2019-5736):
  the runtime's forked Python child must be unreachable, while a control process (a second
  busybox binary) proves that the watcher does see and open other executables.
"""

from __future__ import annotations

import json
import os
import shutil
import time

from dockyard.runtime import wait_status


def _read_output(path: str) -> str:
    with open(path) as f:
        return f.read()


def test_only_given_descriptors_reach_the_container(bundles, rt, tmp_path):
    secret = tmp_path / "host-secret-dir"
    secret.mkdir()
    (secret / "HOST_MARKER").write_text("x")
    leak_inheritable = os.open(secret, os.O_RDONLY | os.O_DIRECTORY)
    os.set_inheritable(leak_inheritable, True)
    leak_cloexec = os.open(secret, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    r, w = os.pipe()
    out_path = str(tmp_path / "out")
    script = (
        "ls -l /proc/$$/fd/; "
        "echo cwd $(readlink /proc/self/cwd); "
        "for n in 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do ls /proc/$$/fd/$n/ 2>/dev/null; done; "
        "echo passed-through >&3"
    )
    bundle = bundles.make(["sh", "-c", script])
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        assert rt.run("fds", bundle, stdout=out, stderr=out, extra_fds=[w]) == 0
    finally:
        for fd in (out, leak_inheritable, leak_cloexec, w):
            os.close(fd)
    assert os.read(r, 100) == b"passed-through\n"
    os.close(r)
    text = _read_output(out_path)
    assert "HOST_MARKER" not in text
    live = {}
    for line in text.splitlines():
        if " -> " in line:  # ls -l of the shell's descriptors, from another process
            left, target = line.split(" -> ", 1)
            live[int(left.split()[-1])] = target
    assert set(live) == {0, 1, 2, 3}, text
    assert live[1] == live[2] == out_path
    assert live[3].startswith("pipe:")
    assert "cwd /\n" in text


def test_exec_gets_only_given_descriptors(bundles, rt, tmp_path):
    """The same for a process entering a running container: the caller's descriptors on a
    host directory (inheritable or not) stay out; a passed pipe gets in as fd 3."""
    secret = tmp_path / "host-secret-dir"
    secret.mkdir()
    (secret / "HOST_MARKER").write_text("x")
    leaks = [
        os.open(secret, os.O_RDONLY | os.O_DIRECTORY),
        os.open(secret, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC),
    ]
    os.set_inheritable(leaks[0], True)
    r, w = os.pipe()
    out_path = str(tmp_path / "out")
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT, 0o644)
    pid = rt.create("fds-exec", bundles.make(["sleep", "30"]), stdout=out, stderr=out)
    try:
        rt.start("fds-exec")
        child = rt.exec(
            "fds-exec",
            {
                "args": [
                    "sh",
                    "-c",
                    "ls -l /proc/$$/fd/; echo cwd $(readlink /proc/self/cwd); "
                    "for n in 3 4 5 6 7 8 9 10 11 12; do ls /proc/$$/fd/$n/ 2>/dev/null; done; "
                    "echo passed-through >&3",
                ],
                "cwd": "/",
            },
            stdout=out,
            stderr=out,
            extra_fds=[w],
        )
        assert wait_status(child) == 0
    finally:
        rt.delete("fds-exec", force=True)
        wait_status(pid)
        for fd in (out, w, *leaks):
            os.close(fd)
    assert os.read(r, 100) == b"passed-through\n"
    os.close(r)
    text = _read_output(out_path)
    assert "HOST_MARKER" not in text
    live = {}
    for line in text.splitlines():
        if " -> " in line:
            left, target = line.split(" -> ", 1)
            live[int(left.split()[-1])] = target
    assert set(live) == {0, 1, 2, 3}, text
    assert live[1] == live[2] == out_path
    assert live[3].startswith("pipe:")
    assert "cwd /\n" in text


def test_cwd_through_proc_self_fd_stays_inside(bundles, rt, tmp_path):
    secret = tmp_path / "host-secret-dir"
    secret.mkdir()
    (secret / "HOST_MARKER").write_text("x")
    leaks = [os.open(secret, os.O_RDONLY | os.O_DIRECTORY) for _ in range(4)]
    for fd in leaks:
        os.set_inheritable(fd, True)
    out_path = str(tmp_path / "out")
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    refusals: list[str] = []
    try:
        for n in range(3, 12):

            def edit(conf, n=n):
                conf["process"]["cwd"] = f"/proc/self/fd/{n}"

            bundle = bundles.make(["sh", "-c", "pwd; ls . .. ../.. 2>&1"], edit=edit)
            try:
                status = rt.run(f"cwd-{n}", bundle, stdout=out, stderr=out)
            except Exception as e:  # noqa: BLE001 - a clear refusal is a pass
                refusals.append(str(e))
                continue
            assert status == 0
        # the same through exec into a running container
        pid = rt.create("cwd-exec", bundles.make(["sleep", "30"]), stdout=out, stderr=out)
        try:
            rt.start("cwd-exec")
            for n in range(3, 12):
                proc = {
                    "args": ["sh", "-c", "pwd; ls . .. ../.. 2>&1"],
                    "cwd": f"/proc/self/fd/{n}",
                }
                try:
                    child = rt.exec("cwd-exec", proc, stdout=out, stderr=out)
                except Exception as e:  # noqa: BLE001 - a clear refusal is a pass
                    refusals.append(str(e))
                    continue
                assert wait_status(child) == 0
        finally:
            rt.delete("cwd-exec", force=True)
            wait_status(pid)
    finally:
        os.close(out)
        for fd in leaks:
            os.close(fd)
    assert "HOST_MARKER" not in _read_output(out_path)
    assert rt.list() == []
    for message in refusals:
        assert "process.cwd /proc/self/fd/" in message, message


WATCHER = r"""
while [ ! -e /tmp/stop ]; do
  for d in /proc/[0-9]*; do
    [ "$d" = /proc/$$ ] && continue
    {
      if [ /proc/self/fd/3 -ef /bin/busybox2 ]; then echo "CONTROL $d"
      elif [ /proc/self/fd/3 -ef /bin/busybox ]; then :
      else
        case "$(readlink /proc/self/fd/3)" in
          # the sealed exec trampoline (dockyard.linux.execfd): reachable, never writable
          "/memfd:dockyard-exec (deleted)")
            if (printf x >/proc/self/fd/3) 2>/dev/null; then echo "LEAK-WRITABLE $d"
            else echo "SEALED $d"; fi;;
          *) echo "LEAK $d $(readlink /proc/self/fd/3)";;
        esac
      fi
    } 3<"$d/exe" 2>/dev/null
  done
done
echo watcher-done
"""


def test_exec_child_is_not_reachable_through_proc_exe(bundles, rt, tmp_path):
    bundle = bundles.make(["sh", "-c", WATCHER], writable=True)
    rootfs = os.path.join(bundle, "rootfs")
    shutil.copy2(os.path.join(rootfs, "bin/busybox"), os.path.join(rootfs, "bin/busybox2"))
    out_path = str(tmp_path / "watch")
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT, 0o644)
    null = os.open("/dev/null", os.O_RDWR)
    try:
        pid = rt.create("watch", bundle, stdout=out, stderr=null)
    finally:
        os.close(out)
    try:
        rt.start("watch")
        # the exec'd process has the container's own process settings (caps and all), as
        # `runc exec` gives it: the watcher may ptrace-read it once it runs its program
        with open(os.path.join(bundle, "config.json")) as f:
            base = json.load(f)["process"]
        # control: a process the watcher must spot (a busybox that is not /bin/busybox)
        control = rt.exec(
            "watch",
            {**base, "args": ["/bin/busybox2", "sleep", "1"]},
            stdin=null,
            stdout=null,
            stderr=null,
        )
        assert wait_status(control) == 0
        deadline = time.monotonic() + 5
        while "CONTROL" not in _read_output(out_path):
            assert time.monotonic() < deadline, "the watcher does not work"
            time.sleep(0.05)
        for _ in range(30):
            child = rt.exec(
                "watch", {**base, "args": ["true"]}, stdin=null, stdout=null, stderr=null
            )
            assert wait_status(child) == 0
        with open(os.path.join(rootfs, "tmp/stop"), "w"):
            pass
        assert wait_status(pid) == 0
    finally:
        os.close(null)
        rt.delete("watch", force=True)
    text = _read_output(out_path)
    assert "watcher-done" in text
    assert "LEAK" not in text, text
