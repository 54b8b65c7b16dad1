"""The create-time check of an image's /dev and /proc against its layers."""

from __future__ import annotations

import os

import pytest

from dockyard.containers.rootcheck import check_image_root
from dockyard.errors import InvalidParameter


def layers(tmp_path, n: int) -> list[str]:
    out = []
    for i in range(n):
        p = tmp_path / f"l{i}"
        p.mkdir()
        out.append(str(p))
    return out  # nearest first


def test_directories_and_absent_entries_pass(tmp_path):
    top, base = layers(tmp_path, 2)
    os.mkdir(os.path.join(base, "dev"))
    check_image_root([top, base])


@pytest.mark.parametrize("name", ["dev", "proc"])
def test_a_symlink_in_the_nearest_layer_is_refused(tmp_path, name):
    top, base = layers(tmp_path, 2)
    os.mkdir(os.path.join(base, name))
    os.symlink("/etc", os.path.join(top, name))
    with pytest.raises(InvalidParameter, match=f"rootfs /{name} cannot be a symlink"):
        check_image_root([top, base])


def test_a_directory_above_a_symlink_wins(tmp_path):
    top, base = layers(tmp_path, 2)
    os.symlink("../../etc", os.path.join(base, "dev"))
    os.mkdir(os.path.join(top, "dev"))
    check_image_root([top, base])


def test_a_file_is_refused(tmp_path):
    (top,) = layers(tmp_path, 1)
    open(os.path.join(top, "proc"), "w").close()
    with pytest.raises(InvalidParameter, match="not a directory"):
        check_image_root([top])


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a whiteout needs root")
def test_a_whiteout_hides_the_symlink_below(tmp_path):
    top, base = layers(tmp_path, 2)
    os.symlink("/etc", os.path.join(base, "dev"))
    os.mknod(os.path.join(top, "dev"), 0o600 | 0o020000, os.makedev(0, 0))
    check_image_root([top, base])
