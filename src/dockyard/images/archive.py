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
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
from typing import Any, BinaryIO

from ..errors import InvalidParameter
from ..faults import crash_point
from ..snapshots.layer import LayerError, _Root, extract_tar
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


# Metadata read into memory is bounded (what is not metadata is streamed to disk):
# manifest.json, index.json, repositories and OCI manifests and indexes as moby bounds a
# pulled manifest (4 MiB), an image config as generously as a config can legitimately be.
MAX_METADATA = 4 << 20
MAX_CONFIG = 8 << 20
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class _Archive:
    """A (possibly compressed) archive unpacked into a private directory, as Docker unpacks
    it: every entry lands inside (`extract_tar`, the layer rules: `..` and absolute names
    cannot climb out, no entry is written through a link), owners dropped, set-id bits
    cleared, device nodes skipped. Files are then read by name resolved inside that
    directory, symlinks followed within it (40 at most): a link in the archive can never
    reach a file of the host, and a link loop is an error, never a hang."""

    def __init__(self, stream: BinaryIO, tmp_root: str) -> None:
        os.makedirs(tmp_root, mode=0o700, exist_ok=True)
        self._dir = tempfile.mkdtemp(prefix="load-", dir=tmp_root)
        try:
            extract_tar(stream, self._dir, allow_devices=False, same_owner=False, keep_setid=False)
            self._root = _Root(self._dir)
        except LayerError as e:
            self._remove()
            message = e.message
            if not message.startswith("invalid tar archive"):
                message = f"invalid tar archive: {message}"
            raise InvalidParameter(message) from None
        except BaseException:
            self._remove()
            raise

    def _remove(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def close(self) -> None:
        self._root.close()
        self._remove()

    def has(self, name: str) -> bool:
        """Whether the archive has an entry `name` at its top (of any type: a link that
        leads nowhere is then an error of reading it, not a missing file)."""
        try:
            os.stat(name, dir_fd=self._root.fd, follow_symlinks=False)
        except OSError:
            return False
        return True

    def open(self, name: str) -> BinaryIO:
        """The regular file `name` (symlinks resolved inside the archive) opened to read."""
        rel = posixpath.normpath("/" + name).lstrip("/")
        try:
            dfd, base = self._root.locate(rel)
        except LayerError as e:
            raise InvalidParameter(f"invalid archive: {e.message}") from None
        except (FileNotFoundError, NotADirectoryError):
            raise InvalidParameter(f"invalid archive: {name} is missing") from None
        try:
            if base is None:
                raise InvalidParameter(f"invalid archive: {name} is not a file")
            try:
                fd = os.open(base, _READ_FLAGS, dir_fd=dfd)
            except OSError as e:
                raise InvalidParameter(f"invalid archive: {name}: {e.strerror}") from None
        finally:
            os.close(dfd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise InvalidParameter(f"invalid archive: {name} is not a file")
        return os.fdopen(fd, "rb")  # type: ignore[return-value]

    def read(self, name: str, limit: int = MAX_METADATA) -> bytes:
        """The bytes of `name`, which may not be larger than `limit`."""
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise InvalidParameter(
                f"invalid archive: {name} is larger than the limit of {limit} bytes"
            )
        return data

    def read_json(self, name: str, limit: int = MAX_METADATA) -> Any:
        return _json(self.read(name, limit), name)


def _json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise InvalidParameter(f"invalid archive: {name}: invalid JSON: {e}") from None


def load(service: ImageService, stream: BinaryIO, quiet: bool = False) -> list[str]:
    """Load a docker-archive or OCI layout archive; returns Docker's messages per image.

    `quiet` (Docker's `?quiet=`) only concerns progress output, which load does not produce:
    the messages are returned either way.
    """
    del quiet
    # under a lease (the API calls this directly): blobs written before an image names them
    # are not swept by a concurrent removal
    with service.lease():
        archive = _Archive(stream, os.path.join(service.root, "tmp"))
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


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(f"invalid manifest.json: {what} must be a list of strings")
    return value


def _diff_ids(raw_config: bytes, name: str) -> list[str]:
    config = _json(raw_config, name)
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = (rootfs.get("diff_ids") if isinstance(rootfs, dict) else None) or []
    if not isinstance(diff_ids, list) or not all(
        isinstance(d, str) and _DIGEST.fullmatch(d) for d in diff_ids
    ):
        raise InvalidParameter(f"invalid image config {name}: invalid rootfs.diff_ids")
    return diff_ids


def _load_docker(service: ImageService, archive: _Archive) -> list[str]:
    entries = archive.read_json("manifest.json")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidParameter("invalid manifest.json")
    messages: list[str] = []
    for entry in entries:
        config_name = entry.get("Config")
        if not isinstance(config_name, str) or not config_name:
            raise InvalidParameter("invalid manifest.json: an entry has no Config")
        raw_config = archive.read(config_name, MAX_CONFIG)
        diff_ids = _diff_ids(raw_config, config_name)
        paths = _strings(entry.get("Layers"), "Layers")
        tags = [parse_reference(tag) for tag in _strings(entry.get("RepoTags"), "RepoTags")]
        layers = _load_layers(service, archive, paths, diff_ids)
        service.ensure_layers(layers)
        img = service.record_config(raw_config)
        crash_point("image.load.recorded")
        for ref in tags:
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


_MAX_INDEX_DEPTH = 8


def _descriptor(value: Any, what: str) -> dict:
    if not isinstance(value, dict) or not isinstance(value.get("digest"), str):
        raise InvalidParameter(f"invalid OCI layout: {what} is not a descriptor")
    if not _DIGEST.fullmatch(value["digest"]):
        raise InvalidParameter(f"invalid OCI layout: invalid digest {value['digest']!r}")
    return value


def _load_oci(service: ImageService, archive: _Archive) -> list[str]:
    index = archive.read_json("index.json")
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list):
        raise InvalidParameter("invalid OCI layout: index.json has no manifests")
    messages: list[str] = []
    platform = mf.Platform.parse(None)
    for desc in manifests:
        desc = _descriptor(desc, "an index entry")
        doc = _json(_blob(archive, desc["digest"]), desc["digest"])
        depth = 0
        while isinstance(doc, dict) and mf.media_type_of(doc) in mf.INDEX_TYPES:
            depth += 1
            if depth > _MAX_INDEX_DEPTH:
                raise InvalidParameter("invalid OCI layout: image indexes nested too deep")
            try:
                selected = mf.select_manifest(doc, platform)
            except (AttributeError, TypeError):
                raise InvalidParameter("invalid OCI layout: an invalid image index") from None
            manifest_desc = _descriptor(selected, "a manifest")
            doc = _json(_blob(archive, manifest_desc["digest"]), manifest_desc["digest"])
        if not isinstance(doc, dict):
            raise InvalidParameter(f"invalid OCI layout: manifest {desc['digest']} is invalid")
        config_desc = _descriptor(doc.get("config"), "the config")
        raw_config = _blob(archive, config_desc["digest"], MAX_CONFIG)
        diff_ids = _diff_ids(raw_config, config_desc["digest"])
        blobs = doc.get("layers") or []
        if not isinstance(blobs, list):
            raise InvalidParameter("invalid OCI layout: layers is not a list")
        blobs = [_descriptor(d, "a layer") for d in blobs]
        paths = ["blobs/" + d["digest"].replace(":", "/", 1) for d in blobs]
        layers = _load_layers(
            service, archive, paths, diff_ids, [str(d.get("mediaType") or "") for d in blobs]
        )
        service.ensure_layers(layers)
        img = service.record_config(raw_config)
        annotations = desc.get("annotations")
        name = _oci_name(annotations if isinstance(annotations, dict) else {})
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


def _blob(archive: _Archive, digest: str, limit: int = MAX_METADATA) -> bytes:
    algorithm, _, hexpart = digest.partition(":")
    data = archive.read(f"blobs/{algorithm}/{hexpart}", limit)
    if mf.sha256_digest(data) != digest:
        raise InvalidParameter(f"blob {digest} does not match its digest")
    return data
