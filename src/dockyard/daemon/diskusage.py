"""`system df`'s image figures: each layer (chain ID) counted once in LayersSize, and each
image's SharedSize, the bytes of its layers that another image also uses."""

from __future__ import annotations

from collections import Counter
from typing import Any

# image id -> its layers as (chain id, size in bytes), base layer first
ImageLayers = dict[str, list[tuple[str, int]]]


def layer_usage(images: list[dict[str, Any]], layers: ImageLayers) -> int:
    """Set each image summary's SharedSize; return LayersSize (distinct layers' bytes)."""
    users: Counter[str] = Counter()
    sizes: dict[str, int] = {}
    for image_id in {img["Id"] for img in images}:
        for chain_id, size in dict(layers.get(image_id, [])).items():
            users[chain_id] += 1
            sizes[chain_id] = size
    for img in images:
        img["SharedSize"] = sum(
            size
            for chain_id, size in dict(layers.get(img["Id"], [])).items()
            if users[chain_id] > 1
        )
    return sum(sizes.values())


def image_layers(images: Any, image_ids: list[str]) -> ImageLayers:
    """Read the layers of each image from an ImageService (blocking: call in a thread)."""
    from dockyard.errors import NotFound

    out: ImageLayers = {}
    for image_id in image_ids:
        try:
            img = images.get(image_id)
        except NotFound:  # removed meanwhile
            continue
        out[image_id] = [
            (chain_id, int(images.store.get_layer(diff_id).get("size") or 0))
            for chain_id, diff_id in zip(img.chain_ids, img.diff_ids, strict=True)
        ]
    return out
