"""Volume copy-up against a container that plants links in the volume while it is filled.

A named volume mounted over image content is filled from the image when it is empty. A
second container that has the same volume plants a symlink to a host file (by absolute path)
under the name the copy is about to write, in a loop; the daemon copies as root. The copy
creates every entry with O_EXCL / O_NOFOLLOW relative to directory fds: a planted link is
left as it is, never written through. Bounded in count; the sentinel host directory is
unchanged."""

from __future__ import annotations

import io
import os
import sys
import tarfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from hostile_tars import dir_, dir_layer, reg, watched_sentinel

from daemon_fixture import ping, running_daemon

ROUNDS = int(os.environ.get("DOCKYARD_COPYUP_ROUNDS", "25"))


@pytest.fixture
def sentinel():
    with watched_sentinel() as s:
        yield s


def test_copy_up_never_writes_through_a_planted_link(busybox_rootfs, sentinel):
    with running_daemon() as d:
        buf = io.BytesIO()
        with (
            tarfile.open(fileobj=io.BytesIO(dir_layer(busybox_rootfs))) as src,
            tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as out,
        ):
            for m in src:
                out.addfile(m, src.extractfile(m) if m.isreg() else None)
            for info, data in (dir_("data"), reg("data/victim", b"pwned by copy-up\n", 0o666)):
                out.addfile(info, io.BytesIO(data) if data is not None else None)
        r = d.docker("import", "-c", 'CMD ["sh"]', "-", "filler:1", input=buf.getvalue())
        assert r.returncode == 0, r.stderr
        target = f"{sentinel.path}/victim"
        plant = f"while :; do rm -rf /v/* /v/.[!.]* 2>/dev/null; ln -s {target} /v/victim; done"
        r = d.docker(
            "run", "-d", "--name", "planter", "-v", "vol:/v", "filler:1", "sh", "-c", plant
        )
        assert r.returncode == 0, r.stderr
        copied = 0
        for _ in range(ROUNDS):
            r = d.docker("run", "--rm", "-v", "vol:/data", "filler:1", "true")
            assert r.returncode == 0, r.stderr
            copied += 1
        # the copy-up happened meanwhile (the planter's loop empties the volume each turn)
        d.docker("rm", "-f", "planter")
        assert copied == ROUNDS
        assert ping(d.sock)


def test_links_planted_between_the_check_and_the_copy_are_left_alone(tmp_path, sentinel):
    """The race made certain: the links appear after the emptiness check, before the copy."""
    from dockyard.volumes import service as volumes

    src = tmp_path / "image"
    (src / "sub").mkdir(parents=True)
    (src / "victim").write_text("pwned by copy-up\n")
    (src / "sub" / "inner").write_text("pwned by copy-up\n")
    svc = volumes.VolumeService(str(tmp_path / "volumes"))
    svc.create("vol")
    real = volumes._copy_tree

    def plant_then_copy(src_fd: int, dst_fd: int) -> None:
        os.symlink(f"{sentinel.path}/victim", "victim", dir_fd=dst_fd)
        os.symlink(f"{sentinel.path}/dir", "sub", dir_fd=dst_fd)
        real(src_fd, dst_fd)

    volumes._copy_tree = plant_then_copy
    try:
        assert svc.copy_up("vol", str(src)) is True
    finally:
        volumes._copy_tree = real
    mp = svc.inspect("vol")["Mountpoint"]
    assert os.readlink(os.path.join(mp, "victim")) == f"{sentinel.path}/victim"
    assert os.readlink(os.path.join(mp, "sub")) == f"{sentinel.path}/dir"
