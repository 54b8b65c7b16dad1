"""The image store on disk: image records, the reference (tag/digest) store, the layer index.

    ROOT/images/<hex>.json   an image: its id (config digest), parent, source manifest,
                             last tag time (the config itself is a blob in the content store)
    ROOT/references.json     {"refs": {"docker.io/library/busybox:latest": "sha256:..",
                             "docker.io/library/busybox@sha256:<manifest>": "sha256:.."}}
    ROOT/layers/<hex>.json   per diff_id: unpacked size and the blobs known to hold it
                             (compressed from a pull, or the uncompressed tar)

Every file is written atomically; the reference file is rewritten whole under a lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from ..fsutil import read_json, write_json
from .reference import Reference, parse_any_reference


class ImageStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self._images = os.path.join(root, "images")
        self._layers = os.path.join(root, "layers")
        self._refs_path = os.path.join(root, "references.json")
        os.makedirs(self._images, exist_ok=True)
        os.makedirs(self._layers, exist_ok=True)
        self.lock = threading.RLock()
        self._refs: dict[str, str] = {}
        # digests of removed name@digest references: index blobs the image service may sweep
        self.released_digests: set[str] = set()
        if os.path.exists(self._refs_path):
            self._refs = dict(read_json(self._refs_path).get("refs", {}))

    # --- image records --------------------------------------------------------------------

    def _image_path(self, image_id: str) -> str:
        return os.path.join(self._images, image_id.removeprefix("sha256:") + ".json")

    def get_record(self, image_id: str) -> dict | None:
        try:
            return read_json(self._image_path(image_id))
        except FileNotFoundError:
            return None

    def put_record(self, record: dict) -> None:
        write_json(self._image_path(record["id"]), record)

    def delete_record(self, image_id: str) -> None:
        try:
            os.unlink(self._image_path(image_id))
        except FileNotFoundError:
            pass

    def ids(self) -> list[str]:
        return [
            "sha256:" + n[:-5]
            for n in os.listdir(self._images)
            if n.endswith(".json") and len(n) == 69
        ]

    # --- references -----------------------------------------------------------------------

    def _save_refs(self, refs: dict[str, str]) -> None:
        """Write `refs`, then (only once the disk has them) hold them in memory."""
        write_json(self._refs_path, {"refs": refs})
        self._refs = refs

    def set_ref(self, ref: Reference, image_id: str) -> None:
        with self.lock:
            self._save_refs({**self._refs, str(ref): image_id})

    def delete_ref(self, ref: Reference) -> bool:
        with self.lock:
            if str(ref) not in self._refs:
                return False
            self._save_refs({k: v for k, v in self._refs.items() if k != str(ref)})
            if ref.digest:
                self.released_digests.add(ref.digest)
            return True

    def delete_refs_to(self, image_id: str) -> list[Reference]:
        with self.lock:
            gone = [k for k, v in self._refs.items() if v == image_id]
            if gone:
                self._save_refs({k: v for k, v in self._refs.items() if v != image_id})
            refs = [parse_any_reference(k) for k in gone]
            self.released_digests.update(r.digest for r in refs if r.digest)
            return refs

    def lookup_ref(self, ref: Reference) -> str | None:
        return self._refs.get(str(ref))

    def refs_of(self, image_id: str) -> list[Reference]:
        """Tags and digests of an image, in the order they were added."""
        return [parse_any_reference(k) for k, v in list(self._refs.items()) if v == image_id]

    def all_refs(self) -> Iterator[tuple[Reference, str]]:
        for k, v in list(self._refs.items()):
            yield parse_any_reference(k), v

    # --- layer index ----------------------------------------------------------------------

    def _layer_path(self, diff_id: str) -> str:
        return os.path.join(self._layers, diff_id.removeprefix("sha256:") + ".json")

    def get_layer(self, diff_id: str) -> dict:
        try:
            return read_json(self._layer_path(diff_id))
        except FileNotFoundError:
            return {"diff_id": diff_id, "size": None, "blobs": []}

    def add_layer_blob(
        self, diff_id: str, digest: str, media_type: str, blob_size: int, size: int | None
    ) -> None:
        """Remember that blob `digest` (of `media_type`) holds the layer `diff_id`."""
        with self.lock:
            rec = self.get_layer(diff_id)
            if size is not None:
                rec["size"] = size
            if not any(b["digest"] == digest for b in rec["blobs"]):
                rec["blobs"].append({"digest": digest, "mediaType": media_type, "size": blob_size})
            write_json(self._layer_path(diff_id), rec)
