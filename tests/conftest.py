"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from support import is_root, make_busybox_rootfs  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Tests under integration/ and compat/ need root: skip them, saying why, elsewhere."""
    if is_root():
        return
    skip = pytest.mark.skip(reason="needs root (real namespaces, mounts and cgroups)")
    for item in items:
        path = str(item.fspath)
        if "/integration/" in path or "/compat/" in path:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory) -> str:
    """A read-only-by-convention busybox root filesystem; copy it before changing it."""
    return make_busybox_rootfs(str(tmp_path_factory.mktemp("busybox-rootfs")))
