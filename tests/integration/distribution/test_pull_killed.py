"""SIGKILL in the middle of a pull: the content store stays consistent and a new pull works."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

from dockyard.content.store import ContentStore
from dockyard.distribution import mediatypes
from dockyard.distribution.client import fetch, push_manifest

CHILD = """
import asyncio, sys
from dockyard.content.store import ContentStore
from dockyard.distribution.client import fetch
asyncio.run(fetch(sys.argv[1], ContentStore(sys.argv[2])))
"""


def _image(src: ContentStore) -> bytes:
    layers = [os.urandom(40 << 20), os.urandom(1 << 20)]
    diff_ids = [src.put(x) for x in layers]  # uncompressed: blob digest = diff id
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
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
                {"mediaType": mediatypes.OCI_LAYER_TAR, "digest": d, "size": len(x)}
                for d, x in zip(diff_ids, layers, strict=True)
            ],
        }
    ).encode()
    src.put(manifest)
    return manifest


def _consistent(store: ContentStore) -> None:
    for digest in store.walk():
        h = hashlib.sha256()
        with store.open(digest) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        assert "sha256:" + h.hexdigest() == digest


def test_sigkill_mid_pull(our_registry, tmp_path):
    src = ContentStore(str(tmp_path / "src"))
    manifest = _image(src)
    ref = f"{our_registry.host}/big/image:1"
    asyncio.run(push_manifest(ref, src, manifest, mediatypes.OCI_MANIFEST))
    store_root = str(tmp_path / "engine" / "content")
    store = ContentStore(store_root)
    ingest = os.path.join(store_root, "ingest")
    child = subprocess.Popen([sys.executable, "-c", CHILD, ref, store_root])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and child.poll() is None:
            sizes = [os.path.getsize(os.path.join(ingest, n)) for n in os.listdir(ingest)]
            if any(s > 1 << 20 for s in sizes):
                break
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    _consistent(store)
    assert hashlib.sha256(manifest).hexdigest() not in {d[7:] for d in store.walk()}
    # what a restarted daemon does, then pull again
    store = ContentStore(store_root)
    store.clean_ingest()
    result = asyncio.run(fetch(ref, store))
    assert result.manifest_digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
    _consistent(store)
    assert os.listdir(ingest) == []
