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


class running:
    """`async with running(app) as base_host:` serves an aiohttp app on 127.0.0.1:<free port>."""

    def __init__(self, app) -> None:
        self.app = app
        self.runner = None

    async def __aenter__(self) -> str:
        from aiohttp import web

        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


def make_layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzip layer tarball of `files`; returns (blob, diff id)."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), digest(tar_bytes)


def image_parts(
    n_layers: int = 2, arch: str = "amd64", seed: str = ""
) -> tuple[bytes, list[bytes]]:
    """A config and `n_layers` gzip layers (distinct per seed/arch)."""
    layers, diff_ids = [], []
    for i in range(n_layers):
        blob, diff_id = make_layer({f"file{i}": f"{seed}{arch}{i}".encode() * 100})
        layers.append(blob)
        diff_ids.append(diff_id)
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    return config, layers
