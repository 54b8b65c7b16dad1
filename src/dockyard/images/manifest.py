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
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

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


def guess_media_type(doc: dict) -> str | None:
    """The media type a document declares, else the one its shape implies (OCI may omit it)."""
    mt = doc.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    if "manifests" in doc:
        return OCI_INDEX
    if "layers" in doc or "config" in doc:
        return OCI_MANIFEST
    return None


def media_type_of(doc: dict) -> str:
    """The media type of a manifest or index (OCI documents may omit `mediaType`)."""
    mt = guess_media_type(doc)
    if mt is None:
        raise InvalidParameter("unknown manifest type")
    return mt


_ARCH = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


@dataclass(frozen=True)
class Platform:
    """An `os/arch[/variant]` platform, as in an index entry or Docker's --platform."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def parse(cls, text: str | None) -> Platform:
        """`linux/arm64/v8` style; no text means this machine's platform."""
        return parse_platform(text)


def default_platform() -> Platform:
    """This machine's platform, e.g. linux/amd64 or linux/arm64/v8."""
    machine = _platform.machine().lower()
    arch, variant = _ARCH.get(machine, (machine, ""))
    return Platform("linux", arch, variant)


def parse_platform(text: str | None) -> Platform:
    """Parse `os[/arch[/variant]]` as Docker's --platform does (containerd's normalisation)."""
    if not text:
        return default_platform()
    parts = text.strip().lower().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidParameter(
            f'"{text}": unknown operating system or architecture: invalid argument'
        )
    if len(parts) == 1:
        d = default_platform()
        return Platform(parts[0], d.architecture, d.variant)
    arch = _ARCH.get(parts[1], (parts[1], ""))[0]
    variant = parts[2] if len(parts) == 3 else ""
    if arch == "arm64" and variant == "v8":
        variant = ""  # containerd's normalisation: arm64 means v8
    if arch == "arm" and not variant:
        variant = "v7"
    return Platform(parts[0], arch, variant)


def _variants(wanted: Platform) -> list[str]:
    """The variants that run on `wanted`, best first (an arm v7 runs v6 and v5 too)."""
    v = wanted.variant
    if wanted.architecture == "arm64":
        return [v or "v8", ""] if v in ("", "v8") else [v]
    if wanted.architecture == "arm" and v.startswith("v") and v[1:].isdigit():
        return [f"v{n}" for n in range(int(v[1:]), 4, -1)] + [""]
    return [v, ""] if v else [""]


def best_platform(platforms: list[dict | None], wanted: Platform) -> int | None:
    """The position of the index entry platform that suits `wanted` best, as Docker chooses."""
    variants = _variants(wanted)
    best: tuple[int, int] | None = None
    for pos, p in enumerate(platforms):
        p = p or {}
        if p.get("os", "").lower() != wanted.os or p.get("architecture") != wanted.architecture:
            continue
        variant = p.get("variant", "") or ""
        if variant in variants:
            rank = variants.index(variant)
        elif not wanted.variant and wanted.architecture not in ("arm", "arm64"):
            rank = len(variants)
        else:
            continue
        if best is None or rank < best[0]:
            best = (rank, pos)
    return None if best is None else best[1]


def no_match_message(wanted: Platform) -> str:
    return f"no matching manifest for {wanted} in the manifest list entries"


def select_manifest(index: dict, platform: Platform) -> dict:
    """The descriptor in `index` for `platform`. Raises InvalidParameter when none suits."""
    entries = list(index.get("manifests") or [])
    platforms = [
        None if e.get("mediaType", OCI_MANIFEST) in INDEX_TYPES else e.get("platform")
        for e in entries
    ]
    pos = best_platform(platforms, platform)
    if pos is None:
        raise InvalidParameter(no_match_message(platform))
    return entries[pos]
