"""The client against a hostile registry: wrong digests, dropped connections, missing blobs.

Whatever the server does, the content store shows whole, verified blobs or nothing.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from aiohttp import web
from distribution_helpers import digest, image_manifest, image_parts, running

from dockyard.content.store import ContentStore
from dockyard.distribution import mediatypes
from dockyard.distribution import pull as pull_module
from dockyard.distribution.client import fetch
from dockyard.errors import NotFound, SystemError_


def hostile_registry(blobs: dict[str, bytes], manifest: bytes, mode: dict) -> web.Application:
    """A registry serving one manifest; `mode` says how to misbehave on blobs.

    mode["corrupt"]: digests served with flipped bytes; mode["drop"]: digest -> how many
    more times to cut the connection half-way; mode["missing"]: digests answered 404.
    Range requests are honoured and recorded in mode["ranges"].
    """
    mode.setdefault("ranges", [])

    async def base(request):
        return web.json_response({})

    async def get_manifest(request):
        return web.Response(
            body=manifest,
            content_type=mediatypes.OCI_MANIFEST,
            headers={"Docker-Content-Digest": digest(manifest)},
        )

    async def get_blob(request):
        d = request.match_info["digest"]
        if d in mode.get("missing", ()) or d not in blobs:
            return web.json_response(
                {"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry"}]},
                status=404,
            )
        data = blobs[d]
        if d in mode.get("corrupt", ()):
            data = bytes(b ^ 0xFF for b in data)
        start = 0
        if "Range" in request.headers:
            mode["ranges"].append(request.headers["Range"])
            start = int(request.headers["Range"].split("=")[1].split("-")[0])
        status = 206 if start else 200
        headers = {"Content-Length": str(len(data) - start)}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        resp = web.StreamResponse(status=status, headers=headers)
        await resp.prepare(request)
        if mode.get("drop", {}).get(d, 0) > 0:
            mode["drop"][d] -= 1
            await resp.write(data[start : start + (len(data) - start) // 2])
            request.transport.close()
            return resp
        await resp.write(data[start:])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/v2/", base)
    app.router.add_route("*", "/v2/{name:.+}/manifests/{ref}", get_manifest)
    app.router.add_get("/v2/{name:.+}/blobs/{digest}", get_blob)
    return app


@pytest.fixture
def image():
    config, layers = image_parts(2, seed="hostile")
    layers[1] = layers[1] + os.urandom(3 << 20)  # big enough to be cut mid-way
    manifest = image_manifest(config, layers, mediatypes.OCI_MANIFEST)
    blobs = {digest(b): b for b in [config, *layers]}
    return manifest, blobs, layers


def _visible(store: ContentStore) -> set[str]:
    return set(store.walk())


def _ingest_empty(store: ContentStore) -> bool:
    return os.listdir(os.path.join(store.root, "ingest")) == []


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(pull_module, "RETRY_DELAY", 0.01)


def test_wrong_digest_fails_and_stores_no_layer(tmp_path, image):
    manifest, blobs, layers = image
    store = ContentStore(str(tmp_path / "c"))
    mode = {"corrupt": {digest(layers[0])}}

    async def scenario():
        async with running(hostile_registry(blobs, manifest, mode)) as host:
            with pytest.raises(SystemError_, match="filesystem layer verification failed"):
                await fetch(f"{host}/x/y:1", store)

    asyncio.run(scenario())
    assert digest(layers[0]) not in _visible(store)
    assert digest(manifest) not in _visible(store)
    assert _ingest_empty(store)


def test_connection_dropped_mid_blob_then_second_pull(tmp_path, image):
    manifest, blobs, layers = image
    store = ContentStore(str(tmp_path / "c"))
    big = digest(layers[1])
    mode = {"drop": {big: 100}}

    async def scenario():
        async with running(hostile_registry(blobs, manifest, mode)) as host:
            with pytest.raises(SystemError_, match=f"failed to download {big}"):
                await fetch(f"{host}/x/y:1", store)
            assert big not in _visible(store)
            assert digest(manifest) not in _visible(store)
            assert _ingest_empty(store)
            mode["drop"][big] = 0
            result = await fetch(f"{host}/x/y:1", store)
            assert result.manifest_digest == digest(manifest)

    asyncio.run(scenario())
    assert store.read(big) == layers[1]
    assert _ingest_empty(store)


def test_dropped_connection_resumes_with_range(tmp_path, image):
    manifest, blobs, layers = image
    store = ContentStore(str(tmp_path / "c"))
    big = digest(layers[1])
    mode = {"drop": {big: 2}}

    async def scenario():
        async with running(hostile_registry(blobs, manifest, mode)) as host:
            await fetch(f"{host}/x/y:1", store)

    asyncio.run(scenario())
    assert store.read(big) == layers[1]
    assert len(mode["ranges"]) == 2 and all(r.startswith("bytes=") for r in mode["ranges"])
    assert int(mode["ranges"][0].split("=")[1].rstrip("-")) > 0


def test_manifest_with_missing_blob_fails_cleanly(tmp_path, image):
    manifest, blobs, layers = image
    store = ContentStore(str(tmp_path / "c"))
    mode = {"missing": {digest(layers[1])}}

    async def scenario():
        async with running(hostile_registry(blobs, manifest, mode)) as host:
            with pytest.raises(NotFound, match="blob unknown"):
                await fetch(f"{host}/x/y:1", store)

    asyncio.run(scenario())
    assert digest(layers[1]) not in _visible(store)
    assert digest(manifest) not in _visible(store)
    assert _ingest_empty(store)
