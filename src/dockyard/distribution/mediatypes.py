"""Manifests as a registry client and server read them: descriptors, what a manifest references.

Docker v2 schema 2 and OCI image manifests (one platform), Docker manifest lists and OCI
indexes (several platforms). The media-type constants live in images/manifest.py; they are
re-exported here under the names distribution uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..images.manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER_FOREIGN,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    guess_media_type,
)

__all__ = [
    "ACCEPT",
    "DOCKER_CONFIG",
    "DOCKER_LAYER_FOREIGN",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_SCHEMA1",
    "DOCKER_SCHEMA1_SIGNED",
    "IMAGE_MANIFESTS",
    "INDEXES",
    "MANIFESTS",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_TAR",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "Descriptor",
    "Manifest",
    "ManifestError",
    "load",
    "media_type_of",
    "parse",
]

OCI_LAYER_TAR = OCI_LAYER

IMAGE_MANIFESTS = MANIFEST_TYPES
INDEXES = INDEX_TYPES
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
    guessed = guess_media_type(doc)
    if guessed is None:
        raise ManifestError("manifest has no media type")
    return guessed


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
