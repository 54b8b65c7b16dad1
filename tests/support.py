"""Helpers shared by the tests and the benchmarks: test root filesystems and probes."""

from __future__ import annotations

import os
import shutil
import subprocess

BUSYBOX = "/bin/busybox"
# Docker's Engine API reference (moby, Apache-2.0: tests/data/LICENSE-moby)
ENGINE_API_SPEC = os.path.join(os.path.dirname(__file__), "data", "docker-engine-api-v1.47.yaml")


def make_busybox_rootfs(dest: str) -> str:
    """Make a minimal root filesystem from Debian's busybox-static in `dest`.

    /bin/busybox plus a symlink per applet, and the directories a container expects.
    """
    if not os.path.exists(BUSYBOX):
        raise RuntimeError("busybox-static is not installed (make install)")
    for d in (
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "var",
        "home",
    ):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(dest, "bin/busybox"))
    applets = subprocess.run(
        [BUSYBOX, "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        link = os.path.join(dest, applet)
        if not os.path.lexists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink("/bin/busybox", link)
    with open(os.path.join(dest, "etc/passwd"), "w") as f:
        f.write(
            "root:x:0:0:root:/root:/bin/sh\n"
            "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
            "nobody:x:65534:65534:nobody:/home:/bin/false\n"
        )
    with open(os.path.join(dest, "etc/group"), "w") as f:
        f.write("root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n")
    return dest


def is_root() -> bool:
    return os.geteuid() == 0


class OutputLines:
    """Complete lines from a child's stdout pipe, read straight from its descriptor.

    select() on a buffered pipe file misses lines that an earlier readline() already pulled
    into the file's buffer, so tests that wait for output read the descriptor themselves.
    """

    def __init__(self, pipe) -> None:  # type: ignore[no-untyped-def]
        self.fd = pipe.fileno()
        self.lines: list[str] = []
        self.partial = b""

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def read_until(self, predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        """Read until predicate(self.lines) holds, the pipe closes or `timeout` passes."""
        import select
        import time

        deadline = time.monotonic() + timeout
        while not predicate(self.lines):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.fd], [], [], min(0.5, left))
            if not ready:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            *complete, self.partial = (self.partial + chunk).split(b"\n")
            self.lines.extend(line.decode(errors="replace") + "\n" for line in complete)
        return predicate(self.lines)
