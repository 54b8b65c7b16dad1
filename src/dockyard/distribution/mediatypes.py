"""Media types of manifests and layers, and what a manifest references.

Docker v2 schema 2 and OCI image manifests (one platform), Docker manifest lists and OCI
indexes (several platforms), and the layer encodings a pull can meet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

IMAGE_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEXES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
MANIFESTS = IMAGE_MANIFESTS + INDEXES
# The Accept header a pull sends: every manifest type we can read, single platform first.
ACCEPT = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST))


class ManifestError(ValueError):
    """A manifest that is not valid JSON or lacks what its media type requires."""


@dataclass(frozen=True)
class Descriptor:
    """A pointer to content: media type, digest, size (and a platform in an index)."""

    media_type: str
    digest: str
    size: int
    platform: dict | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: dict) -> Descriptor:
        try:
            digest = obj["digest"]
            size = int(obj["size"])
        except (KeyError, TypeError, ValueError) as e:
            raise ManifestError(f"invalid descriptor: {e}") from None
        if not isinstance(digest, str) or ":" not in digest:
            raise ManifestError(f"invalid descriptor digest: {digest!r}")
        return cls(
            obj.get("mediaType", ""),
            digest,
            size,
            obj.get("platform"),
            tuple(obj.get("urls") or ()),
        )


def media_type_of(body: bytes, content_type: str | None = None) -> str:
    """The media type of a manifest: its `mediaType` field, else the Content-Type given."""
    doc = parse(body)
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if content_type:
        return content_type.split(";")[0].strip()
    if "manifests" in doc:
        return OCI_INDEX
    if "layers" in doc or "config" in doc:
        return OCI_MANIFEST
    raise ManifestError("manifest has no media type")


def parse(body: bytes) -> dict:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestError(f"invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ManifestError("manifest is not a JSON object")
    return doc


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest or index: what it points to."""

    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None
    doc: dict

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEXES

    def blobs(self) -> list[Descriptor]:
        """The blobs a registry must hold for this manifest (config and non-foreign layers)."""
        out = [self.config] if self.config else []
        out += [d for d in self.layers if not d.urls and d.media_type != DOCKER_LAYER_FOREIGN]
        return out


def load(body: bytes, content_type: str | None = None) -> Manifest:
    """Parse a manifest of any supported type. Raises ManifestError."""
    doc = parse(body)
    media_type = media_type_of(body, content_type)
    if media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED) or doc.get("schemaVersion") == 1:
        raise ManifestError("Docker image manifest schema 1 is not supported")
    subject = Descriptor.from_json(doc["subject"]) if isinstance(doc.get("subject"), dict) else None
    if media_type in INDEXES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise ManifestError("index has no manifests list")
        return Manifest(
            media_type, None, (), tuple(Descriptor.from_json(e) for e in entries), subject, doc
        )
    config = doc.get("config")
    layers = doc.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list):
        raise ManifestError("manifest needs a config and a layers list")
    return Manifest(
        media_type,
        Descriptor.from_json(config),
        tuple(Descriptor.from_json(x) for x in layers),
        (),
        subject,
        doc,
    )
