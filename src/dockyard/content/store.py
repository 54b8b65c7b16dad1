"""The content store: blobs named by their sha256 digest, under `ROOT/blobs/sha256/HEX`.

Ingest writes to `ROOT/ingest/`, hashes as it goes, and renames into place only when the
digest (and size, when known) match what the caller expected. Readers therefore never see a
partial or wrong blob, and a crash mid-ingest leaves only an ingest file that the next start
removes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from typing import BinaryIO

from ..errors import InvalidParameter, NotFound
from ..fsutil import fsync_dir

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}\Z", re.ASCII)


def validate_digest(digest: str) -> str:
    """Return `digest` if it is a well-formed sha256 digest, else raise InvalidParameter."""
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise InvalidParameter(f"invalid digest: {digest!r}")
    return digest


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Writer:
    """An ingest in progress. Use as a context manager: commit() or it is discarded."""

    def __init__(self, store: ContentStore, expected: str | None, size: int | None) -> None:
        self._store = store
        self.expected = validate_digest(expected) if expected else None
        self.expected_size = size
        self.path = os.path.join(store.root, "ingest", uuid.uuid4().hex)
        self._file: BinaryIO | None = open(self.path, "wb")
        self._hash = hashlib.sha256()
        self.offset = 0
        self.digest: str | None = None

    def write(self, data: bytes) -> None:
        assert self._file is not None, "writer is closed"
        self._file.write(data)
        self._hash.update(data)
        self.offset += len(data)

    def commit(self) -> str:
        """Verify and publish the blob; return its digest. Raises InvalidParameter on mismatch."""
        assert self._file is not None, "writer is closed"
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        digest = "sha256:" + self._hash.hexdigest()
        try:
            if self.expected and digest != self.expected:
                raise InvalidParameter(f"digest mismatch: expected {self.expected}, got {digest}")
            if self.expected_size is not None and self.offset != self.expected_size:
                raise InvalidParameter(
                    f"size mismatch for {digest}: expected {self.expected_size}, got {self.offset}"
                )
            target = self._store.path(digest)
            os.rename(self.path, target)
            fsync_dir(os.path.dirname(target))
        except BaseException:
            self.abort()
            raise
        self.digest = digest
        return digest

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._file is not None or exc_type is not None:
            self.abort()


class ContentStore:
    """Blobs by digest. Thread-safe: every publication is one rename."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        os.makedirs(os.path.join(root, "ingest"), exist_ok=True)

    def clean_ingest(self) -> None:
        """Remove ingests left by a crash. Call at start-up, before any writer exists."""
        ingest = os.path.join(self.root, "ingest")
        for name in os.listdir(ingest):
            os.unlink(os.path.join(ingest, name))

    def path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", "sha256", validate_digest(digest)[7:])

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: str) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def writer(self, expected: str | None = None, size: int | None = None) -> Writer:
        return Writer(self, expected, size)

    def put(self, data: bytes, expected: str | None = None) -> str:
        with self.writer(expected, len(data)) as w:
            w.write(data)
            return w.commit()

    def put_file(self, src: BinaryIO, expected: str | None = None, size: int | None = None) -> str:
        with self.writer(expected, size) as w:
            while chunk := src.read(1 << 20):
                w.write(chunk)
            return w.commit()

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def walk(self) -> Iterator[str]:
        for name in os.listdir(os.path.join(self.root, "blobs", "sha256")):
            if len(name) == 64:
                yield "sha256:" + name

    def copy_to(self, digest: str, dst: BinaryIO) -> None:
        with self.open(digest) as f:
            shutil.copyfileobj(f, dst, 1 << 20)
