"""Media types, chain IDs and the shapes of manifests, indexes and image configs.

Covers OCI image spec 1.1 and Docker's v2 schema 2 (the two are the same JSON shape with
different media types).
"""

from __future__ import annotations

import hashlib
import json
import platform as _platform
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameter

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_ND_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"

MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
LAYER_TYPES = (
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_FOREIGN,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_LAYER_ND,
    OCI_LAYER_ND_GZIP,
)
GZIP_LAYER_TYPES = (DOCKER_LAYER_GZIP, OCI_LAYER_GZIP, DOCKER_LAYER_FOREIGN, OCI_LAYER_ND_GZIP)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(n))."""
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(diff_id if not out else sha256_digest(f"{out[-1]} {diff_id}".encode()))
    return out


def chain_id(diff_ids: list[str]) -> str | None:
    ids = chain_ids(diff_ids)
    return ids[-1] if ids else None


def canonical_json(obj: Any) -> bytes:
    """Compact JSON as Docker writes image configs and manifests."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def media_type_of(doc: dict) -> str:
    """The media type of a manifest or index (OCI documents may omit `mediaType`)."""
    mt = doc.get("mediaType")
    if mt:
        return mt
    if "manifests" in doc:
        return OCI_INDEX
    if "layers" in doc and "config" in doc:
        return OCI_MANIFEST
    raise InvalidParameter("unknown manifest type")


def host_platform() -> dict[str, str]:
    """The platform of this machine in OCI terms (os, architecture, variant)."""
    machine = _platform.machine().lower()
    arch = {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "armv7l": "arm",
        "i686": "386",
        "i386": "386",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
        "riscv64": "riscv64",
    }.get(machine, machine)
    out = {"os": "linux", "architecture": arch}
    if arch == "arm":
        out["variant"] = "v7"
    return out


@dataclass
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str | None) -> Platform:
        """`linux/arm64/v8` style, defaults filled from the host."""
        host = host_platform()
        if not text:
            return cls(host["os"], host["architecture"], host.get("variant", ""))
        parts = text.lower().split("/")
        if len(parts) > 3 or not all(parts):
            raise InvalidParameter(f'"{text}": unknown operating system or architecture')
        os_ = parts[0]
        arch = parts[1] if len(parts) > 1 else host["architecture"]
        variant = parts[2] if len(parts) > 2 else ""
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(arch, arch)
        return cls(os_, arch, variant)

    def matches(self, p: dict) -> bool:
        """Does index entry platform `p` suit this platform?"""
        if p.get("os") != self.os or p.get("architecture") != self.architecture:
            return False
        if self.variant and p.get("variant") and p.get("variant") != self.variant:
            return False
        return True


def select_manifest(index: dict, platform: Platform) -> dict:
    """The descriptor in `index` for `platform` (arm64 entries without variant match v8)."""
    candidates = [
        m
        for m in index.get("manifests", [])
        if m.get("platform")
        and platform.matches(m["platform"])
        and m.get("mediaType", OCI_MANIFEST) not in INDEX_TYPES
    ]
    if not candidates:
        want = f"{platform.os}/{platform.architecture}" + (
            f"/{platform.variant}" if platform.variant else ""
        )
        raise InvalidParameter(f"no matching manifest for {want} in the manifest list entries")
    return candidates[0]
