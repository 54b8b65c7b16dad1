"""CVE-2025-31133 (masked paths bind the container's /dev/null: a /dev/null that is a symlink
to /proc/sys/kernel/core_pattern made runc bind the host's sysctl where /proc/keys was
masked) and CVE-2025-52565 (the same with /dev/console and the pty bound onto it).

The container's /dev comes from a volume that another container filled, so the image's
owner controls /dev/null, /dev/console and /dev/ptmx. The runtime resolves them inside the
root, checks what it opened (the 1:3 character device, the 5:2 multiplexer, a plain file
for the console) and mounts from and onto those descriptors; anything else is refused with
a clear error, and the host's core_pattern never changes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import time
import uuid

import pytest

from daemon_fixture import running_daemon
from dockyard.errors import DockyardError
from dockyard.runtime.defaults import default_spec
from dockyard.runtime.runtime import Runtime

CORE_PATTERN = "/proc/sys/kernel/core_pattern"


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


def _core_pattern() -> str:
    with open(CORE_PATTERN) as f:
        return f.read()


def _volume_with(d, script: str) -> str:
    """A fresh volume filled by a container that sees it at /mnt."""
    name = f"devvol{uuid.uuid4().hex[:8]}"
    r = d.docker("run", "--rm", "-v", f"{name}:/mnt", "busybox", "sh", "-euc", script)
    assert r.returncode == 0, r.stderr
    return name


ATTACKS = {
    "symlink-to-core-pattern": f"ln -s {CORE_PATTERN} /mnt/null",
    "climbing-symlink": f"ln -s ../../../../../../..{CORE_PATTERN} /mnt/null",
    "regular-file": "echo not-null > /mnt/null",
    "wrong-device": "mknod /mnt/null c 1 5",  # /dev/zero's numbers
    "missing": "true",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_invalid_dev_null_is_refused_before_masking(d, sentinel, attack):
    volume = _volume_with(d, ATTACKS[attack])
    before, digest = _core_pattern(), sentinel.digest()
    r = d.docker("run", "--rm", "-v", f"{volume}:/dev", "busybox", "sh", "-c", "echo RAN")
    assert r.returncode != 0
    assert "RAN" not in r.stdout
    assert "can't mask paths" in r.stderr, r.stderr
    if attack != "missing":
        assert "container's /dev/null is invalid" in r.stderr, r.stderr
    assert _core_pattern() == before
    assert sentinel.digest() == digest


def test_a_valid_dev_null_in_a_volume_masks_as_before(d):
    """The control: the same /dev volume with a real null device works, and /proc/keys (a
    masked file) is that device; /proc/sys stays read-only."""
    volume = _volume_with(d, "mknod /mnt/null c 1 3 && chmod 666 /mnt/null")
    r = d.docker(
        "run",
        "--rm",
        "-v",
        f"{volume}:/dev",
        "busybox",
        "sh",
        "-c",
        "stat -c '%t:%T' /proc/keys; echo x > /proc/sys/kernel/core_pattern || echo RO",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1:3", "RO"], r.stdout


SWAPPER = """
i=0
while [ ! -e /mnt/stop ]; do
  rm -f /mnt/null.new
  if [ $((i % 2)) = 0 ]; then ln -s /proc/sys/kernel/core_pattern /mnt/null.new
  else mknod /mnt/null.new c 1 3; fi
  mv -f /mnt/null.new /mnt/null
  i=$((i + 1))
