"""On-disk storage of dockyard's registry server.

Layout under the registry root (every metadata write is atomic):

    content/                       a ContentStore: every blob and manifest, by digest
    uploads/<uuid>/data            the bytes of an upload session so far
    repositories/<name>/_layers/<hex>             a blob linked into the repository
    repositories/<name>/_manifests/revisions/<hex>  JSON {"mediaType"} of a manifest
    repositories/<name>/_manifests/tags/<tag>       the digest a tag points to

A blob is visible in a repository only through its link, as in the distribution registry.

Failures are dockyard.errors types (NotFound, InvalidParameter) whose subclasses below say
what was unknown or invalid; the server's HTTP layer maps them to the spec's error codes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
import uuid
from typing import Any

from ..content.store import ContentStore, validate_digest
from ..errors import InvalidParameter, NotFound
from ..fsutil import atomic_write, fsync_dir, read_json, write_json

NAME_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{NAME_COMPONENT}(?:/{NAME_COMPONENT})*\Z", re.ASCII)
TAG_RE = re.compile(r"^[\w][\w.-]{0,127}\Z", re.ASCII)
UUID_RE = re.compile(r"^[0-9a-f]{32}\Z", re.ASCII)
UPLOAD_MAX_AGE = 7 * 24 * 3600  # a week, as distribution's default


class _Detailed:
    """A storage failure with an optional `detail` (what was asked for) and a default message."""

    default_message = ""

    def __init__(self, message: str | None = None, detail: Any = None) -> None:
        super().__init__(message or self.default_message)  # type: ignore[call-arg]
        self.detail = detail


class BlobUnknown(_Detailed, NotFound):
    default_message = "blob unknown to registry"


class UploadUnknown(_Detailed, NotFound):
    default_message = "blob upload unknown to registry"


class ManifestUnknown(_Detailed, NotFound):
    default_message = "manifest unknown"


class NameUnknown(_Detailed, NotFound):
    default_message = "repository name not known to registry"


class NameInvalid(_Detailed, InvalidParameter):
    default_message = "invalid repository name"


class TagInvalid(_Detailed, InvalidParameter):
    default_message = "invalid tag"


class DigestInvalid(_Detailed, InvalidParameter):
    default_message = "provided digest did not match uploaded content"


class DigestUnsupported(_Detailed, InvalidParameter):
    """A digest of an algorithm other than sha256."""

    default_message = "unsupported digest algorithm"


def check_name(name: str) -> str:
    if len(name) > 255 or not NAME_RE.match(name):
        raise NameInvalid(detail={"name": name})
    return name


def check_digest(digest: str) -> str:
    try:
        return validate_digest(digest)
    except Exception:
        if digest.startswith("sha256:") or ":" not in digest:
            raise DigestInvalid("invalid digest", detail={"digest": digest}) from None
        raise DigestUnsupported(f"unsupported digest algorithm: {digest}") from None


class Upload:
    """An upload session: a data file that grows by PATCH until PUT publishes it."""

    def __init__(self, storage: RegistryStorage, name: str, upload_id: str) -> None:
        self.name = name
        self.id = upload_id
        self.dir = os.path.join(storage.root, "uploads", upload_id)
        self.data = os.path.join(self.dir, "data")

    @property
    def size(self) -> int:
        return os.stat(self.data).st_size


class RegistryStorage:
    """Repositories, tags, manifests, blobs and uploads on the registry's root directory."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.content = ContentStore(os.path.join(root, "content"))
        os.makedirs(os.path.join(root, "uploads"), exist_ok=True)
        os.makedirs(os.path.join(root, "repositories"), exist_ok=True)
        self._lock = threading.Lock()
        # Running hashes of upload sessions, so a sequential upload is hashed once.
        self._hashes: dict[str, tuple[int, hashlib._Hash]] = {}
        self.purge_uploads()

    def purge_uploads(self, older_than: float = UPLOAD_MAX_AGE) -> int:
        """Remove upload sessions untouched for `older_than` seconds (as the registry's
        upload purging does); returns how many went."""
        top = os.path.join(self.root, "uploads")
        now = time.time()
        removed = 0
        for name in os.listdir(top):
            path = os.path.join(top, name)
            try:
                data = os.path.join(path, "data")
                mtime = os.stat(data if os.path.exists(data) else path).st_mtime
            except FileNotFoundError:
                continue
            if now - mtime > older_than:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        return removed

    # -- paths
    def _repo(self, name: str) -> str:
        return os.path.join(self.root, "repositories", check_name(name))

    def _layer_link(self, name: str, digest: str) -> str:
        return os.path.join(self._repo(name), "_layers", check_digest(digest)[7:])

    def _revision(self, name: str, digest: str) -> str:
        return os.path.join(self._repo(name), "_manifests", "revisions", check_digest(digest)[7:])

    def _tag(self, name: str, tag: str) -> str:
        if not TAG_RE.match(tag):
            raise TagInvalid(detail={"tag": tag})
        return os.path.join(self._repo(name), "_manifests", "tags", tag)

    def repository_exists(self, name: str) -> bool:
        return os.path.isdir(self._repo(name))

    # -- blobs
    def blob_path(self, name: str, digest: str) -> str:
        """The file of a blob linked into `name`; raises BLOB_UNKNOWN otherwise."""
        link = self._layer_link(name, digest)
        path = self.content.path(digest)
        if not (os.path.exists(link) or os.path.exists(self._revision(name, digest))):
            raise BlobUnknown(detail={"digest": digest})
        if not os.path.exists(path):
            raise BlobUnknown(detail={"digest": digest})
        return path

    def link_blob(self, name: str, digest: str) -> None:
        link = self._layer_link(name, digest)
        if not os.path.exists(link):
            atomic_write(link, digest.encode())

    def has_blob(self, name: str, digest: str) -> bool:
        try:
            self.blob_path(name, digest)
            return True
        except (BlobUnknown, InvalidParameter):
            return False

    def delete_blob(self, name: str, digest: str) -> None:
        link = self._layer_link(name, digest)
        try:
            os.unlink(link)
        except FileNotFoundError:
            raise BlobUnknown(detail={"digest": digest}) from None

    def mount_blob(self, name: str, digest: str, source: str) -> bool:
        """Link a blob of repository `source` into `name`; False when `source` lacks it."""
        try:
            check_name(source)
        except NameInvalid:
            return False
        if not self.has_blob(source, digest):
            return False
        self.link_blob(name, digest)
        return True

    def put_blob(self, name: str, data: bytes, digest: str) -> str:
        check_digest(digest)
        try:
            self.content.put(data, digest)
        except Exception:
            raise DigestInvalid(detail={"digest": digest}) from None
        self.link_blob(name, digest)
        return digest

    # -- uploads
    def start_upload(self, name: str) -> Upload:
        check_name(name)
        upload = Upload(self, name, uuid.uuid4().hex)
        os.makedirs(upload.dir)
        write_json(os.path.join(upload.dir, "info"), {"name": name})
        open(upload.data, "wb").close()
        return upload

    def upload(self, name: str, upload_id: str) -> Upload:
        if not UUID_RE.match(upload_id):
            raise UploadUnknown(detail={"uuid": upload_id})
        upload = Upload(self, name, upload_id)
        try:
            info = read_json(os.path.join(upload.dir, "info"))
        except (FileNotFoundError, ValueError):
            raise UploadUnknown(detail={"uuid": upload_id}) from None
        if info.get("name") != name:
            raise UploadUnknown(detail={"uuid": upload_id})
        return upload

    def append(self, upload: Upload, chunk: bytes) -> None:
        """Append to an upload; keeps the running hash when the append is sequential."""
        with open(upload.data, "ab") as f:
            offset = f.tell()
            f.write(chunk)
        with self._lock:
            state = self._hashes.get(upload.id)
            if state is None and offset == 0:
                state = (0, hashlib.sha256())
            if state is not None and state[0] == offset:
                state[1].update(chunk)
                self._hashes[upload.id] = (offset + len(chunk), state[1])
            else:
                self._hashes.pop(upload.id, None)

    def finish_upload(self, upload: Upload, digest: str) -> str:
        """Verify the upload's bytes against `digest` and publish them as a blob."""
        check_digest(digest)
        size = upload.size
        with self._lock:
            state = self._hashes.pop(upload.id, None)
        if state is not None and state[0] == size:
            actual = "sha256:" + state[1].hexdigest()
        else:
            h = hashlib.sha256()
            with open(upload.data, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            actual = "sha256:" + h.hexdigest()
        if actual != digest:
            self.cancel_upload(upload)
            raise DigestInvalid(detail={"digest": digest, "actual": actual})
        target = self.content.path(digest)
        with open(upload.data, "rb+") as f:
            os.fsync(f.fileno())
        os.rename(upload.data, target)
        fsync_dir(os.path.dirname(target))
        shutil.rmtree(upload.dir, ignore_errors=True)
        self.link_blob(upload.name, digest)
        return digest

    def cancel_upload(self, upload: Upload) -> None:
        with self._lock:
            self._hashes.pop(upload.id, None)
        shutil.rmtree(upload.dir, ignore_errors=True)

    # -- manifests
    def put_manifest(self, name: str, body: bytes, media_type: str, tag: str | None) -> str:
        digest = self.content.put(body)
        write_json(self._revision(name, digest), {"mediaType": media_type})
        self.link_blob(name, digest)
        if tag is not None:
            atomic_write(self._tag(name, tag), digest.encode())
        return digest

    def resolve(self, name: str, reference: str) -> str:
        """The digest a tag or digest reference names in `name`; raises MANIFEST_UNKNOWN."""
        if ":" in reference:
            check_digest(reference)
            if not os.path.exists(self._revision(name, reference)):
                raise ManifestUnknown(detail={"digest": reference})
            return reference
        try:
            with open(self._tag(name, reference), "rb") as f:
                return f.read().decode().strip()
        except FileNotFoundError:
            if not self.repository_exists(name):
                raise NameUnknown(detail={"name": name}) from None
            raise ManifestUnknown(detail={"tag": reference}) from None

    def manifest(self, name: str, digest: str) -> tuple[bytes, str]:
        """The bytes and media type of a manifest revision of `name`."""
        try:
            info = read_json(self._revision(name, digest))
            return self.content.read(digest), info["mediaType"]
        except (FileNotFoundError, KeyError, ValueError):
            raise ManifestUnknown(detail={"digest": digest}) from None
        except Exception as e:  # the content store's NotFound
            raise ManifestUnknown(detail={"digest": digest}) from e

    def has_manifest(self, name: str, digest: str) -> bool:
        return os.path.exists(self._revision(name, digest)) and self.content.exists(digest)

    def delete_manifest(self, name: str, digest: str) -> None:
        try:
            os.unlink(self._revision(name, digest))
        except FileNotFoundError:
            raise ManifestUnknown(detail={"digest": digest}) from None
        for tag in self.tags(name):
            try:
                if self.resolve(name, tag) == digest:
                    os.unlink(self._tag(name, tag))
            except (ManifestUnknown, NameUnknown, InvalidParameter, FileNotFoundError):
                pass

    def delete_tag(self, name: str, tag: str) -> None:
        try:
            os.unlink(self._tag(name, tag))
        except FileNotFoundError:
            raise ManifestUnknown(detail={"tag": tag}) from None

    def revisions(self, name: str) -> list[str]:
        d = os.path.join(self._repo(name), "_manifests", "revisions")
        try:
            return ["sha256:" + h for h in sorted(os.listdir(d)) if len(h) == 64]
        except FileNotFoundError:
            return []

    # -- listings
    def tags(self, name: str) -> list[str]:
        d = os.path.join(self._repo(name), "_manifests", "tags")
        if not self.repository_exists(name):
            raise NameUnknown(detail={"name": name})
        try:
            return sorted(t for t in os.listdir(d) if not t.startswith(".tmp-"))
        except FileNotFoundError:
            return []

    def catalog(self) -> list[str]:
        """Every repository that holds at least one manifest revision, sorted."""
        top = os.path.join(self.root, "repositories")
        names = []
        for dirpath, dirnames, _files in os.walk(top):
            if "_manifests" in dirnames:
                names.append(os.path.relpath(dirpath, top))
            dirnames[:] = [d for d in dirnames if not d.startswith("_")]
        return sorted(names)
