"""rootfs set-up steps that need no mount: /dev links and mount points are made inside the
root by descriptor, and a /dev that is a symlink (absolute or climbing) is refused before
anything is made, leaving the directory it names untouched."""

from __future__ import annotations

import os

import pytest

from dockyard.linux import pathrs
from dockyard.runtime import rootfs


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    r.mkdir()
    fd = pathrs.open_root(str(r))
    yield r, fd
    os.close(fd)


@pytest.mark.parametrize("how", ["absolute", "climbing"])
def test_dev_symlinks_refuse_a_dev_symlink(tmp_path, root, how):
    r, fd = root
    host = tmp_path / "host-dir"
    host.mkdir()
    (host / "ptmx").write_text("host file\n")
    os.symlink(str(host) if how == "absolute" else "../host-dir", r / "dev")
    with pytest.raises(OSError) as e:
        rootfs.create_dev_symlinks(fd)
    assert str(e.value) == "rootfs /dev cannot be a symlink"
    assert sorted(os.listdir(host)) == ["ptmx"]
    assert (host / "ptmx").read_text() == "host file\n"


def test_dev_symlinks_are_made_in_the_roots_dev(root):
    r, fd = root
    (r / "dev").mkdir()
    (r / "dev" / "ptmx").write_text("")
    rootfs.create_dev_symlinks(fd)
    assert os.readlink(r / "dev" / "ptmx") == "pts/ptmx"
    assert os.readlink(r / "dev" / "fd") == "/proc/self/fd"
    assert os.readlink(r / "dev" / "stderr") == "/proc/self/fd/2"
    rootfs.create_dev_symlinks(fd)  # again: existing links are kept


def test_mount_targets_are_made_inside_the_root(tmp_path, root):
    r, fd = root
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), r / "data")  # resolved inside the root: /<outside> there
    target = rootfs.mount_target(fd, "/data/sub", directory=True)
    os.close(target)
    assert (r / str(outside).lstrip("/") / "sub").is_dir()
    target = rootfs.mount_target(fd, "/etc/hosts", directory=False)
    os.close(target)
    assert (r / "etc" / "hosts").is_file()
    assert os.listdir(outside) == []
    with pytest.raises(NotADirectoryError):
        rootfs.mount_target(fd, "/etc/hosts", directory=True)
    with pytest.raises(OSError, match="is not a file"):
        rootfs.mount_target(fd, "/data/sub", directory=False)


def test_proc_and_sysfs_only_go_on_an_ordinary_directory(root):
    r, fd = root
    os.symlink("/etc", r / "sys")
    with pytest.raises(OSError, match="must be mounted on ordinary directory"):
        rootfs.mount_entry(fd, "/", {"destination": "/sys", "type": "sysfs"}, [], True)
