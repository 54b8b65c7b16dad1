"""A full disk can be cleaned up through the API: removal needs no new space, and what the
daemon holds in memory changes only once the disk agrees."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess

from daemon_fixture import running_daemon


def _fill(path: str) -> None:
    """Take every free block of the file system holding `path`."""
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)
    st = os.statvfs(path)
    assert st.f_bavail * st.f_frsize < (64 << 10), "the disk is not full"


def _tags(d) -> list[str]:
    r = d.docker("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert r.returncode == 0, r.stderr
    return sorted(r.stdout.split())


def test_rm_rmi_and_prune_work_on_a_full_disk(busybox_rootfs):
    with running_daemon(start=False) as d:
        os.makedirs(d.data_root)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", d.data_root], check=True)
        try:
            d.start()
            d.import_busybox(busybox_rootfs)
            for tag in ("one:1", "two:1", "three:1"):
                assert d.docker("tag", "busybox", tag).returncode == 0
            r = d.docker("create", "--name", "c1", "busybox", "true")
            assert r.returncode == 0, r.stderr
            _fill(os.path.join(d.data_root, "filler"))

            # untag: the reference file is rewritten, and the disk is full
            r = d.docker("rmi", "one:1")
            assert r.returncode == 0, r.stderr
            assert "one:1" not in _tags(d)
            r = d.docker("rm", "-f", "c1")
            assert r.returncode == 0, r.stderr
            r = d.docker("image", "prune", "-af")
            assert r.returncode == 0, r.stderr
            assert _tags(d) == []
            # memory and disk agree: a restart shows the same
            d.restart(kill=True)
            assert _tags(d) == []
            assert d.docker("ps", "-aq").stdout.split() == []
        finally:
            d.stop()
            subprocess.run(["umount", "-l", d.data_root], capture_output=True)


def test_a_failed_untag_leaves_memory_as_the_disk(busybox_rootfs, tmp_path):
    """A write that fails (here: a read-only references file's directory) changes nothing."""
    from dockyard.images.reference import parse_any_reference
    from dockyard.images.store import ImageStore

    store = ImageStore(str(tmp_path / "images"))
    ref = parse_any_reference("busybox:latest")
    store.set_ref(ref, "sha256:" + "a" * 64)
    os.chmod(tmp_path / "images", 0o500)
    try:
        if os.access(tmp_path / "images", os.W_OK):  # root: CAP_DAC_OVERRIDE ignores modes
            subprocess.run(["chattr", "+i", str(tmp_path / "images")], check=True)
        try:
            with contextlib.suppress(OSError):
                store.delete_ref(ref)
            assert store.lookup_ref(ref) == "sha256:" + "a" * 64
        finally:
            subprocess.run(["chattr", "-i", str(tmp_path / "images")], capture_output=True)
    finally:
        os.chmod(tmp_path / "images", 0o755)
    assert json.loads((tmp_path / "images" / "references.json").read_text())["refs"]
