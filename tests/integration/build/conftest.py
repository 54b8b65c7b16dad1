"""Fixtures for build tests: one engine with a busybox base image per session."""

from __future__ import annotations

import io
import os
import sys
import tarfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from buildsupport import BuildEngine  # noqa: E402


@pytest.fixture(scope="session")
def busybox_tar(busybox_rootfs) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(os.listdir(busybox_rootfs)):
            tar.add(os.path.join(busybox_rootfs, name), arcname=name)
    return buf.getvalue()


@pytest.fixture(scope="session")
def build_engine(busybox_tar):
    engine = BuildEngine(busybox_tar)
    try:
        yield engine
    finally:
        engine.destroy()


@pytest.fixture
def engine(build_engine):
    """The session's engine; the test fails if it leaves containers, mounts or snapshots."""
    yield build_engine
    problems = build_engine.leftovers()
    assert not problems, problems
