"""Fixtures for the image service tests: fresh stores and a busybox rootfs tarball."""

from __future__ import annotations

import io
import tarfile

import pytest

from dockyard.content import ContentStore
from dockyard.images.service import ImageService
from dockyard.snapshots import Snapshotter


@pytest.fixture(scope="session")
def busybox_tar(busybox_rootfs) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(busybox_rootfs, arcname=".")
    return buf.getvalue()


def make_service(root) -> ImageService:
    content = ContentStore(str(root / "content"))
    return ImageService(str(root / "images"), content, Snapshotter(str(root / "snapshots")))


@pytest.fixture
def svc(tmp_path) -> ImageService:
    return make_service(tmp_path)
