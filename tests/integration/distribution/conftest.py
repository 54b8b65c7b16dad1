"""Fixtures for the registry tests against peers we did not write (docker-registry, skopeo,
umoci). Every registry process a test starts is stopped when the test ends."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from registry_peers import (  # noqa: E402
    CACHE,
    DockerRegistry,
    OurRegistry,
    make_oci_layout,
)


@pytest.fixture(scope="session")
def oci_layout(busybox_rootfs, tmp_path_factory) -> str:
    """An OCI layout made by umoci: `busybox` (linux/amd64), `busybox-arm64` and `multi`
    (an index with linux/amd64 and linux/arm64 entries)."""
    return make_oci_layout(busybox_rootfs, CACHE, str(tmp_path_factory.mktemp("oci")))


@pytest.fixture
def docker_registry(tmp_path):
    with DockerRegistry(str(tmp_path / "docker-registry")) as reg:
        yield reg


@pytest.fixture
def docker_registry_auth(tmp_path):
    with DockerRegistry(str(tmp_path / "docker-registry-auth"), users={"alice": "s3cret"}) as reg:
        yield reg


@pytest.fixture
def our_registry(tmp_path):
    with OurRegistry(str(tmp_path / "our-registry")) as reg:
        yield reg
