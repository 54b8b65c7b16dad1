"""COPY's walks keep their own stack: a deep source tree is matched and copied whole (a
recursive walk raised RecursionError from about a thousand levels on)."""

from __future__ import annotations

import os

from dockyard.build.copier import _copy_tree, _Owner, walk

DEPTH = 1100
DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _make_deep(top: str) -> None:
    fd = os.open(top, DIR)
    for _ in range(DEPTH):
        os.mkdir("d", 0o755, dir_fd=fd)
        nxt = os.open("d", DIR, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)


def _remove_deep(top: str) -> None:
    """shutil.rmtree recurses too: take the tree down from the bottom by descriptors."""
    fds = [os.open(top, DIR)]
    while "d" in os.listdir(fds[-1]):
        fds.append(os.open("d", DIR, dir_fd=fds[-1]))
    for name in os.listdir(fds[-1]):
        os.unlink(name, dir_fd=fds[-1])
    while len(fds) > 1:
        os.close(fds.pop())
        os.rmdir("d", dir_fd=fds[-1])
    os.close(fds[0])


def test_walk_and_copy_of_a_deep_tree(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    _make_deep(str(src))
    try:
        sfd = os.open(src, DIR)
        try:
            paths = [rel for rel, _fd, _entries in walk(sfd)]
            assert len(paths) == DEPTH + 1 and paths[-1] == "/".join(["d"] * DEPTH)
            dfd = os.open(dst, DIR)
            try:
                _copy_tree(sfd, dfd, _Owner(os.getuid(), os.getgid(), None))
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)
        dfd = os.open(dst, DIR)
        try:
            copied = [(rel, names) for rel, _fd, names in walk(dfd)]
        finally:
            os.close(dfd)
        assert len(copied) == DEPTH + 1
        assert copied[-1][1] and copied[-1][1][0][0] == "leaf"
    finally:
        _remove_deep(str(src))
        if os.path.exists(dst / "d"):
            _remove_deep(str(dst))
