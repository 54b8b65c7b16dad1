"""Layer encodings on pull: zstd (skopeo recompresses; needs `zstandard`) and uncompressed."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os

import pytest
from registry_peers import skopeo

from dockyard.content.store import ContentStore
from dockyard.distribution import mediatypes
from dockyard.distribution.client import pull, push_manifest
from dockyard.errors import InvalidParameter
from dockyard.images.service import ImageService
from dockyard.snapshots import Snapshotter


def _zstd_available() -> bool:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


def _engine(root: str) -> tuple[ContentStore, ImageService]:
    content = ContentStore(os.path.join(root, "content"))
    return content, ImageService(
        os.path.join(root, "images"), content, Snapshotter(os.path.join(root, "snapshots"))
    )


def test_zstd_layers(oci_layout, docker_registry, tmp_path):
    image = f"{docker_registry.host}/zstd/busybox:1"
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-compress-format",
        "zstd",
        f"oci:{oci_layout}:busybox",
        f"docker://{image}",
    )
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{image}").stdout)
    assert {x["mediaType"] for x in raw["layers"]} == {mediatypes.OCI_LAYER_ZSTD}
    content, images = _engine(str(tmp_path / "engine"))
    if _zstd_available():
        img = asyncio.run(pull(image, content, images))
        assert img.config["architecture"] == "amd64"
    else:
        with pytest.raises(InvalidParameter, match="zstandard is not installed"):
            asyncio.run(pull(image, content, images))
        assert not images.exists(image)
        assert not any(content.exists(x["digest"]) for x in raw["layers"])


def test_uncompressed_layer(busybox_rootfs, docker_registry, tmp_path):
    """A manifest whose layer is a plain tar (OCI `tar` media type), pushed by us, pulls."""
    content, images = _engine(str(tmp_path / "engine"))
    src = ContentStore(str(tmp_path / "src"))
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.add(os.path.join(busybox_rootfs, "bin", "busybox"), "bin/busybox")
    layer = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": src.put(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": mediatypes.OCI_LAYER_TAR,
                    "digest": src.put(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    src.put(manifest)
    ref = f"{docker_registry.host}/plain/busybox:1"
    asyncio.run(push_manifest(ref, src, manifest, mediatypes.OCI_MANIFEST))
    img = asyncio.run(pull(ref, content, images))
    upper = images.snapshots.upper_dir(img.chain_id)
    assert os.path.getsize(os.path.join(upper, "bin", "busybox")) == os.path.getsize(
        os.path.join(busybox_rootfs, "bin", "busybox")
    )
