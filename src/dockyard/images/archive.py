"""`docker save` and `docker load`: docker-archive tarballs and OCI image layout archives.

save writes what Docker 25+ writes: an OCI image layout (oci-layout, index.json,
blobs/sha256/...) whose blobs double as the legacy docker-archive files named by
manifest.json (config blob, uncompressed layer tars) and `repositories`.

load reads docker-archive (manifest.json; Docker's, skopeo's, the legacy `<id>/layer.tar`
form) and OCI image layout archives (index.json, nested indexes resolved to this platform).
"""

from __future__ import annotations

import io
import json
import posixpath
import shutil
import tarfile
import tempfile
from typing import BinaryIO

from ..errors import InvalidParameter
from ..snapshots.layer import decompressed
from . import manifest as mf
from .reference import Reference, parse_any_reference, parse_reference
from .service import Image, ImageService, LayerDescriptor

_TAR_MTIME = 0


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = _TAR_MTIME
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = _TAR_MTIME
    tar.addfile(info)


def save(service: ImageService, names: list[str], out: BinaryIO) -> None:
    """Write the images `names` (references or IDs) to `out` as `docker save` does."""
    wanted: list[tuple[Image, list[Reference]]] = []
    by_id: dict[str, int] = {}

    def want(img: Image, ref: Reference | None) -> None:
        if img.id not in by_id:
            by_id[img.id] = len(wanted)
            wanted.append((img, []))
        refs = wanted[by_id[img.id]][1]
        if ref is not None and ref not in refs:
            refs.append(ref)

    for name in names:
        try:
            ref: Reference | None = parse_any_reference(name)
        except InvalidParameter:
            ref = None
        if ref is not None and ref.tag is None and ref.digest is None:
            # a repository name alone saves every tag of that repository (as Docker does)
            tagged = [
                (r, i)
                for r, i in service.store.all_refs()
                if r.name == ref.name and r.digest is None
            ]
            for r, image_id in tagged:
                want(service.get(image_id), r)
            if tagged:
                continue
        img = service.get(name)
        if (
            ref is not None
            and ref.tag is not None
            and service.store.lookup_ref(Reference(ref.domain, ref.path, ref.tag)) == img.id
        ):
            want(img, Reference(ref.domain, ref.path, ref.tag))
        else:
            want(img, None)

    written: set[str] = set()
    manifest_json: list[dict] = []
    repositories: dict[str, dict[str, str]] = {}
    index_manifests: list[dict] = []
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs/")
        _add_dir(tar, "blobs/sha256/")

        def blob(
            digest: str,
            data: bytes | None = None,
            src: BinaryIO | None = None,
            size: int | None = None,
        ) -> str:
            name = "blobs/sha256/" + digest.removeprefix("sha256:")
            if digest in written:
                return name
            written.add(digest)
            if data is not None:
                _add_bytes(tar, name, data)
            else:
                info = tarfile.TarInfo(name)
                info.size = size or 0
                info.mode = 0o644
                info.mtime = _TAR_MTIME
                tar.addfile(info, src)
            return name

        for img, refs in wanted:
            config_raw = service.content.read(img.id)
            config_path = blob(img.id, config_raw)
            layer_paths, oci_layers = [], []
            for diff_id in img.diff_ids:
                with service.layer_tar(diff_id) as src:
                    src.seek(0, 2)
                    size = src.tell()
                    src.seek(0)
                    layer_paths.append(blob(diff_id, src=src, size=size))
                oci_layers.append({"mediaType": mf.OCI_LAYER, "digest": diff_id, "size": size})
            oci_manifest = {
                "schemaVersion": 2,
                "mediaType": mf.OCI_MANIFEST,
                "config": {"mediaType": mf.OCI_CONFIG, "digest": img.id, "size": len(config_raw)},
                "layers": oci_layers,
            }
            raw_manifest = mf.canonical_json(oci_manifest)
            manifest_digest = mf.sha256_digest(raw_manifest)
            blob(manifest_digest, raw_manifest)
            descriptor = {
                "mediaType": mf.OCI_MANIFEST,
                "digest": manifest_digest,
                "size": len(raw_manifest),
            }
            for ref in refs:
                index_manifests.append(
                    dict(
                        descriptor,
                        annotations={
                            "io.containerd.image.name": str(ref),
                            "org.opencontainers.image.ref.name": ref.tag or "",
                        },
                    )
                )
                if layer_paths:
                    repositories.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = (
                        img.diff_ids[-1].removeprefix("sha256:")
                    )
            if not refs:
                index_manifests.append(descriptor)
            entry: dict = {
                "Config": config_path,
                "RepoTags": [r.familiar() for r in refs] or None,
                "Layers": layer_paths,
            }
            manifest_json.append(entry)
        _add_bytes(
            tar,
            "index.json",
            mf.canonical_json(
                {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": index_manifests}
            ),
        )
        _add_bytes(tar, "manifest.json", mf.canonical_json(manifest_json))
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        if repositories:
            _add_bytes(tar, "repositories", mf.canonical_json(repositories))


class _Archive:
    """Random access to the members of a (possibly compressed) tar spooled to disk."""

    def __init__(self, stream: BinaryIO) -> None:
        self._file = tempfile.TemporaryFile()
        shutil.copyfileobj(decompressed(stream), self._file, 1 << 20)
        self._file.seek(0)
        try:
            self._tar = tarfile.open(fileobj=self._file, mode="r:")
            self._members = {}
            for m in self._tar.getmembers():
                self._members[posixpath.normpath(m.name.lstrip("/")).removeprefix("./")] = m
        except tarfile.TarError as e:
            self.close()
            raise InvalidParameter(f"invalid tar archive: {e}") from None

    def close(self) -> None:
        self._file.close()

    def has(self, name: str) -> bool:
        return posixpath.normpath(name) in self._members

    def open(self, name: str) -> BinaryIO:
        m = self._members.get(posixpath.normpath(name))
        while m is not None and (m.issym() or m.islnk()):
            target = (
                m.linkname if m.islnk() else posixpath.join(posixpath.dirname(m.name), m.linkname)
            )
            m = self._members.get(posixpath.normpath(target.lstrip("/")).removeprefix("./"))
        if m is None or not m.isreg():
            raise InvalidParameter(f"invalid archive: {name} is missing")
        f = self._tar.extractfile(m)
        assert f is not None
        return f  # type: ignore[return-value]

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()


def load(service: ImageService, stream: BinaryIO, quiet: bool = False) -> list[str]:
    """Load a docker-archive or OCI layout archive; returns Docker's messages per image.

    `quiet` (Docker's `?quiet=`) only concerns progress output, which load does not produce:
    the messages are returned either way.
    """
    del quiet
    archive = _Archive(stream)
    try:
        if archive.has("manifest.json"):
            return _load_docker(service, archive)
        if archive.has("index.json"):
            return _load_oci(service, archive)
        raise InvalidParameter(
            "open /var/lib/docker/tmp/docker-import/manifest.json: no such file or directory"
        )
    finally:
        archive.close()


def _load_layers(
    service: ImageService,
    archive: _Archive,
    paths: list[str],
    diff_ids: list[str],
    media_types: list[str] | None = None,
) -> list[LayerDescriptor]:
    if len(paths) != len(diff_ids):
        raise InvalidParameter(
            f"invalid manifest, layers length mismatch: expected {len(diff_ids)}, got {len(paths)}"
        )
    layers = []
    for i, (path, diff_id) in enumerate(zip(paths, diff_ids, strict=True)):
        with archive.open(path) as f:
            digest = service.content.put_file(f)
        mt = (media_types[i] if media_types else None) or _sniff_media_type(service, digest)
        layers.append(LayerDescriptor(diff_id, digest, mt, None, service.content.size(digest)))
    return layers


def _sniff_media_type(service: ImageService, digest: str) -> str:
    with service.content.open(digest) as f:
        head = f.read(4)
    if head.startswith(b"\x1f\x8b"):
        return mf.DOCKER_LAYER_GZIP
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return mf.OCI_LAYER_ZSTD
    return mf.DOCKER_LAYER


def _load_docker(service: ImageService, archive: _Archive) -> list[str]:
    entries = json.loads(archive.read("manifest.json"))
    if not isinstance(entries, list):
        raise InvalidParameter("invalid manifest.json")
    messages: list[str] = []
    for entry in entries:
        raw_config = archive.read(entry["Config"])
        config = json.loads(raw_config)
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        layers = _load_layers(service, archive, list(entry.get("Layers") or []), diff_ids)
        service.ensure_layers(layers)
        img = service.record_config(raw_config)
        tags = entry.get("RepoTags") or []
        for tag in tags:
            ref = parse_reference(tag)
            _retag(service, ref, img.id, messages)
            messages.append(f"Loaded image: {ref.familiar()}")
        if not tags:
            messages.append(f"Loaded image ID: {img.id}")
    return messages


def _retag(service: ImageService, ref: Reference, image_id: str, messages: list[str]) -> None:
    old = service.store.lookup_ref(ref)
    if old is not None and old != image_id:
        messages.append(
            f"The image {ref.familiar()} already exists, renaming the old one with ID "
            f"{old} to empty string"
        )
    service.tag(image_id, str(ref))


def _load_oci(service: ImageService, archive: _Archive) -> list[str]:
    index = json.loads(archive.read("index.json"))
    messages: list[str] = []
    platform = mf.Platform.parse(None)
    for desc in index.get("manifests") or []:
        manifest_desc = desc
        doc = json.loads(_blob(archive, desc["digest"]))
        while mf.media_type_of(doc) in mf.INDEX_TYPES:
            manifest_desc = mf.select_manifest(doc, platform)
            doc = json.loads(_blob(archive, manifest_desc["digest"]))
        raw_config = _blob(archive, doc["config"]["digest"])
        config = json.loads(raw_config)
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        blobs = [d for d in doc.get("layers") or []]
        paths = ["blobs/" + d["digest"].replace(":", "/", 1) for d in blobs]
        layers = _load_layers(
            service, archive, paths, diff_ids, [d.get("mediaType", "") for d in blobs]
        )
        service.ensure_layers(layers)
        img = service.record_config(raw_config)
        name = _oci_name(desc.get("annotations") or {})
        if name is not None:
            _retag(service, name, img.id, messages)
            messages.append(f"Loaded image: {name.familiar()}")
        else:
            messages.append(f"Loaded image ID: {img.id}")
    return messages


def _oci_name(annotations: dict) -> Reference | None:
    for key in ("io.containerd.image.name", "org.opencontainers.image.ref.name"):
        value = annotations.get(key)
        if not value:
            continue
        try:
            ref = parse_any_reference(value)
        except InvalidParameter:
            continue
        if ref.tag is not None and ref.digest is None:
            return ref
    return None


def _blob(archive: _Archive, digest: str) -> bytes:
    algorithm, _, hexpart = digest.partition(":")
    data = archive.read(f"blobs/{algorithm}/{hexpart}")
    if mf.sha256_digest(data) != digest:
        raise InvalidParameter(f"blob {digest} does not match its digest")
    return data
