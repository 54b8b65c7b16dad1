"""The image service: images by ID (config digest), their tags and repo digests, their layers.

It sits on the content store (configs, manifests, layer blobs) and the snapshotter (layers
unpacked once, as committed snapshots named by chain ID) and gives Docker's semantics and
JSON shapes for inspect, list, history, tag, rmi, prune, import, and the primitives that
pull, push, build, commit, save and load use. Blocking: call it from a thread.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import BinaryIO

from ..content import ContentStore
from ..errors import Conflict, InvalidParameter, NotFound
from ..filters import labels_match
from ..filters import normalize as normalize_filters
from ..fsutil import frees_space
from ..pathmatch import BadPattern, path_match
from ..snapshots import AppliedLayer, Snapshotter, apply_layer
from ..snapshots.layer import LayerError, decompressed
from . import manifest as mf
from .changes import apply_changes
from .reference import (
    DEFAULT_TAG,
    InvalidReference,
    Reference,
    is_image_id,
    normalize_id,
    parse_any_reference,
    parse_reference,
    validate_tag,
)
from .store import ImageStore
from .timefmt import ZERO_TIME, now_rfc3339, parse_rfc3339

# what containers use an image: a list of (container id, running); True/False also accepted
InUse = Callable[[str], "list[tuple[str, bool]] | bool"]
ProgressFn = Callable[[str, str], None]  # (layer digest, status)

_UNPACK_WORKERS = max(1, min(4, os.cpu_count() or 1))  # more than the cores only thrashes
_HEX_PREFIX = re.compile(r"^(?:sha256:)?([a-f0-9]{1,64})\Z", re.ASCII)


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


@dataclass
class LayerDescriptor:
    """A layer of an image: its diff_id and a blob in the content store holding it."""

    diff_id: str
    digest: str  # the blob (compressed or not); equals diff_id for an uncompressed tar
    media_type: str = mf.DOCKER_LAYER
    size: int | None = None  # unpacked bytes, when known
    blob_size: int | None = None


@dataclass
class Image:
    id: str
    config: dict
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    size: int = 0
    created: str = ""
    parent: str = ""
    last_tag_time: str | None = None
    manifest_digest: str | None = None

    @property
    def diff_ids(self) -> list[str]:
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def chain_ids(self) -> list[str]:
        return mf.chain_ids(self.diff_ids)

    @property
    def chain_id(self) -> str | None:
        """The top layer's chain ID: the snapshot a container's rootfs is prepared on."""
        return mf.chain_id(self.diff_ids)

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.config.get("config") or {}).get("Labels") or {})


def _uses(in_use: InUse | None, image_id: str) -> list[tuple[str, bool]]:
    if in_use is None:
        return []
    got = in_use(image_id)
    if got is True:
        return [("", False)]
    if not got:
        return []
    return list(got)  # type: ignore[arg-type]


def _path_match(pattern: str, text: str) -> bool:
    """Go's path.Match; a malformed pattern matches nothing."""
    try:
        return path_match(pattern, text)
    except BadPattern:
        return False


class _DeleteConflict(Conflict):
    def __init__(self, image_id: str, message: str, hard: bool) -> None:
        force = "cannot be forced" if hard else "must be forced"
        super().__init__(f"conflict: unable to delete {short_id(image_id)} ({force}) - {message}")


def _leased(method: Callable) -> Callable:
    """Run an ImageService method under a lease (see ImageService.lease)."""

    @functools.wraps(method)
    def run(self: ImageService, *args, **kwargs):
        with self.lease():
            return method(self, *args, **kwargs)

    return run


