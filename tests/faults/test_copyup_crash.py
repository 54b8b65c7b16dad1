"""kill -9 of the daemon in the middle of a volume copy-up: the next mount of the volume has
the whole image directory, never the part copied before the crash."""

from __future__ import annotations

import io
import os
import tarfile

from daemon_fixture import running_daemon

FILES = 300


def image_with_data(busybox_rootfs: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(os.listdir(busybox_rootfs)):
            tar.add(os.path.join(busybox_rootfs, name), arcname=name)
        d = tarfile.TarInfo("data")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(d)
        for i in range(FILES):
            data = f"file {i}\n".encode()
            info = tarfile.TarInfo(f"data/f{i:05d}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_copy_up_cut_by_a_crash_is_done_again(busybox_rootfs):
    with running_daemon() as d:
        r = d.docker(
            "import", "-c", 'CMD ["sh"]', "-", "data:1", input=image_with_data(busybox_rootfs)
        )
        assert r.returncode == 0, r.stderr
        assert d.docker("volume", "create", "vol").returncode == 0
        mp = os.path.join(d.data_root, "volumes", "vol", "_data")
        # a container whose mount fills the volume; the daemon dies after the first entry
        d.daemon_env = {"DOCKYARD_CRASH_AT": "volume.copy_up.entry"}
        d.restart()
        r = d.docker("run", "-d", "-v", "vol:/data", "data:1", "true")
        assert r.returncode != 0
        assert d.proc.wait(10) == -9
        assert 0 < len(os.listdir(mp)) < FILES  # half-filled on disk when the daemon died
        d.daemon_env = {}
        d.start()
        # start-up emptied the half copy: a mount that does no copy-up sees a new volume
        r = d.docker(
            "run",
            "--rm",
            "--mount",
            "type=volume,src=vol,dst=/x,volume-nocopy",
            "data:1",
            "sh",
            "-c",
            "ls /x | wc -l",
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "0"
        r = d.docker("run", "--rm", "-v", "vol:/data", "data:1", "sh", "-c", "ls /data | wc -l")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == str(FILES)
        assert len(os.listdir(mp)) == FILES
        assert not os.path.exists(os.path.join(d.data_root, "volumes", "vol", "copy-up.incomplete"))
