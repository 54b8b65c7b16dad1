"""The registry client (pull, push, login) against dockyard's own registry server."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from distribution_helpers import digest, image_manifest, image_parts, running

from dockyard.content.store import ContentStore
from dockyard.distribution import mediatypes
from dockyard.distribution import push as push_module
from dockyard.distribution.client import fetch, login, push_manifest
from dockyard.distribution.htpasswd import make_entry
from dockyard.distribution.server import make_app
from dockyard.distribution.sources import BlobSources
from dockyard.errors import NotFound, Unauthorized


def _store(tmp_path, name="local") -> ContentStore:
    return ContentStore(str(tmp_path / name / "content"))


def _seed(store: ContentStore, config: bytes, layers: list[bytes], media_type: str) -> bytes:
    store.put(config)
    for layer in layers:
        store.put(layer)
    body = image_manifest(config, layers, media_type)
    store.put(body)
    return body


def test_push_then_pull_roundtrip_with_progress(tmp_path):
    config, layers = image_parts(3)
    src = _store(tmp_path, "src")
    body = _seed(src, config, layers, mediatypes.DOCKER_MANIFEST)

    async def scenario():
        async with running(make_app(str(tmp_path / "reg"))) as host:
            msgs: list[dict] = []
            d = await push_manifest(
                f"{host}/team/app:v1", src, body, mediatypes.DOCKER_MANIFEST, progress=msgs.append
            )
            assert d == digest(body)
            statuses = [m.get("status") for m in msgs]
            assert statuses[0] == f"The push refers to repository [{host}/team/app]"
            assert statuses.count("Preparing") == 3 and statuses.count("Pushed") == 3
            assert statuses[-2] == f"v1: digest: {d} size: {len(body)}"
            assert msgs[-1]["aux"] == {"Tag": "v1", "Digest": d, "Size": len(body)}
            cfg = json.loads(config)
            assert {m["id"] for m in msgs if m.get("status") == "Pushed"} == {
                x[7:19] for x in cfg["rootfs"]["diff_ids"]
            }

            dst = _store(tmp_path, "dst")
            msgs = []
            result = await fetch(f"{host}/team/app:v1", dst, progress=msgs.append)
            assert result.manifest_digest == d and result.top_digest == d
            assert result.config_digest == digest(config)
            for blob in layers + [config, body]:
                assert dst.read(digest(blob)) == blob
            assert msgs[0] == {"status": "Pulling from team/app", "id": "v1"}
            ids = {digest(x)[7:19] for x in layers}
            assert {m["id"] for m in msgs if m["status"] == "Pulling fs layer"} == ids
            assert {m["id"] for m in msgs if m["status"] == "Download complete"} == ids
            downloading = [m for m in msgs if m["status"] == "Downloading"]
            assert downloading and all(m["progressDetail"]["total"] > 0 for m in downloading)
            assert not result.up_to_date

            msgs = []
            again = await fetch(f"{host}/team/app:v1", dst, progress=msgs.append)
            assert again.up_to_date
            assert [m["status"] for m in msgs[1:]] == ["Already exists"] * 3

            # by digest
            by_digest = await fetch(f"{host}/team/app@{d}", _store(tmp_path, "d2"))
            assert by_digest.manifest_digest == d

    asyncio.run(scenario())
    assert os.listdir(tmp_path / "dst" / "content" / "ingest") == []


def test_chunked_push_mount_and_existing_layers(tmp_path, monkeypatch):
    monkeypatch.setattr(push_module, "MONOLITHIC_LIMIT", 100)
    monkeypatch.setattr(push_module, "CHUNK_SIZE", 1000)
    config, layers = image_parts(2, seed="chunky")
    layers.append(os.urandom(5000))  # bigger than a chunk: several PATCHes
    src = _store(tmp_path, "src")
    body = _seed(src, config, layers, mediatypes.OCI_MANIFEST)
    sources = BlobSources(str(tmp_path / "sources"))

    async def scenario():
        async with running(make_app(str(tmp_path / "reg"))) as host:
            await push_manifest(
                f"{host}/a/one:1", src, body, mediatypes.OCI_MANIFEST, sources=sources
            )
            msgs: list[dict] = []
            await push_manifest(
                f"{host}/b/two:1",
                src,
                body,
                mediatypes.OCI_MANIFEST,
                sources=sources,
                progress=msgs.append,
            )
            mounted = [m for m in msgs if m.get("status") == "Mounted from a/one"]
            assert len(mounted) == 3
            msgs = []
            await push_manifest(
                f"{host}/b/two:2",
                src,
                body,
                mediatypes.OCI_MANIFEST,
                sources=sources,
                progress=msgs.append,
            )
            assert [m.get("status") for m in msgs].count("Layer already exists") == 3
            out = _store(tmp_path, "out")
            await fetch(f"{host}/b/two:2", out)
            assert out.read(digest(layers[2])) == layers[2]

    asyncio.run(scenario())


def _index(entries: list[tuple[str, bytes, dict]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_INDEX,
            "manifests": [
                {"mediaType": mt, "digest": digest(b), "size": len(b), "platform": p}
                for mt, b, p in entries
            ],
        }
    ).encode()


def test_index_platform_selection(tmp_path):
    src = _store(tmp_path, "src")
    amd_cfg, amd_layers = image_parts(1, "amd64")
    arm_cfg, arm_layers = image_parts(1, "arm64")
    amd = _seed(src, amd_cfg, amd_layers, mediatypes.OCI_MANIFEST)
    arm = _seed(src, arm_cfg, arm_layers, mediatypes.OCI_MANIFEST)
    index = _index(
        [
            (
                mediatypes.OCI_MANIFEST,
                arm,
                {"os": "linux", "architecture": "arm64", "variant": "v8"},
            ),
            (mediatypes.OCI_MANIFEST, amd, {"os": "linux", "architecture": "amd64"}),
        ]
    )
    src.put(index)

    async def scenario():
        async with running(make_app(str(tmp_path / "reg"))) as host:
            await push_manifest(f"{host}/multi/img:1", src, index, mediatypes.OCI_INDEX)
            r = await fetch(f"{host}/multi/img:1", _store(tmp_path, "x"), platform="linux/amd64")
            assert r.top_digest == digest(index) and r.manifest_digest == digest(amd)
            assert r.config_digest == digest(amd_cfg)
            store = _store(tmp_path, "y")
            r = await fetch(f"{host}/multi/img:1", store, platform="linux/arm64")
            assert r.manifest_digest == digest(arm)
            assert not store.exists(digest(amd_layers[0]))
            with pytest.raises(NotFound, match="no matching manifest for linux/s390x"):
                await fetch(f"{host}/multi/img:1", _store(tmp_path, "z"), platform="linux/s390x")

    asyncio.run(scenario())


def test_missing_image_errors(tmp_path):
    async def scenario():
        async with running(make_app(str(tmp_path / "reg"))) as host:
            with pytest.raises(NotFound, match="not found"):
                await fetch(f"{host}/no/such:tag", _store(tmp_path))

    asyncio.run(scenario())


def test_basic_auth_pull_push_login(tmp_path):
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(make_entry("alice", "pw") + "\n")
    config, layers = image_parts(1, seed="auth")
    src = _store(tmp_path, "src")
    body = _seed(src, config, layers, mediatypes.OCI_MANIFEST)
    creds = {"username": "alice", "password": "pw"}

    async def scenario():
        async with running(make_app(str(tmp_path / "reg"), str(htpasswd))) as host:
            with pytest.raises(Unauthorized, match="no basic auth credentials"):
                await push_manifest(f"{host}/p/q:1", src, body, mediatypes.OCI_MANIFEST)
            await push_manifest(f"{host}/p/q:1", src, body, mediatypes.OCI_MANIFEST, auth=creds)
            with pytest.raises(Unauthorized) as e:
                await fetch(f"{host}/p/q:1", _store(tmp_path, "a"))
            assert str(e.value) == (
                f'Head "http://{host}/v2/p/q/manifests/1": no basic auth credentials'
            )
            with pytest.raises(Unauthorized, match="^unauthorized: authentication required$"):
                await fetch(
                    f"{host}/p/q:1",
                    _store(tmp_path, "b"),
                    auth={"username": "alice", "password": "bad"},
                )
            r = await fetch(f"{host}/p/q:1", _store(tmp_path, "c"), auth=creds)
            assert r.manifest_digest == digest(body)
            assert await login(host, "alice", "pw") == {
                "Status": "Login Succeeded",
                "IdentityToken": "",
            }
            with pytest.raises(Unauthorized) as e:
                await login(host, "alice", "nope")
            assert str(e.value) == (
                f"login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
            )

    asyncio.run(scenario())
