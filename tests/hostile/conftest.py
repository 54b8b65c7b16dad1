"""Fixtures of the hostile tests: they need root (a real daemon, namespaces and mounts) and are
skipped without it, as the integration tests are. Helpers to make hostile images from the
busybox root filesystem (a tar written here, then `docker import`) and a sentinel host
directory whose digest must not change."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
import uuid

import pytest

from support import is_root

sys.path.insert(0, os.path.dirname(__file__))
from hostile_tars import tree_digest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if is_root():
        return
    skip = pytest.mark.skip(reason="needs root (a real daemon, namespaces and mounts)")
    for item in items:
        if "/hostile/" in str(item.fspath):
            item.add_marker(skip)


class HostDir:
    """A host directory an attack aims at, and the digest of everything in it."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="dockyard-sentinel-", dir="/var/tmp")
        os.chmod(self.path, 0o755)
        with open(os.path.join(self.path, "ptmx"), "w") as f:
            f.write("the host's file\n")
        os.mkdir(os.path.join(self.path, "sub"))
        with open(os.path.join(self.path, "sub", "inner"), "w") as f:
            f.write("inner\n")

    def digest(self) -> str:
        return tree_digest(self.path)

    def climb(self, depth: int = 16) -> str:
        """A relative link target that climbs from the image's root to this directory on a
        host-side walk, yet stays inside lexically (Docker's import checks link targets
        lexically): it needs the image's `/L -> .` link (CLIMB_LINK); each `L/..` is the
        root to the lexical check but one level up from the root on the host."""
        return "L/" * depth + "../" * depth + self.path.lstrip("/")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


CLIMB_LINK = "L"


@pytest.fixture
def sentinel():
    s = HostDir()
    yield s
    s.remove()


def image_tar(rootfs: str, replace: dict[str, tarfile.TarInfo | bytes | None]) -> bytes:
    """The busybox rootfs as a tar, with the top-level or nested entries of `replace` swapped:
    a TarInfo (a symlink, a directory), bytes (a regular file) or None (left out)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(os.listdir(rootfs)):
            if name in replace:
                continue
            tar.add(os.path.join(rootfs, name), arcname=name)
        for name, entry in replace.items():
            if entry is None:
                continue
            if isinstance(entry, bytes):
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(entry), 0o755
                tar.addfile(info, io.BytesIO(entry))
            else:
                entry.name = name
                tar.addfile(entry)
    return buf.getvalue()


def symlink_entry(target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo("x")
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    return info


def import_image(d, tar: bytes, *changes: str) -> str:
    """docker import the tar as a fresh tag; returns the tag."""
    tag = f"hostile-{uuid.uuid4().hex[:10]}:latest"
    args = ["import"]
    for change in changes or ('CMD ["sh"]',):
        args += ["-c", change]
    r = d.docker(*args, "-", tag, input=tar)
    assert r.returncode == 0, r.stderr
    return tag


def host_mounts() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Helpers:
    """The helpers above as one fixture (test modules cannot import a conftest)."""

    image_tar = staticmethod(image_tar)
    symlink_entry = staticmethod(symlink_entry)
    climb_link = CLIMB_LINK
    import_image = staticmethod(import_image)
    host_mounts = staticmethod(host_mounts)
    file_digest = staticmethod(file_digest)


@pytest.fixture
def hx() -> type[Helpers]:
    return Helpers
