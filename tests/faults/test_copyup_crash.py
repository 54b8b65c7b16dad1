"""kill -9 of the daemon in the middle of a volume copy-up: the next mount of the volume has
the whole image directory, never the part copied before the crash."""

from __future__ import annotations

import io
import os
import tarfile
import time

from daemon_fixture import running_daemon

FILES = 4000


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
        # start a container whose mount fills the volume, and kill the daemon half way
        proc = d.docker_popen("run", "-d", "-v", "vol:/data", "data:1", "true")
        deadline = time.monotonic() + 60
        seen = 0
        while time.monotonic() < deadline:
            seen = len(os.listdir(mp))
            if 0 < seen < FILES // 2:
                d.kill9()
                break
            time.sleep(0.001)
        proc.wait(30)
        assert 0 < seen < FILES, f"the copy was not caught in the middle ({seen} files)"
        assert 0 < len(os.listdir(mp)) < FILES  # half-filled on disk when the daemon died
        d.start()
        r = d.docker("run", "--rm", "-v", "vol:/data", "data:1", "sh", "-c", "ls /data | wc -l")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == str(FILES)
        assert len(os.listdir(mp)) == FILES
        assert not os.path.exists(os.path.join(d.data_root, "volumes", "vol", "copy-up.incomplete"))
