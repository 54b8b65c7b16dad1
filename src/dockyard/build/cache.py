"""The build cache: which image a step made from a given parent, instruction and inputs.

Docker's classic builder finds a cached step by scanning the children of the parent image
and comparing their `ContainerConfig`. We keep an index instead, under the data root
(`<root>/<sha256 of the key>` holding `{"image": id}`), so a lookup is one file read, not a
scan of every image: the key is the parent image ID, the step's history line (which for RUN
carries the build args in effect and for COPY/ADD the hash of the sources' contents and
metadata), and the whole run config (Env, WorkingDir, User, Shell, ...). An entry whose image
was removed is a miss. The images themselves stay in the image store, with parent links.

`--cache-from` images seed it (`from_images`): a step also hits when a cache-from image's
history continues the parent's history with the same line over the same layers, and the
step's image is then rebuilt from that image's layers.

The index entries are the daemon's build cache records (`GET /system/df`'s BuildCache,
`POST /build/prune`): a record also keeps its step's history line and when it was made.
Pruning drops records (later builds miss them), never images: the images a build made stay
until they are removed like any other (`docker rmi` removes untagged parents).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

from dockyard.errors import InvalidParameter
from dockyard.fsutil import read_json, write_json
from dockyard.images.timefmt import now_rfc3339, parse_rfc3339

PRUNE_FILTERS = ("until", "id", "parent", "type", "description", "inuse", "shared", "private")


def step_key(parent: str, created_by: str, run_config: dict[str, Any]) -> str:
    material = json.dumps(
        {"parent": parent, "created_by": created_by, "config": run_config},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode()).hexdigest()


class BuildCache:
    """The index of cached steps (thread-safe: every write is an atomic file replace)."""

    def __init__(self, root: str, images: Any) -> None:
        self.root = root
        self.images = images
        os.makedirs(root, exist_ok=True)

    def lookup(self, key: str) -> str | None:
        try:
            rec = read_json(os.path.join(self.root, key))
        except (OSError, ValueError):
            return None
        image_id = rec.get("image") if isinstance(rec, dict) else None
        if not image_id or not self.images.exists(image_id):
            return None
        return image_id

    def store(self, key: str, image_id: str, parent: str = "", description: str = "") -> None:
        record = {"image": image_id, "parent": parent, "description": description,
                  "created": now_rfc3339()}  # fmt: skip
        write_json(os.path.join(self.root, key), record)

    def records(self) -> list[dict[str, Any]]:
        """The cache records as Docker's BuildCache objects (oldest first)."""
        raw: list[tuple[str, dict, int]] = []
        for key in os.listdir(self.root):
            path = os.path.join(self.root, key)
            try:
                rec, size = read_json(path), os.path.getsize(path)
            except (OSError, ValueError):
                continue  # a record being replaced or removed right now
            if isinstance(rec, dict) and len(key) == 64:
                raw.append((key, rec, size))
        by_image = {rec.get("image"): key for key, rec, _ in raw}
        out = []
        for key, rec, size in raw:
            created = rec.get("created") or now_rfc3339()
            parent = by_image.get(rec.get("parent"))
            out.append({
                "ID": key,
                "Parents": [parent] if parent else None,
                "Type": "regular",
                "Description": rec.get("description") or "",
                "InUse": False,
                "Shared": False,
                "Size": size,
                "CreatedAt": created,
                "LastUsedAt": created,
                "UsageCount": 0,
            })  # fmt: skip
        out.sort(key=lambda r: (parse_rfc3339(r["CreatedAt"]), r["ID"]))
        return out

    def prune(
        self, filters: dict[str, list[str]] | None = None, keep_storage: int = 0
    ) -> dict[str, Any]:
        """Remove the records `filters` select (oldest first, keeping `keep_storage` bytes of
        them); Docker's BuildPruneResponse."""
        filters = filters or {}
        for name in filters:
            if name not in PRUNE_FILTERS:
                raise InvalidParameter(f"invalid filter '{name}'")
        chosen = [r for r in self.records() if _selected(r, filters)]
        kept = sum(r["Size"] for r in chosen)
        deleted: list[str] = []
        reclaimed = 0
        for rec in chosen:
            if keep_storage > 0 and kept <= keep_storage:
                break
            try:
                os.unlink(os.path.join(self.root, rec["ID"]))
            except FileNotFoundError:
                continue
            kept -= rec["Size"]
            reclaimed += rec["Size"]
            deleted.append(rec["ID"])
        return {"CachesDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def _selected(record: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Whether a record matches BuildKit's prune filters (each key: any of its values)."""
    for until in filters.get("until", []):
        if parse_rfc3339(record["CreatedAt"]) >= _until(until):
            return False
    if filters.get("id") and not any(record["ID"].startswith(v) for v in filters["id"]):
        return False
    parents = record["Parents"] or []
    if filters.get("parent") and not any(p.startswith(v) for v in filters["parent"]
                                         for p in parents):  # fmt: skip
        return False
    if filters.get("type") and record["Type"] not in filters["type"]:
        return False
    if filters.get("description") and not any(
        v in record["Description"] for v in filters["description"]
    ):
        return False
    # No record is in use or shared with an image's layers: every one is private.
    if _true(filters, "inuse") or _true(filters, "shared"):
        return False
    return "private" not in filters or _true(filters, "private")


def _true(filters: dict[str, list[str]], name: str) -> bool:
    return any(v.lower() in ("", "1", "true") for v in filters.get(name, []))


def _until(value: str) -> float:
    """`until`: unix seconds, an RFC 3339 time, or a Go duration before now."""
    from dockyard.units import parse_duration_ns

    try:
        return float(value)
    except ValueError:
        pass
    when = parse_rfc3339(value)
    if when:
        return when
    try:
        return time.time() - parse_duration_ns(value) / 1e9
    except (ValueError, InvalidParameter):
        raise InvalidParameter(f"invalid filter 'until={value}'") from None


def history_match(
    parent_history: list[dict], parent_diff_ids: list[str], candidate: Any, created_by: str
) -> tuple[list[str], dict] | None:
    """Whether cache-from image `candidate` continues the parent with the step `created_by`.

    Returns (the diff_ids the step's image has, the history entry) or None.
    """
    history = list(candidate.config.get("history") or [])
    n = len(parent_history)
    if len(history) <= n:
        return None
    for ours, theirs in zip(parent_history, history[:n], strict=False):
        if ours.get("created_by", "") != theirs.get("created_by", ""):
            return None
    entry = history[n]
    if entry.get("created_by", "") != created_by:
        return None
    diff_ids = list(candidate.diff_ids)
    if diff_ids[: len(parent_diff_ids)] != parent_diff_ids:
        return None
    layers = [h for h in history[: n + 1] if not h.get("empty_layer")]
    if len(layers) > len(diff_ids) or len(layers) < len(parent_diff_ids):
        return None
    return diff_ids[: len(layers)], entry
