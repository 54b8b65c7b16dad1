"""The registry the daemon runs in its own process when daemon.json has `registry-addr`."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import pytest

from dockyard.distribution.server import start_in_daemon


def test_no_registry_without_the_key(tmp_path):
    assert asyncio.run(start_in_daemon({}, str(tmp_path))) is None


def test_a_bad_address_is_refused(tmp_path):
    with pytest.raises(ValueError, match="want HOST:PORT"):
        asyncio.run(start_in_daemon({"registry-addr": "127.0.0.1"}, str(tmp_path)))


def test_serves_under_the_data_root(tmp_path):
    async def scenario() -> None:
        server = await start_in_daemon({"registry-addr": "127.0.0.1:0"}, str(tmp_path))
        assert server is not None
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{server.url}/v2/") as r:
                    assert r.status == 200
                    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
                async with http.post(f"{server.url}/v2/x/y/blobs/uploads/") as r:
                    assert r.status == 202
        finally:
            await server.stop()

    asyncio.run(scenario())
    assert os.path.isdir(tmp_path / "registry")