done
"""


def test_dev_null_swapped_in_a_loop_never_binds_core_pattern(d):
    """A second container swaps /dev/null between the device and a symlink to core_pattern
    while containers start on that /dev: each start is refused or masks with the device."""
    volume = _volume_with(d, "mknod /mnt/null c 1 3")
    name = f"swap{uuid.uuid4().hex[:8]}"
    r = d.docker(
        "run", "-d", "--name", name, "-v", f"{volume}:/mnt", "busybox", "sh", "-c", SWAPPER
    )
    assert r.returncode == 0, r.stderr
    before = _core_pattern()
    outcomes = {"masked": 0, "refused": 0}
    try:
        deadline = time.monotonic() + 45
        for _ in range(40):
            if time.monotonic() > deadline:
                break
            r = d.docker(
                "run",
                "--rm",
                "-v",
                f"{volume}:/dev",
                "busybox",
                "stat",
                "-L",
                "-c",
                "%t:%T",
                "/proc/keys",
            )
            if r.returncode == 0:
                assert r.stdout.strip() == "1:3", r.stdout
                outcomes["masked"] += 1
            else:  # the symlink at the check, or the checked device unlinked since
                assert "can't mask paths" in r.stderr, r.stderr
                outcomes["refused"] += 1
            assert _core_pattern() == before
    finally:
        d.docker("exec", name, "touch", "/mnt/stop")
        d.docker("rm", "-f", name)
    assert sum(outcomes.values()) >= 5, outcomes


# ---------------------------------------------------------------- CVE-2025-52565
# With the engine, a /dev volume comes without a devpts (Docker drops its /dev mounts then),
# so a terminal cannot be set up there at all; the runtime is driven directly with a bundle
# whose /dev is a host directory the attacker filled, plus a devpts on /dev/pts.
CONSOLE_ATTACKS = {
    "console-symlink": lambda dev: os.symlink(CORE_PATTERN, dev / "console"),
    "console-climbing-symlink": lambda dev: os.symlink(
        "../../../../../.." + CORE_PATTERN, dev / "console"
    ),
    "console-directory": lambda dev: (dev / "console").mkdir(),
    "ptmx-to-core-pattern": lambda dev: (
        os.unlink(dev / "ptmx"),
        os.symlink(CORE_PATTERN, dev / "ptmx"),
    ),
}


def _tty_bundle(tmp_path, busybox_rootfs, args):
    bundle = tmp_path / "bundle"
    shutil.copytree(busybox_rootfs, bundle / "rootfs", symlinks=True)
    dev = tmp_path / "attacker-dev"
    (dev / "pts").mkdir(parents=True)
    os.mknod(dev / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.symlink("pts/ptmx", dev / "ptmx")
    conf = default_spec()
    conf["process"]["args"] = args
    conf["root"] = {"path": "rootfs", "readonly": False}
    conf["linux"]["cgroupsPath"] = f"/dockyard-hostile-{uuid.uuid4().hex[:8]}"
    for m in conf["mounts"]:
        if m["destination"] == "/dev":
            m.clear()
            m.update(destination="/dev", type="bind", source=str(dev), options=["rbind"])
    (bundle / "config.json").write_text(json.dumps(conf))
    return bundle, dev


def _console_listener(tmp_path):
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(10)
    return path, srv


@pytest.mark.parametrize("attack", sorted(CONSOLE_ATTACKS))
def test_cve_2025_52565_console_is_never_bound_through_a_swapped_path(
    tmp_path, busybox_rootfs, attack
):
    bundle, dev = _tty_bundle(tmp_path, busybox_rootfs, ["true"])
    CONSOLE_ATTACKS[attack](dev)
    before = _core_pattern()
    rt = Runtime(str(tmp_path / "state"))
    path, srv = _console_listener(tmp_path)
    try:
        with pytest.raises(DockyardError) as e:
            rt.create("console", str(bundle), console_socket=path)
    finally:
        srv.close()
    expected = (
        "container's /dev/ptmx is not the pty multiplexer"
        if "ptmx" in attack
        else "container's /dev/console is not a file"
    )
    assert expected in str(e.value)
    assert _core_pattern() == before
    assert rt.list() == []
    assert str(dev) not in open("/proc/self/mountinfo").read()


def test_console_control_the_pty_is_bound_on_a_plain_file(tmp_path, busybox_rootfs):
    bundle, dev = _tty_bundle(
        tmp_path, busybox_rootfs, ["sh", "-c", "stat -c %t /dev/console > /tmp/major"]
    )
    rt = Runtime(str(tmp_path / "state"))
    path, srv = _console_listener(tmp_path)
    try:
        pid = rt.create("console", str(bundle), console_socket=path)
        conn, _ = srv.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        try:
            rt.start("console")
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        finally:
            os.close(fds[0])
            rt.delete("console", force=True)
    finally:
        srv.close()
    major = (bundle / "rootfs" / "tmp" / "major").read_text().strip()
    assert int(major, 16) in range(136, 144)
    assert (dev / "console").is_file()  # the bind is gone with the container
