"""Shared helpers for the distribution unit tests: run a scenario against a test server."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient, TestServer

from dockyard.distribution.server import make_app


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run_with_client(
    root: str, scenario: Callable[[TestClient], Awaitable[None]], htpasswd: str | None = None
) -> None:
    async def main() -> None:
        client = TestClient(TestServer(make_app(root, htpasswd), host="127.0.0.1"))
        await client.start_server()
        try:
            await scenario(client)
        finally:
            await client.close()

    asyncio.run(main())


def image_manifest(config: bytes, layers: list[bytes], media_type: str) -> bytes:
    oci = "oci" in media_type
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json"
                if oci
                else "application/vnd.docker.container.image.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"
                    if oci
                    else "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": digest(x),
                    "size": len(x),
                }
                for x in layers
            ],
        }
    ).encode()


async def upload_blob(client: TestClient, name: str, data: bytes) -> str:
    d = digest(data)
    r = await client.post(f"/v2/{name}/blobs/uploads/?digest={d}", data=data)
    assert r.status == 201, await r.text()
    return d