class ImageService:
    """Images under `root`, on `content` and `snapshots` (see the module docstring)."""

    def __init__(self, root: str, content: ContentStore, snapshots: Snapshotter) -> None:
        self.root = root
        self.content = content
        self.snapshots = snapshots
        self.store = ImageStore(root)
        self.lock = self.store.lock
        self._leases = 0  # pulls, pushes, loads, imports writing blobs no image names yet
        self._unswept: set[str] = set()  # blobs of deleted images left while leases were held

    # --- lookup ----------------------------------------------------------------------------

    def _load(self, image_id: str) -> Image:
        rec = self.store.get_record(image_id)
        if rec is None or not self.content.exists(image_id):
            raise NotFound(f"No such image: {image_id}")
        config = json.loads(self.content.read(image_id))
        tags, digests = [], []
        for ref in self.store.refs_of(image_id):
            (digests if ref.digest else tags).append(ref.familiar())
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        size = sum(self._layer_size(d) for d in diff_ids)
        return Image(
            id=image_id,
            config=config,
            repo_tags=tags,
            repo_digests=digests,
            size=size,
            created=config.get("created") or "",
            parent=rec.get("parent") or "",
            last_tag_time=rec.get("last_tag_time"),
            manifest_digest=rec.get("manifest"),
        )

    def _layer_size(self, diff_id: str) -> int:
        size = self.store.get_layer(diff_id).get("size")
        return int(size) if size is not None else 0

    def resolve(self, ref_or_id: str) -> str:
        """The image ID that `ref_or_id` names (reference, full or short ID); NotFound else."""
        if is_image_id(ref_or_id):
            image_id = normalize_id(ref_or_id)
            if self.store.get_record(image_id) is not None:
                return image_id
            raise NotFound(f"No such image: {image_id}")
        try:
            ref = parse_any_reference(ref_or_id)
        except InvalidReference:
            ref = None
            if not _HEX_PREFIX.match(ref_or_id):
                raise
        if ref is not None:
            if ref.tag is not None and ref.digest is not None:
                ref = ref.with_digest(ref.digest)  # name:tag@digest: the digest wins (Docker)
            full = ref if ref.tag or ref.digest else ref.with_tag(DEFAULT_TAG)
            found = self.store.lookup_ref(full)
            if found is not None and self.store.get_record(found) is not None:
                return found
        m = _HEX_PREFIX.match(ref_or_id)
        if m:
            matches = [i for i in self.store.ids() if i[7:].startswith(m.group(1))]
            if len(matches) == 1:
                return matches[0]
        if ref is not None:
            full = ref if ref.tag or ref.digest else ref.with_tag(DEFAULT_TAG)
            raise NotFound(f"No such image: {full.familiar()}")
        raise NotFound(f"No such image: {ref_or_id}")

    def get(self, ref_or_id: str) -> Image:
        return self._load(self.resolve(ref_or_id))

    def exists(self, ref_or_id: str) -> bool:
        try:
            self.resolve(ref_or_id)
            return True
        except (NotFound, InvalidParameter):
            return False

    def images(self) -> list[Image]:
        out = []
        for image_id in self.store.ids():
            try:
                out.append(self._load(image_id))
            except NotFound:
                continue
        return out

    # --- Docker's JSON shapes ------------------------------------------------------------

    def inspect(self, image: Image | str) -> dict:
        """GET /images/{name}/json."""
        img = image if isinstance(image, Image) else self.get(image)
        cfg = img.config
        container_config = cfg.get("config") or {}
        config = {
            "Hostname": "",
            "Domainname": "",
            "User": container_config.get("User", ""),
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "Env": container_config.get("Env"),
            "Cmd": container_config.get("Cmd"),
            "Image": "",
            "Volumes": container_config.get("Volumes"),
            "WorkingDir": container_config.get("WorkingDir", ""),
            "Entrypoint": container_config.get("Entrypoint"),
            "OnBuild": container_config.get("OnBuild"),
            "Labels": container_config.get("Labels"),
        }
        for key in (
            "ExposedPorts",
            "Healthcheck",
            "ArgsEscaped",
            "StopSignal",
            "StopTimeout",
            "Shell",
        ):
            if container_config.get(key) not in (None, "", False):
                config[key] = container_config[key]
        out: dict = {
            "Id": img.id,
            "RepoTags": img.repo_tags,
            "RepoDigests": img.repo_digests,
            "Parent": img.parent,
            "Comment": cfg.get("comment", ""),
            "Created": img.created or None,
            "DockerVersion": cfg.get("docker_version", ""),
            "Author": cfg.get("author", ""),
            "Config": config,
            "Architecture": cfg.get("architecture", ""),
            "Os": cfg.get("os", ""),
            "Size": img.size,
            "GraphDriver": self._graph_driver(img),
            "RootFS": {"Type": "layers", "Layers": img.diff_ids},
            "Metadata": {"LastTagTime": img.last_tag_time or ZERO_TIME},
        }
        if cfg.get("variant"):
            out["Variant"] = cfg["variant"]
        if cfg.get("os.version"):
            out["OsVersion"] = cfg["os.version"]
        return out

    def _graph_driver(self, img: Image) -> dict:
        data: dict[str, str] = {}
        top = img.chain_id
        if top and self.snapshots.exists(top):
            data["UpperDir"] = self.snapshots.upper_dir(top)
            lowers = self.snapshots.lower_dirs(top)
            if lowers:
                data["LowerDir"] = ":".join(lowers)
            data["WorkDir"] = data["UpperDir"].rsplit("/", 1)[0] + "/work"
            data["MergedDir"] = data["UpperDir"].rsplit("/", 1)[0] + "/merged"
        return {"Data": data, "Name": "overlay2"}

    def summary(self, img: Image) -> dict:
        """One entry of GET /images/json."""
        return {
            "Containers": -1,
            "Created": int(parse_rfc3339(img.created)),
            "Id": img.id,
            "Labels": img.labels,
            "ParentId": img.parent,
            "RepoDigests": img.repo_digests,
            "RepoTags": img.repo_tags,
            "SharedSize": -1,
            "Size": img.size,
        }

    def list(self, all: bool = False, filters: dict | None = None) -> list[dict]:  # noqa: A002
        """GET /images/json: filters dangling, label, reference, before, since."""
        filters = normalize_filters(filters)
        for key in filters:
            if key not in ("dangling", "label", "reference", "before", "since", "until"):
                raise InvalidParameter(f"invalid filter '{key}'")
        images = self.images()
        before = since = None
        if filters.get("before"):
            before = parse_rfc3339(self.get(filters["before"][0]).created)
        if filters.get("since"):
            since = parse_rfc3339(self.get(filters["since"][0]).created)
        dangling = None
        if filters.get("dangling"):
            value = filters["dangling"][0].lower()
            if value not in ("true", "false", "1", "0"):
                raise InvalidParameter(f"Invalid filter 'dangling={filters['dangling'][0]}'")
            dangling = value in ("true", "1")
        parents = {i.parent for i in images if i.parent}
        out = []
        for img in images:
            is_dangling = not img.repo_tags and not img.repo_digests
            if dangling is not None and is_dangling != dangling:
                continue
            if not all and is_dangling and img.id in parents:
                continue
            created = parse_rfc3339(img.created)
            if before is not None and created >= before:
                continue
            if since is not None and created <= since:
                continue
            if filters.get("label") and not labels_match(img.labels, filters["label"]):
                continue
            entry = self.summary(img)
            if filters.get("reference"):
                tags = [t for t in img.repo_tags if _ref_match(filters["reference"], t)]
                digests = [d for d in img.repo_digests if _ref_match(filters["reference"], d)]
                if not tags and not digests:
                    continue
                entry["RepoTags"], entry["RepoDigests"] = tags, digests
            out.append(entry)
        out.sort(key=lambda e: e["Created"], reverse=True)
        return out

    def history(self, image: Image | str) -> list[dict]:
        """GET /images/{name}/history, newest first."""
        img = image if isinstance(image, Image) else self.get(image)
        history = list(img.config.get("history") or [])
        diff_ids = img.diff_ids
        if not history:
            history = [{"created": img.created} for _ in diff_ids] or [{"created": img.created}]
        out = []
        layer = 0
        for h in history:
            size = 0
            if not h.get("empty_layer") and layer < len(diff_ids):
                size = self._layer_size(diff_ids[layer])
                layer += 1
            out.append(
                {
                    "Comment": h.get("comment", ""),
                    "Created": int(parse_rfc3339(h.get("created"))),
                    "CreatedBy": h.get("created_by", ""),
                    "Id": "<missing>",
                    "Size": size,
                    "Tags": None,
                }
            )
        out.reverse()
        out[0]["Id"] = img.id
        out[0]["Tags"] = img.repo_tags or None
        return out

    # --- tags -----------------------------------------------------------------------------

    def tag(self, source: str, repo: str, tag: str | None = None) -> Reference:
        """`docker tag SOURCE REPO[:TAG]`: point REPO:TAG at the image SOURCE names."""
        image_id = self.resolve(source)
        ref = parse_any_reference(repo)
        if ref.digest is not None:
            raise InvalidParameter("refusing to create a tag with a digest reference")
        if tag:
            ref = ref.name_only().with_tag(validate_tag(tag))
        elif ref.tag is None:
            ref = ref.with_tag(DEFAULT_TAG)
        with self.lock:
            self.store.set_ref(ref, image_id)
            self._touch_tag_time(image_id)
        return ref

    def _touch_tag_time(self, image_id: str) -> None:
        rec = self.store.get_record(image_id)
        if rec is not None:
            rec["last_tag_time"] = now_rfc3339()
            self.store.put_record(rec)

    # --- removal --------------------------------------------------------------------------

    @frees_space
    def remove(
        self,
        name: str,
        force: bool = False,
        noprune: bool = False,
        in_use: InUse | None = None,
    ) -> list[dict]:
        """DELETE /images/{name}: untag and/or delete, with Docker's conflict rules."""
        with self.lock:
            return self._remove(name, force, noprune, in_use)

    def _remove(self, name: str, force: bool, noprune: bool, in_use: InUse | None) -> list[dict]:
        image_id = self.resolve(name)
        records: list[dict] = []
        refs = self.store.refs_of(image_id)
        users = _uses(in_use, image_id)
        by_id = _HEX_PREFIX.match(name) is not None and image_id[7:].startswith(
            _HEX_PREFIX.match(name).group(1)  # type: ignore[union-attr]
        )
        if by_id and self._named_by_ref(name):
            by_id = False
        removed_ref = False
        if not by_id:
            if not force and _is_single_reference(refs) and users:
                raise Conflict(
                    f'conflict: unable to remove repository reference "{name}" (must force) - '
                    f"container {short_id(users[0][0])} is using its referenced image "
                    f"{short_id(image_id)}"
                )
            ref = parse_any_reference(name)
            if ref.tag is None and ref.digest is None:
                ref = ref.with_tag(DEFAULT_TAG)
            if self.store.lookup_ref(ref) != image_id:
                raise NotFound(f"No such image: {ref.familiar()}")
            self.store.delete_ref(ref)
            records.append({"Untagged": ref.familiar()})
            refs = self.store.refs_of(image_id)
            if ref.digest is None and not any(
                r.digest is None and r.name == ref.name for r in refs
            ):
                for r in [r for r in refs if r.digest is not None and r.name == ref.name]:
                    self.store.delete_ref(r)
                    records.append({"Untagged": r.familiar()})
                refs = self.store.refs_of(image_id)
            if refs:
                return records
            removed_ref = True
        elif _is_single_reference(refs):
            self._check_conflict(image_id, users, force, active_refs=False)
            for r in refs:
                self.store.delete_ref(r)
                records.append({"Untagged": r.familiar()})
        try:
            self._check_conflict(image_id, users, force, active_refs=True)
        except Conflict:
            if removed_ref and (refs or users):
                return records
            raise
        for r in self.store.delete_refs_to(image_id):
            records.append({"Untagged": r.familiar()})
        parent = (self.store.get_record(image_id) or {}).get("parent")
        records.extend(self._delete_image(image_id))
        if not noprune:
            records.extend(self._prune_parents(parent, in_use))
        return records

    def _prune_parents(self, parent: str | None, in_use: InUse | None) -> list[dict]:
        """Delete untagged parents left without children (build intermediates), upwards."""
        records: list[dict] = []
        while parent and self.store.get_record(parent) is not None:
            if self.store.refs_of(parent) or _uses(in_use, parent):
                break
            try:
                self._check_conflict(parent, [], force=False, active_refs=True)
            except Conflict:
                break
            next_parent = (self.store.get_record(parent) or {}).get("parent")
            records.extend(self._delete_image(parent))
            parent = next_parent
        return records

    def _named_by_ref(self, name: str) -> bool:
        try:
            ref = parse_reference(name)
        except InvalidParameter:
            return False
        return self.store.lookup_ref(ref) is not None

    def _check_conflict(
        self, image_id: str, users: list[tuple[str, bool]], force: bool, active_refs: bool
    ) -> None:
        children = [
            i
            for i in self.store.ids()
            if (self.store.get_record(i) or {}).get("parent") == image_id
        ]
        if children:
            raise _DeleteConflict(image_id, "image has dependent child images", hard=True)
        running = [c for c, r in users if r]
        if running:
            raise _DeleteConflict(
                image_id,
                f"image is being used by running container {short_id(running[0])}",
                hard=True,
            )
        if force:
            return
        if active_refs and self.store.refs_of(image_id):
            raise _DeleteConflict(image_id, "image is referenced in multiple repositories", False)
        stopped = [c for c, r in users if not r]
        if stopped:
            raise _DeleteConflict(
                image_id,
                f"image is being used by stopped container {short_id(stopped[0])}",
                hard=False,
            )

    def _delete_image(self, image_id: str) -> list[dict]:
        img = self._load(image_id)
        records = [{"Deleted": image_id}]
        blobs = self._blobs_of(img)
        self.store.delete_record(image_id)
        self._sweep(blobs)
        used: set[str] = set()
        for other in self.images():
            used.update(other.chain_ids)
        for cid in reversed(img.chain_ids):
            if cid in used or not self.snapshots.exists(cid):
                break
            try:
                self.snapshots.remove(cid)
            except Conflict:
                break  # a container's snapshot still stands on it
            records.append({"Deleted": cid})
        return records

    # --- blobs ------------------------------------------------------------------------------

    @contextmanager
    def lease(self) -> Iterator[None]:
        """Hold while writing blobs that no image names yet (pull, push, load, import): while
        any lease is held, removing an image leaves its blobs to a later sweep."""
        with self.lock:
            self._leases += 1
        try:
            yield
        finally:
            with self.lock:
                self._leases -= 1

    def _blobs_of(self, img: Image) -> set[str]:
        """Every blob an image holds: config, manifest and what it lists, layer blobs."""
        blobs = {img.id}
        if img.manifest_digest:
            blobs.add(img.manifest_digest)
            if self.content.exists(img.manifest_digest):
                doc = json.loads(self.content.read(img.manifest_digest))
                for desc in [doc.get("config") or {}, *(doc.get("layers") or [])]:
                    if desc.get("digest"):
                        blobs.add(desc["digest"])
        for diff_id in img.diff_ids:
            blobs.add(diff_id)
            blobs.update(b["digest"] for b in self.store.get_layer(diff_id).get("blobs") or [])
        return blobs

    def _held_blobs(self) -> set[str]:
        """Blobs the recorded images hold, and those digest references name (indexes)."""
        held: set[str] = set()
        for img in self.images():
            held |= self._blobs_of(img)
        held.update(ref.digest for ref, _ in self.store.all_refs() if ref.digest)
        return held

    def _sweep(self, candidates: set[str]) -> None:
        """Remove the candidate blobs no image holds any more (Docker removes an image's data
        with it). Call with the lock held; with a lease out, they wait for the next sweep."""
        self._unswept |= candidates | self.store.released_digests
        self.store.released_digests.clear()
        if self._leases:
            return
        doomed, self._unswept = self._unswept - self._held_blobs(), set()
        for digest in doomed:
            with suppress(NotFound):
                self.content.delete(digest)

    @frees_space
    def prune(
        self,
        dangling_only: bool = True,
        filters: dict | None = None,
        in_use: InUse | None = None,
    ) -> dict:
        """POST /images/prune: {"ImagesDeleted": [...], "SpaceReclaimed": bytes}."""
        filters = normalize_filters(filters)
        if filters.get("dangling"):
            dangling_only = filters["dangling"][0].lower() in ("true", "1")
        until = None
        if filters.get("until"):
            until = _parse_until(filters["until"][0])
        deleted: list[dict] = []
        reclaimed = 0
        with self.lock:
            for img in self.images():
                if dangling_only and (img.repo_tags or img.repo_digests):
                    continue
                if _uses(in_use, img.id):
                    continue
                if until is not None and parse_rfc3339(img.created) >= until:
                    continue
                if filters.get("label") and not labels_match(img.labels, filters["label"]):
                    continue
                if filters.get("label!") and labels_match(img.labels, filters["label!"]):
                    continue
                sizes = {
                    cid: self.snapshots.usage(cid)[0]
                    for cid in img.chain_ids
                    if self.snapshots.exists(cid)
                }
                try:
                    for r in self.store.delete_refs_to(img.id):
                        deleted.append({"Untagged": r.familiar()})
                    recs = self._delete_image(img.id)
                except Conflict:
                    continue
                deleted.extend(recs)
                reclaimed += sum(sizes.get(r["Deleted"], 0) for r in recs if "Deleted" in r)
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # --- creating images --------------------------------------------------------------------

    def store_layer(self, tar_stream: BinaryIO) -> LayerDescriptor:
        """Put an (uncompressed, or gzip/zstd) layer tar in the content store, as-is unpacked.

        The stored blob is the uncompressed tar (its digest is the diff_id).
        """
        with self.content.writer() as w:
            src = decompressed(tar_stream)
            while chunk := src.read(1 << 20):
                w.write(chunk)
            digest = w.commit()
        size = self.content.size(digest)
        return LayerDescriptor(digest, digest, mf.DOCKER_LAYER, None, size)

    def ensure_layers(
        self, layers: list[LayerDescriptor], progress: ProgressFn | None = None
    ) -> list[str]:
        """Unpack every layer not yet present as a committed snapshot named by chain ID.

        Verifies each layer's diff_id. On failure removes the snapshots this call created.
        Returns the chain IDs.
        """
        cids = mf.chain_ids([d.diff_id for d in layers])
        missing: list[int] = []
        for i, (desc, cid) in enumerate(zip(layers, cids, strict=True)):
            if self.snapshots.exists(cid):
                if self.content.exists(desc.digest):
                    self._verify_blob(desc)
                    self._record_blob(desc)
                if progress:
                    progress(desc.digest, "Already exists")
            else:
                missing.append(i)
        if not missing:
            return cids
        # each layer is applied into its own directory, so they unpack side by side; then
        # they are committed in order, each stacked on the one below
        keys = {i: f"extract-{uuid.uuid4().hex} {cids[i]}" for i in missing}
        results: dict[int, AppliedLayer] = {}

        def unpack(i: int) -> None:
            desc = layers[i]
            self.snapshots.prepare(keys[i], None)
            if progress:
                progress(desc.digest, "Extracting")
            with self.content.open(desc.digest) as f:
                results[i] = apply_layer(
                    f, self.snapshots.upper_dir(keys[i]), expected_diff_id=desc.diff_id
                )

        created: list[str] = []
        try:
            workers = min(len(missing), _UNPACK_WORKERS)
            if workers == 1:
                for i in missing:
                    unpack(i)
            else:
                with ThreadPoolExecutor(workers, thread_name_prefix="unpack") as pool:
                    futures = [pool.submit(unpack, i) for i in missing]
                    wait(futures)
                for fut in futures:
                    fut.result()  # the first failure, in layer order
            for i in missing:
                desc, cid = layers[i], cids[i]
                try:
                    self.snapshots.commit(cid, keys[i], parent=cids[i - 1] if i else None)
                    created.append(cid)
                except Conflict:
                    self.snapshots.remove(keys[i])  # unpacked meanwhile by someone else
                desc.size = results[i].size
                self._record_blob(desc)
                if progress:
                    progress(desc.digest, "Pull complete")
        except BaseException:
            for key in keys.values():
                if self.snapshots.exists(key):
                    self.snapshots.remove(key)
            for cid in reversed(created):
                try:
                    self.snapshots.remove(cid)
                except (Conflict, NotFound):
                    pass
            raise
        return cids

    def _verify_blob(self, desc: LayerDescriptor) -> None:
        """Check that a blob not unpacked (its layer was present) really holds `diff_id`."""
        if desc.digest == desc.diff_id:
            return
        known = self.store.get_layer(desc.diff_id)["blobs"]
        if any(b["digest"] == desc.digest for b in known):
            return
        h = hashlib.sha256()
        with self.content.open(desc.digest) as f:
            src = decompressed(f)
            while chunk := src.read(1 << 20):
                h.update(chunk)
        if "sha256:" + h.hexdigest() != desc.diff_id:
            raise LayerError(
                f"layer diff_id mismatch: expected {desc.diff_id}, got sha256:{h.hexdigest()}"
            )

    def _record_blob(self, desc: LayerDescriptor) -> None:
        blob_size = desc.blob_size
        if blob_size is None and self.content.exists(desc.digest):
            blob_size = self.content.size(desc.digest)
        self.store.add_layer_blob(
            desc.diff_id, desc.digest, desc.media_type, blob_size or 0, desc.size
        )

    def create_image(
        self,
        config: dict,
        layers: list[LayerDescriptor],
        *,
        parent: str | None = None,
        tag: Reference | str | None = None,
        manifest_digest: str | None = None,
        progress: ProgressFn | None = None,
    ) -> Image:
        """Record an image from `config` and layer blobs already in the content store.

        `config["rootfs"]["diff_ids"]` is set from `layers` when missing and must match them
        otherwise. Layers are unpacked (if not yet) into snapshots named by chain ID.
        """
        config = dict(config)
        diff_ids = [d.diff_id for d in layers]
        rootfs = config.get("rootfs")
        if not rootfs or rootfs.get("diff_ids") is None:
            config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        elif list(rootfs["diff_ids"]) != diff_ids:
            raise InvalidParameter("image config rootfs.diff_ids do not match the layers")
        self.ensure_layers(layers, progress)
        raw = mf.canonical_json(config)
        return self._record(raw, parent=parent, tag=tag, manifest_digest=manifest_digest)

    def record_config(self, raw_config: bytes, parent: str | None = None) -> Image:
        """Record an image whose config is `raw_config` (its layers must be unpacked)."""
        config = json.loads(raw_config)
        for cid in mf.chain_ids(list((config.get("rootfs") or {}).get("diff_ids") or [])):
            if not self.snapshots.exists(cid):
                raise NotFound(f"layer {cid} is not unpacked")
        return self._record(raw_config, parent=parent)

    def _record(
        self,
        raw_config: bytes,
        *,
        parent: str | None = None,
        tag: Reference | str | None = None,
        manifest_digest: str | None = None,
        repo: Reference | None = None,
        repo_digest: str | None = None,
    ) -> Image:
        image_id = self.content.put(raw_config)
        with self.lock:
            rec = self.store.get_record(image_id) or {"id": image_id, "created_at": now_rfc3339()}
            if parent:
                rec["parent"] = parent
            if manifest_digest:
                rec["manifest"] = manifest_digest
            self.store.put_record(rec)
            if repo is not None and (repo_digest or manifest_digest):
                digest = repo_digest or manifest_digest
                self.store.set_ref(repo.name_only().with_digest(digest), image_id)
            if tag is not None:
                ref = parse_reference(tag) if isinstance(tag, str) else tag
                if ref.tag is not None:
                    self.store.set_ref(Reference(ref.domain, ref.path, ref.tag), image_id)
                    self._touch_tag_time(image_id)
        return self._load(image_id)

    def layers_of(self, image: Image | str) -> list[LayerDescriptor]:
        """The layers of an image as descriptors (for building an image on top of it)."""
        img = image if isinstance(image, Image) else self.get(image)
        out = []
        for diff_id in img.diff_ids:
            blobs = self.layer_blobs(diff_id)
            if blobs:
                b = blobs[0]
                out.append(LayerDescriptor(diff_id, b["digest"], b["mediaType"], None, b["size"]))
            else:
                out.append(LayerDescriptor(diff_id, diff_id))
        return out

    @_leased
    def add_layer(
        self,
        base: Image | str | None,
        tar_stream: BinaryIO,
        config: dict,
        *,
        history: dict | None = None,
        tag: Reference | str | None = None,
    ) -> Image:
        """A new image: `base`'s layers plus the layer tar `tar_stream` (commit, build steps).

        `config` is the new image config without `rootfs` (it is set here); `history`, when
        given, is appended to the base's history.
        """
        base_img = base if isinstance(base, Image) or base is None else self.get(base)
        layers = self.layers_of(base_img) if base_img is not None else []
        layers.append(self.store_layer(tar_stream))
        config = dict(config)
        config.pop("rootfs", None)
        if history is not None:
            prior = list(base_img.config.get("history") or []) if base_img is not None else []
            config["history"] = [*prior, history]
        return self.create_image(
            config, layers, parent=base_img.id if base_img is not None else None, tag=tag
        )

    def save(self, names: list[str], out: BinaryIO) -> None:
        """`docker save`: see dockyard.images.archive.save."""
        from .archive import save

        save(self, names, out)

    @_leased
    def load(self, stream: BinaryIO) -> list[str]:
        """`docker load`: see dockyard.images.archive.load; Docker's messages per image."""
        from .archive import load

        return load(self, stream)

    def reconcile(self, remove_unused_layers: bool = False) -> list[str]:
        """Start-up repair: ingests and unpacks a crash interrupted, records without config,
        stale refs.

        With `remove_unused_layers`, committed snapshots that no image's chain holds and no
        other snapshot stands on (a crash between unpacking and recording) go too.
        Returns what was removed. Call after `Snapshotter.reconcile()`, before serving.
        """
        removed: list[str] = []
        with self.lock:
            self.content.clean_ingest()  # downloads and imports a crash cut short
            shutil.rmtree(os.path.join(self.root, "tmp"), ignore_errors=True)  # loads, too
            for info in list(self.snapshots.walk()):
                if info.kind != "committed" and info.name.startswith("extract-"):
                    try:
                        self.snapshots.remove(info.name)
                        removed.append(info.name)
                    except (Conflict, NotFound):
                        pass
            for image_id in self.store.ids():
                if not self.content.exists(image_id):
                    self.store.delete_record(image_id)
                    removed.append(image_id)
            for ref, image_id in list(self.store.all_refs()):
                if self.store.get_record(image_id) is None:
                    self.store.delete_ref(ref)
                    removed.append(str(ref))
            if remove_unused_layers:
                removed.extend(self._remove_unused_layers())
            self._sweep(set(self.content.walk()))  # blobs of images a crash left half removed
        return removed

    def _remove_unused_layers(self) -> list[str]:
        used: set[str] = set()
        for img in self.images():
            used.update(img.chain_ids)
        removed: list[str] = []
        progress = True
        while progress:  # children first: a removed top layer frees its parent
            progress = False
            for info in list(self.snapshots.walk("committed")):
                if info.name in used:
                    continue
                try:
                    self.snapshots.remove(info.name)
                except Conflict:
                    continue
                removed.append(info.name)
                progress = True
        return removed

    @_leased
    def import_rootfs(
        self,
        stream: BinaryIO,
        repo_tag: str | None = None,
        changes: Iterable[str] = (),
        message: str = "",
        platform: str | None = None,
        source: str = "-",
    ) -> str:
        """`docker import`: a root filesystem tarball (plain, gzip, bzip2, xz, zstd) -> image ID."""
        ref = parse_reference(repo_tag) if repo_tag else None
        plat = mf.Platform.parse(platform)
        desc = self.store_layer(stream)
        created = now_rfc3339()
        comment = message or f"Imported from {source}"
        config: dict = {
            "architecture": plat.architecture,
            "comment": comment,
            "config": apply_changes({}, list(changes)),
            "created": created,
            "history": [{"created": created, "comment": comment}],
            "os": plat.os,
            "rootfs": {"type": "layers", "diff_ids": [desc.diff_id]},
        }
        if plat.variant:
            config["variant"] = plat.variant
        return self.create_image(config, [desc], tag=ref).id

    # --- pull and push ----------------------------------------------------------------------

    def register(
        self,
        manifest_digest: str,
        reference: Reference | None = None,
        progress: ProgressFn | None = None,
        repo_digest: str | None = None,
    ) -> Image:
        """Record a pulled image whose manifest, config and layer blobs are in the content store.

        Unpacks missing layers (verifying diff_ids: a mismatch records nothing), tags the
        image if `reference` has a tag and records the repo digest `name@repo_digest`: the
        digest the registry named (an index's for a multi-platform image, as Docker), by
        default `manifest_digest`.
        """
        manifest = json.loads(self.content.read(manifest_digest))
        mt = mf.media_type_of(manifest)
        if mt not in mf.MANIFEST_TYPES:
            raise InvalidParameter(f"cannot register {mt}: pick a platform manifest first")
        config_digest = manifest["config"]["digest"]
        raw = self.content.read(config_digest)
        config = json.loads(raw)
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        blobs = [
            d
            for d in manifest.get("layers") or []
            if d.get("mediaType") in mf.LAYER_TYPES or not d.get("mediaType")
        ]
        if len(blobs) != len(diff_ids):
            raise InvalidParameter(
                f"the manifest has {len(blobs)} layers but the config {len(diff_ids)} diff_ids"
            )
        layers = [
            LayerDescriptor(
                diff_id, d["digest"], d.get("mediaType") or mf.OCI_LAYER_GZIP, None, d.get("size")
            )
            for diff_id, d in zip(diff_ids, blobs, strict=True)
        ]
        self.ensure_layers(layers, progress)
        tag = reference if reference is not None and reference.tag is not None else None
        return self._record(
            raw,
            tag=tag,
            manifest_digest=manifest_digest,
            repo=reference,
            repo_digest=repo_digest,
        )

    def record_push(self, image_id: str, reference: Reference, manifest_digest: str) -> None:
        """After a push, as Docker: the repo digest `name@manifest_digest` names the image."""
        with self.lock:
            if self.store.get_record(image_id) is not None:
                self.store.set_ref(reference.name_only().with_digest(manifest_digest), image_id)

    def push_manifest(self, image_id: str) -> tuple[str, bytes, str]:
        """(digest, bytes, media type) of a manifest for pushing `image_id`.

        The manifest the image was pulled with is reused when all its blobs are still here;
        otherwise a Docker v2 schema 2 manifest over gzip layer blobs is made (compressing
        layers known only uncompressed). The manifest is put in the content store.
        """
        img = self.get(image_id)
        if img.manifest_digest and self.content.exists(img.manifest_digest):
            raw = self.content.read(img.manifest_digest)
            doc = json.loads(raw)
            descs = [doc.get("config", {}), *(doc.get("layers") or [])]
            if all(d.get("digest") and self.content.exists(d["digest"]) for d in descs):
                return img.manifest_digest, raw, mf.media_type_of(doc)
        layers = []
        for diff_id in img.diff_ids:
            digest, size = self._gzip_blob(diff_id)
            layers.append({"mediaType": mf.DOCKER_LAYER_GZIP, "size": size, "digest": digest})
        doc = {
            "schemaVersion": 2,
            "mediaType": mf.DOCKER_MANIFEST,
            "config": {
                "mediaType": mf.DOCKER_CONFIG,
                "size": self.content.size(img.id),
                "digest": img.id,
            },
            "layers": layers,
        }
        raw = json.dumps(doc, indent=3).encode()
        digest = self.content.put(raw)
        return digest, raw, mf.DOCKER_MANIFEST

    def _gzip_blob(self, diff_id: str) -> tuple[str, int]:
        rec = self.store.get_layer(diff_id)
        for b in rec["blobs"]:
            if b["mediaType"] in mf.GZIP_LAYER_TYPES and self.content.exists(b["digest"]):
                return b["digest"], self.content.size(b["digest"])
        with self.layer_tar(diff_id) as src, self.content.writer() as w:
            gz = gzip.GzipFile(fileobj=w, mode="wb", mtime=0, compresslevel=6)  # type: ignore[arg-type]
            shutil.copyfileobj(src, gz, 1 << 20)
            gz.close()
            digest = w.commit()
        size = self.content.size(digest)
        self.store.add_layer_blob(diff_id, digest, mf.DOCKER_LAYER_GZIP, size, None)
        return digest, size

    def layer_tar(self, diff_id: str) -> BinaryIO:
        """The uncompressed tar of layer `diff_id` (from whichever blob holds it)."""
        if self.content.exists(diff_id):
            return self.content.open(diff_id)
        for b in self.store.get_layer(diff_id)["blobs"]:
            if self.content.exists(b["digest"]):
                f = self.content.open(b["digest"])
                tmp = tempfile.TemporaryFile()
                with f:
                    shutil.copyfileobj(decompressed(f), tmp, 1 << 20)
                tmp.seek(0)
                return tmp  # type: ignore[return-value]
        raise NotFound(f"no blob holds layer {diff_id}")

    def layer_blobs(self, diff_id: str) -> list[dict]:
        """The blobs known to hold a layer: [{"digest", "mediaType", "size"}]."""
        return [
            b for b in self.store.get_layer(diff_id)["blobs"] if self.content.exists(b["digest"])
        ]

    def ensure_snapshots(self, image: Image | str) -> str | None:
        """Re-unpack missing layer snapshots of an image; returns its chain ID."""
        img = image if isinstance(image, Image) else self.get(image)
        layers = []
        for diff_id in img.diff_ids:
            blobs = self.layer_blobs(diff_id)
            if not blobs:
                if self.snapshots.exists(mf.chain_ids(img.diff_ids)[len(layers)]):
                    layers.append(LayerDescriptor(diff_id, diff_id))
                    continue
                raise NotFound(f"no blob holds layer {diff_id}")
            b = blobs[0]
            layers.append(LayerDescriptor(diff_id, b["digest"], b["mediaType"], None, b["size"]))
        self.ensure_layers(layers)
        return img.chain_id


def _ref_match(patterns: list[str], familiar: str) -> bool:
    name = familiar.split("@", 1)[0]
    bare = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    for pattern in patterns:
        if _path_match(pattern, name) or _path_match(pattern, bare):
            return True
        try:
            full = parse_any_reference(familiar)
            if _path_match(pattern, str(full)) or _path_match(pattern, full.name):
                return True
        except InvalidParameter:
            pass
    return False


def _parse_until(value: str) -> float:
    from ..units import parse_duration_ns

    try:
        return float(value)
    except ValueError:
        pass
    t = parse_rfc3339(value)
    if t:
        return t
    import time

    return time.time() - parse_duration_ns(value) / 1e9


def _is_single_reference(refs: list[Reference]) -> bool:
    """Docker's isSingleReference: one tag (plus digests of that repository), or digests of one repo."""
    if len(refs) <= 1:
        return len(refs) == 1
    single = None
    canonical: set[str] = set()
    for r in refs:
        if r.digest is not None:
            canonical.add(r.name)
        elif single is None:
            single = r
        else:
            return False
    if single is None:
        single = refs[0]
    return len(canonical) == 1 and single.name in canonical
