"""The overlayfs snapshotter (containerd's nine-method shape on a plain directory tree).

On disk, under `root`:
    snapshots/<id>/fs     the snapshot's directory (an overlay upper dir while active,
                          a lower dir once committed), snapshots/<id>/work its overlay workdir
    meta/<h>.json         one record per key (h = sha256 of the key): id, kind, parent, ...
    lock                  flock()ed by mutating operations

A snapshot directory exists before its record is written and its record is removed before
its directory: a crash leaves at most a directory without a record (or, mid-commit, two
records for one id), which `reconcile()` repairs at start-up. Committed snapshots are
named by their chain ID by the image service, so layers are shared between images.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import Conflict, InvalidParameter, NotFound
from ..fsutil import fsync_dir, read_json, tree_stats, write_json
from .mount import Mount

ACTIVE = "active"
COMMITTED = "committed"
VIEW = "view"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Info:
    """What `stat` says about a snapshot."""

    kind: str  # active | committed | view
    name: str  # the key (active, view) or the name it was committed as
    parent: str | None
    created: str
    updated: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    id: str = ""


def _du(path: str) -> tuple[int, int]:
    """(bytes on disk, inodes) of a tree, hard links counted once, like containerd's du.
    Only inodes with more than one link are remembered (a million files stay cheap)."""
    linked: set[tuple[int, int]] = set()
    size = inodes = 0
    for st in tree_stats(path):
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in linked:
                continue
            linked.add(key)
        inodes += 1
        size += st.st_blocks * 512
    return size, inodes


class Snapshotter:
    """Overlay snapshots under `root`. Thread-safe; one instance per root is expected."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._snapdir = os.path.join(self.root, "snapshots")
        self._metadir = os.path.join(self.root, "meta")
        os.makedirs(self._snapdir, exist_ok=True)
        os.makedirs(self._metadir, exist_ok=True)
        self._thread_lock = threading.RLock()
        self._lockfile = os.path.join(self.root, "lock")

    # --- records -------------------------------------------------------------------------

    def _meta_path(self, key: str) -> str:
        return os.path.join(self._metadir, hashlib.sha256(key.encode()).hexdigest() + ".json")

    def _read(self, key: str) -> dict | None:
        try:
            rec = read_json(self._meta_path(key))
        except FileNotFoundError:
            return None
        return rec if rec.get("key") == key else None

    def _get(self, key: str) -> dict:
        rec = self._read(key)
        if rec is None:
            raise NotFound(f"snapshot {key} does not exist")
        return rec

    def _records(self) -> Iterator[dict]:
        for name in os.listdir(self._metadir):
            if name.endswith(".json") and not name.startswith("."):
                try:
                    yield read_json(os.path.join(self._metadir, name))
                except (FileNotFoundError, ValueError):
                    continue

    def _fs(self, rec: dict) -> str:
        return os.path.join(self._snapdir, rec["id"], "fs")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            fd = os.open(self._lockfile, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _info(self, rec: dict) -> Info:
        return Info(
            kind=rec["kind"],
            name=rec["key"],
            parent=rec.get("parent"),
            created=rec["created"],
            updated=rec.get("updated", rec["created"]),
            labels=dict(rec.get("labels") or {}),
            id=rec["id"],
        )

    def _parents(self, rec: dict) -> list[dict]:
        chain = []
        parent = rec.get("parent")
        while parent is not None:
            p = self._get(parent)
            chain.append(p)
            parent = p.get("parent")
        return chain

    def _next_id(self) -> str:
        used = [int(n) for n in os.listdir(self._snapdir) if n.isdigit()]
        return str(max(used, default=0) + 1)

    # --- the snapshotter interface ------------------------------------------------------

    def stat(self, key: str) -> Info:
        return self._info(self._get(key))

    def exists(self, key: str) -> bool:
        return self._read(key) is not None

    def update(self, key: str, labels: dict[str, str]) -> Info:
        """Replace the labels of a snapshot."""
        with self._locked():
            rec = self._get(key)
            rec["labels"] = dict(labels)
            rec["updated"] = _now()
            write_json(self._meta_path(key), rec)
            return self._info(rec)

    def usage(self, key: str) -> tuple[int, int]:
        """(bytes, inodes) used by the snapshot's own directory (not its parents)."""
        rec = self._get(key)
        if rec["kind"] == COMMITTED and rec.get("size") is not None:
            return rec["size"], rec["inodes"]
        return _du(self._fs(rec))

    def mounts(self, key: str) -> list[Mount]:
        rec = self._get(key)
        if rec["kind"] == COMMITTED:
            raise InvalidParameter(f"snapshot {key} is committed: mount it through a view")
        return self._mounts(rec)

    def _mounts(self, rec: dict) -> list[Mount]:
        parents = self._parents(rec)
        fs = self._fs(rec)
        if rec["kind"] == VIEW:
            if not parents:
                return [Mount("bind", fs, ["ro", "rbind"])]
            if len(parents) == 1:
                return [Mount("bind", self._fs(parents[0]), ["ro", "rbind"])]
            lower = ":".join(self._fs(p) for p in parents)
            return [Mount("overlay", "overlay", ["ro", f"lowerdir={lower}"])]
        if not parents:
            return [Mount("bind", fs, ["rw", "rbind"])]
        lower = ":".join(self._fs(p) for p in parents)
        work = os.path.join(self._snapdir, rec["id"], "work")
        return [
            Mount(
                "overlay",
                "overlay",
                ["index=off", f"workdir={work}", f"upperdir={fs}", f"lowerdir={lower}"],
            )
        ]

    def prepare(
        self, key: str, parent: str | None = None, labels: dict[str, str] | None = None
    ) -> list[Mount]:
        """A new active (writable) snapshot on top of committed `parent`."""
        return self._create(ACTIVE, key, parent, labels)

    def view(
        self, key: str, parent: str | None = None, labels: dict[str, str] | None = None
    ) -> list[Mount]:
        """A new read-only view of committed `parent`."""
        return self._create(VIEW, key, parent, labels)

    def _create(
        self, kind: str, key: str, parent: str | None, labels: dict[str, str] | None
    ) -> list[Mount]:
        if not key:
            raise InvalidParameter("snapshot key must not be empty")
        with self._locked():
            if self._read(key) is not None:
                raise Conflict(f"snapshot {key} already exists")
            if parent is not None:
                prec = self._get(parent)
                if prec["kind"] != COMMITTED:
                    raise InvalidParameter(f"parent snapshot {parent} is not committed")
            sid = self._next_id()
            base = os.path.join(self._snapdir, sid)
            os.mkdir(base, 0o700)
            os.mkdir(os.path.join(base, "fs"), 0o755)
            if kind == ACTIVE:
                os.mkdir(os.path.join(base, "work"), 0o700)
            fsync_dir(self._snapdir)
            now = _now()
            rec = {
                "id": sid,
                "key": key,
                "kind": kind,
                "parent": parent,
                "created": now,
                "updated": now,
                "labels": dict(labels or {}),
            }
            write_json(self._meta_path(key), rec)
            return self._mounts(rec)

    def commit(
        self,
        name: str,
        key: str,
        labels: dict[str, str] | None = None,
        *,
        parent: str | None = None,
    ) -> Info:
        """Turn active snapshot `key` into committed snapshot `name` (the key is gone).

        `parent` stacks a snapshot prepared without a parent onto committed `parent` as it
        is committed: for a layer applied directly into its own directory (so layers of one
        image can be unpacked side by side, then committed in order).
        """
        with self._locked():
            rec = self._get(key)
            if rec["kind"] != ACTIVE:
                raise InvalidParameter(f"snapshot {key} is not active")
            if self._read(name) is not None:
                raise Conflict(f"snapshot {name} already exists")
            if parent is not None:
                if rec.get("parent") is not None:
                    raise InvalidParameter(f"snapshot {key} already has a parent")
                if self._get(parent)["kind"] != COMMITTED:
                    raise InvalidParameter(f"parent snapshot {parent} is not committed")
            size, inodes = _du(self._fs(rec))
            new = dict(rec, key=name, kind=COMMITTED, size=size, inodes=inodes, updated=_now())
            if parent is not None:
                new["parent"] = parent
            if labels is not None:
                new["labels"] = dict(labels)
            write_json(self._meta_path(name), new)
            os.unlink(self._meta_path(key))
            fsync_dir(self._metadir)
            return self._info(new)

    def remove(self, key: str) -> None:
        """Remove a snapshot; Conflict while other snapshots have it as parent."""
        with self._locked():
            rec = self._get(key)
            for other in self._records():
                if other.get("parent") == key:
                    raise Conflict(
                        f"cannot remove snapshot {key}: snapshot {other['key']} depends on it"
                    )
            os.unlink(self._meta_path(key))
            fsync_dir(self._metadir)
            self._discard_dir(rec["id"])

    def _discard_dir(self, sid: str) -> None:
        base = os.path.join(self._snapdir, sid)
        trash = os.path.join(self._snapdir, "rm-" + sid)
        try:
            os.rename(base, trash)
        except FileNotFoundError:
            return
        _rmtree(trash)

    def walk(self, kind: str | None = None) -> Iterator[Info]:
        """Every snapshot (optionally of one kind), in no particular order."""
        for rec in list(self._records()):
            if kind is None or rec["kind"] == kind:
                yield self._info(rec)

    # --- helpers for the image service, build and containers -----------------------------

    def upper_dir(self, key: str) -> str:
        """The directory that holds this snapshot's own files (overlay upper while active)."""
        return self._fs(self._get(key))

    def lower_dirs(self, key: str) -> list[str]:
        """The parent chain's directories, nearest first (overlay lowerdir order)."""
        return [self._fs(p) for p in self._parents(self._get(key))]

    def reconcile(self) -> list[str]:
        """Repair what a crash left: directories without records, half-done commits.

        Call at start-up before other operations. Returns what was removed.
        """
        removed: list[str] = []
        with self._locked():
            for name in os.listdir(self._metadir):
                if name.startswith(".tmp-"):
                    os.unlink(os.path.join(self._metadir, name))
            by_id: dict[str, list[dict]] = {}
            for rec in self._records():
                by_id.setdefault(rec["id"], []).append(rec)
            for sid, recs in by_id.items():
                if len(recs) > 1:  # crash mid-commit: the committed record wins
                    keep = [r for r in recs if r["kind"] == COMMITTED][:1] or recs[:1]
                    for r in recs:
                        if r is not keep[0]:
                            os.unlink(self._meta_path(r["key"]))
                            removed.append(r["key"])
                if not os.path.isdir(os.path.join(self._snapdir, sid, "fs")):
                    for r in recs:
                        if os.path.exists(self._meta_path(r["key"])):
                            os.unlink(self._meta_path(r["key"]))
                            removed.append(r["key"])
            fsync_dir(self._metadir)
            for name in os.listdir(self._snapdir):
                if name not in by_id:
                    _rmtree(os.path.join(self._snapdir, name))
                    removed.append(name)
        return removed


def _rmtree(path: str) -> None:
    """Remove a tree even where modes would stop us (a layer may hold 0000 directories)."""

    def onerror(func, p, exc_info):  # noqa: ANN001
        try:
            parent = os.path.dirname(p)
            os.chmod(parent, stat.S_IRWXU)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, stat.S_IRWXU)
            func(p)
        except FileNotFoundError:
            pass

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=onerror)
