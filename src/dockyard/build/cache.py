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
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from dockyard.fsutil import read_json, write_json


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

    def store(self, key: str, image_id: str) -> None:
        write_json(os.path.join(self.root, key), {"image": image_id})


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
