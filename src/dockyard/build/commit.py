"""Committing build steps: each step's image, its history entry, and the cache.

A step's image is its parent's config with the step's run config, a `container_config`
whose Cmd is the step (`/bin/sh -c #(nop)  ENV A=1`, or the RUN command), and one more
history entry; its layers are the parent's plus the step's diff, or none (`empty_layer`).
Layers are made on overlay snapshots of the parent (`layer_from`) and diffed into a tar.
"""

from __future__ import annotations

import copy
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from dockyard.build.cache import history_match, step_key
from dockyard.build.imageconfig import compact
from dockyard.build.state import BuildOptions, Engine, StageState
from dockyard.faults import crash_point
from dockyard.images import manifest as mf
from dockyard.images.service import Image, LayerDescriptor
from dockyard.images.timefmt import now_rfc3339
from dockyard.snapshots.layer import write_diff
from dockyard.snapshots.mount import mount_all, unmount_all


class Committer:
    """Records the images of a build's steps (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        options: BuildOptions,
        out: Callable[[str], None],
        cache_from: list[Image],
    ) -> None:
        self.engine = engine
        self.images = engine.images
        self.snapshots = engine.snapshots
        self.options = options
        self.out = out
        self.cache_from = cache_from

    @contextmanager
    def mounted_image(self, image: Image | None) -> Iterator[str]:
        target = tempfile.mkdtemp(prefix="dockyard-from-")
        key = f"build-view-{uuid.uuid4().hex}"
        try:
            if image is None or image.chain_id is None:
                yield target
                return
            mounts = self.snapshots.view(key, image.chain_id)
            mount_all(mounts, target)
            try:
                yield target
            finally:
                unmount_all(target)
        finally:
            if self.snapshots.exists(key):
                self.snapshots.remove(key)
            os.rmdir(target)

    def layer_from(self, state: StageState, make: Callable[[str], None]) -> BinaryIO | None:
        """Prepare a snapshot on the state's image, let `make` change it, return its diff."""
        parent = None
        if state.image_id:
            parent = self.images.get(state.image_id).chain_id
        key = f"build-{uuid.uuid4().hex}"
        target = tempfile.mkdtemp(prefix="dockyard-step-")
        try:
            mounts = self.snapshots.prepare(key, parent)
            mount_all(mounts, target)
            try:
                make(target)
            finally:
                unmount_all(target)
            upper = self.snapshots.upper_dir(key)
            if not os.listdir(upper):
                return None
            out = tempfile.TemporaryFile()
            write_diff([], upper, out)  # type: ignore[arg-type]
            out.seek(0)
            return out  # type: ignore[return-value]
        finally:
            if self.snapshots.exists(key):
                self.snapshots.remove(key)
            os.rmdir(target)

    def nop(self, state: StageState, comment: str, one_arg: bool = False) -> dict[str, Any]:
        """The step's container config: the run config with the `#(nop)` comment as Cmd.

        Docker writes `#(nop) ` and the comment as two arguments (`#(nop)  ENV A=1` once
        joined), but as one for WORKDIR, COPY and ADD (`#(nop) COPY ...`), `one_arg`."""
        if one_arg:
            return dict(state.run, Cmd=[*state.shell, "#(nop) " + comment])
        return dict(state.run, Cmd=[*state.shell, "#(nop) ", comment])

    def probe(self, state: StageState, step: dict[str, Any]) -> bool:
        """A cached image for this step: use it (` ---> Using cache`)."""
        if self.options.nocache:
            return False
        created_by = " ".join(step["Cmd"])
        key = step_key(state.image_id, created_by, step)
        hit = self.engine.cache.lookup(key)
        if hit is None:
            hit = self._probe_cache_from(state, step, key)
        if hit is None:
            return False
        self.out(" ---> Using cache\n")
        image = self.images.get(hit)
        state.image_id = image.id
        state.doc = copy.deepcopy(image.config)
        return True

    def _probe_cache_from(self, state: StageState, step: dict[str, Any], key: str) -> str | None:
        created_by = " ".join(step["Cmd"])
        history = list(state.doc.get("history") or []) if state.image_id else []
        diff_ids = list((state.doc.get("rootfs") or {}).get("diff_ids") or [])
        for candidate in self.cache_from:
            match = history_match(history, diff_ids, candidate, created_by)
            if match is None:
                continue
            new_diff_ids, entry = match
            doc = self._doc(state, step)
            doc["history"] = [*history, entry]
            doc["rootfs"] = {"type": "layers", "diff_ids": new_diff_ids}
            layers = self.images.layers_of(candidate)[: len(new_diff_ids)]
            self.images.ensure_layers(layers)
            image = self.images.record_config(mf.canonical_json(doc), parent=state.image_id)
            self.engine.cache.store(key, image.id, state.image_id, created_by)
            return image.id
        return None

    def _doc(self, state: StageState, container_cfg: dict[str, Any]) -> dict[str, Any]:
        run = dict(state.run, Image=state.image_id)
        doc = {k: v for k, v in state.doc.items() if k not in ("config", "container_config")}
        doc.pop("container", None)
        doc.pop("comment", None)
        doc["config"] = compact(run)
        doc["container_config"] = compact(dict(container_cfg, Image=state.image_id))
        doc["created"] = now_rfc3339()
        doc.setdefault("history", [])
        doc.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        return doc

    def commit_meta(self, state: StageState, comment: str) -> None:
        step = self.nop(state, comment)
        if self.probe(state, step):
            return
        self.commit_layer(state, step, None)

    def commit_scratch(self, state: StageState) -> None:
        """An empty image for a RUN on `scratch` (the container needs an image)."""
        doc = self._doc(state, state.run)
        image = self.images.record_config(mf.canonical_json(doc))
        state.image_id = image.id
        state.doc = doc

    def commit_layer(
        self,
        state: StageState,
        step: dict[str, Any],
        layer: BinaryIO | None,
        container: str | None = None,
    ) -> None:
        """Record the step's image: the parent's layers plus `layer` (None: empty_layer)."""
        created_by = " ".join(step["Cmd"])
        key = step_key(state.image_id, created_by, step)
        doc = self._doc(state, step)
        if container:
            doc["container"] = container
        entry: dict[str, Any] = {"created": doc["created"], "created_by": created_by}
        parent = self.images.get(state.image_id) if state.image_id else None
        layers: list[LayerDescriptor] = self.images.layers_of(parent) if parent else []
        if layer is None:
            entry["empty_layer"] = True
        else:
            layers.append(self.images.store_layer(layer))
            self.images.ensure_layers(layers)
        doc["history"] = [*list(doc.get("history") or []), entry]
        doc["rootfs"] = {"type": "layers", "diff_ids": [d.diff_id for d in layers]}
        image = self.images.record_config(
            mf.canonical_json(_ordered(doc)), parent=state.image_id or None
        )
        crash_point("build.step.recorded")
        self.engine.cache.store(key, image.id, state.image_id, created_by)
        state.image_id = image.id
        state.doc = doc


def _ordered(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(doc.items()))
