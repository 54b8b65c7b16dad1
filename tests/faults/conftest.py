"""Fault tests (crashes, a full disk, load) run real daemons: they need root."""

from __future__ import annotations

import pytest

from support import is_root


def pytest_collection_modifyitems(config, items):
    """Skip the tests under faults/ without root, saying why (as tests/conftest.py does for
    integration/ and compat/)."""
    if is_root():
        return
    skip = pytest.mark.skip(reason="needs root (real daemons, mounts, namespaces and cgroups)")
    for item in items:
        if "/faults/" in str(item.fspath):
            item.add_marker(skip)
