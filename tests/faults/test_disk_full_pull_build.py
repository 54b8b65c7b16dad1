"""A pull and a build that meet a full disk: a clear error (the errno's words, no traceback),
nothing half-made kept as if whole, the daemon alive, and both succeed once there is room."""

from __future__ import annotations

import os
import socket
import subprocess

from daemon_fixture import running_daemon
from faults.test_disk_full_removal import _fill


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pull_and_build_on_a_full_disk(busybox_rootfs, tmp_path):
    port = free_port()
    with running_daemon(config={"registry-addr": f"127.0.0.1:{port}"}, start=False) as d:
        os.makedirs(d.data_root)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", d.data_root], check=True)
        try:
            d.start()
            d.import_busybox(busybox_rootfs)
            remote = f"127.0.0.1:{port}/full/bb:1"
            assert d.docker("tag", "busybox", remote).returncode == 0
            r = d.docker("push", remote)
            assert r.returncode == 0, r.stderr
            # a second image only the registry has: its layer is not here any more
            d.import_busybox(busybox_rootfs, tag="other:1")
            assert d.docker("tag", "other:1", f"127.0.0.1:{port}/full/other:1").returncode == 0
            assert d.docker("push", f"127.0.0.1:{port}/full/other:1").returncode == 0
            for ref in ("other:1", f"127.0.0.1:{port}/full/other:1"):
                assert d.docker("rmi", ref).returncode == 0
            (tmp_path / "Dockerfile").write_text(
                "FROM busybox\nRUN head -c 2000000 /dev/zero > /z\n"
            )
            filler = os.path.join(d.data_root, "filler")
            _fill(filler)

            r = d.docker("pull", f"127.0.0.1:{port}/full/other:1")
            assert r.returncode != 0
            assert "no space left on device" in r.stderr, r.stderr
            assert "Errno" not in r.stderr
            assert "Traceback" not in r.stderr
            r = d.dockyard("build", "-t", "built:1", str(tmp_path), timeout=120)
            assert r.returncode != 0
            assert "no space left on device" in r.stdout + r.stderr, r.stdout + r.stderr
            assert "Errno" not in r.stdout + r.stderr
            assert "Traceback" not in r.stdout + r.stderr
            images = d.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
            assert f"127.0.0.1:{port}/full/other:1" not in images and "built:1" not in images

            os.unlink(filler)
            r = d.docker("pull", f"127.0.0.1:{port}/full/other:1")
            assert r.returncode == 0, r.stderr
            r = d.dockyard("build", "-t", "built:1", str(tmp_path), timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr
            r = d.docker("run", "--rm", f"127.0.0.1:{port}/full/other:1", "true")
            assert r.returncode == 0, r.stderr
        finally:
            d.stop()
            subprocess.run(["umount", "-l", d.data_root], capture_output=True)
