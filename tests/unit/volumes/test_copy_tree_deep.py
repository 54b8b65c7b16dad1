"""Volume copy-up's tree copy keeps its own stack: an image's deep directory is copied whole
(a recursive copy raised RecursionError, a 500 at every start of the container)."""

from __future__ import annotations

import os

from dockyard.volumes.copyup import DIR_FLAGS, copy_tree

DEPTH = 700  # two Python frames a level were past the default limit of 1000


def _make_deep(top: str, depth: int) -> None:
    fd = os.open(top, DIR_FLAGS)
    for _ in range(depth):
        os.mkdir("d", 0o750, dir_fd=fd)
        nxt = os.open("d", DIR_FLAGS, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o640, dir_fd=fd))
    os.close(fd)


def _depth_and_leaf(top: str) -> tuple[int, bool]:
    fd = os.open(top, DIR_FLAGS)
    depth = 0
    try:
        while "d" in os.listdir(fd):
            nxt = os.open("d", DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
            depth += 1
        return depth, "leaf" in os.listdir(fd)
    finally:
        os.close(fd)


def test_a_deep_tree_is_copied_whole_with_its_modes(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    _make_deep(str(src), DEPTH)
    s, d = os.open(src, DIR_FLAGS), os.open(dst, DIR_FLAGS)
    try:
        copy_tree(s, d)
    finally:
        os.close(s)
        os.close(d)
    assert _depth_and_leaf(str(dst)) == (DEPTH, True)
    assert oct(os.stat(dst / "d").st_mode & 0o777) == oct(0o750)
