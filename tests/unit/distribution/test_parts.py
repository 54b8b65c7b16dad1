"""Small parts of distribution: registry config, platforms, progress, challenges, htpasswd."""

from __future__ import annotations

import asyncio

import pytest
from distribution_helpers import digest, image_manifest, image_parts, running

from dockyard.content.store import ContentStore
from dockyard.distribution import mediatypes
from dockyard.distribution.auth import parse_challenges
from dockyard.distribution.client import fetch, normalize_registry, push_manifest
from dockyard.distribution.config import RegistryConfig
from dockyard.distribution.htpasswd import Htpasswd, make_entry
from dockyard.distribution.mediatypes import Descriptor
from dockyard.distribution.platforms import Platform, parse_platform, select
from dockyard.distribution.progress import human_size, progress_bar
from dockyard.distribution.server import RegistryServer, main, make_app
from dockyard.errors import InvalidParameter, NotFound


def test_insecure_registries():
    cfg = RegistryConfig.from_daemon_json(
        {
            "insecure-registries": ["myreg.example:5000", "10.20.0.0/16"],
            "registry-mirrors": ["http://127.0.0.1:5001/"],
        }
    )
    assert cfg.mirrors == ["http://127.0.0.1:5001"]
    assert cfg.is_insecure("myreg.example:5000")
    assert cfg.is_insecure("10.20.3.4:443")
    assert cfg.is_insecure("127.0.0.1:5000") and cfg.is_insecure("localhost:5000")
    assert cfg.is_insecure("127.5.5.5")
    assert not cfg.is_insecure("10.21.0.1:5000")
    with pytest.raises(ValueError):
        RegistryConfig.from_daemon_json({"insecure-registries": ["http://x"]})
    with pytest.raises(ValueError):
        RegistryConfig.from_daemon_json({"registry-mirrors": ["mirror.example"]})


def test_normalize_registry():
    assert normalize_registry("") == "docker.io"
    assert normalize_registry("https://index.docker.io/v1/") == "docker.io"
    assert normalize_registry("127.0.0.1:5000") == "127.0.0.1:5000"
    assert normalize_registry("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"


def _entry(arch: str, variant: str = "", os_: str = "linux") -> Descriptor:
    p = {"os": os_, "architecture": arch}
    if variant:
        p["variant"] = variant
    return Descriptor(mediatypes.OCI_MANIFEST, digest(f"{os_}{arch}{variant}".encode()), 1, p)


def test_platform_parsing_and_selection():
    assert parse_platform("linux/amd64") == Platform("linux", "amd64")
    assert parse_platform("linux/arm64") == Platform("linux", "arm64", "")
    assert parse_platform("linux/arm") == Platform("linux", "arm", "v7")
    assert parse_platform("linux/arm/v6") == Platform("linux", "arm", "v6")
    with pytest.raises(InvalidParameter):
        parse_platform("linux//x")
    entries = (
        _entry("arm", "v6"),
        _entry("arm64", "v8"),
        _entry("amd64"),
        _entry("amd64", os_="windows"),
        _entry("arm", "v7"),
    )
    assert select(entries, Platform("linux", "amd64")) == entries[2]
    assert select(entries, parse_platform("linux/arm64")) == entries[1]
    assert select(entries, parse_platform("linux/arm/v7")) == entries[4]
    assert select(entries[:1], parse_platform("linux/arm/v7")) == entries[0]  # v7 runs v6
    with pytest.raises(NotFound, match="no matching manifest for linux/arm/v5"):
        select(entries, parse_platform("linux/arm/v5"))
    with pytest.raises(NotFound, match="no matching manifest for linux/s390x"):
        select(entries, parse_platform("linux/s390x"))


def test_progress_bar_like_docker():
    assert human_size(1083973) == "1.084MB"
    assert human_size(999) == "999B"
    assert human_size(2_500_000_000) == "2.5GB"
    bar = progress_bar(500_000, 1_000_000)
    assert bar == "[" + "=" * 25 + ">" + " " * 25 + "]    500kB/1MB"
    assert progress_bar(1_000_000, 1_000_000).startswith("[" + "=" * 50 + ">]")
    assert progress_bar(0, 0) == ""


def test_parse_challenges():
    chs = parse_challenges(
        [
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/busybox:pull"',
            'Basic realm="Registry Realm"',
        ]
    )
    assert chs[0].scheme == "bearer"
    assert chs[0].params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/busybox:pull",
    }
    assert chs[1].scheme == "basic" and chs[1].realm == "Registry Realm"


def test_htpasswd_formats(tmp_path):
    path = tmp_path / "htpasswd"
    # {SHA} of "password", as `htpasswd -s` writes it
    path.write_text(make_entry("a", "one") + "\nb:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n# c\n")
    users = Htpasswd(str(path))
    assert users.check("a", "one") and not users.check("a", "two")
    assert users.check("b", "password") and not users.check("b", "nope")
    assert not users.check("c", "")
    assert make_entry("x", "y").startswith("x:$2y$")


def test_registry_server_in_process_and_mirror(tmp_path):
    """The daemon runs RegistryServer in its loop; a mirror serves docker.io pulls."""
    config, layers = image_parts(1, seed="mirror")
    src = ContentStore(str(tmp_path / "src"))
    for blob in [config, *layers]:
        src.put(blob)
    body = image_manifest(config, layers, mediatypes.DOCKER_MANIFEST)
    src.put(body)

    async def scenario():
        server = RegistryServer(str(tmp_path / "reg"))
        await server.start("127.0.0.1", 0)
        try:
            assert server.port and server.url == f"http://127.0.0.1:{server.port}"
            await push_manifest(
                f"127.0.0.1:{server.port}/library/busybox:latest",
                src,
                body,
                mediatypes.DOCKER_MANIFEST,
            )
            cfg = RegistryConfig(mirrors=[server.url])
            msgs: list[dict] = []
            result = await fetch(
                "busybox",
                ContentStore(str(tmp_path / "dst")),
                registry_config=cfg,
                progress=msgs.append,
            )
            assert result.manifest_digest == digest(body)
            assert msgs[0] == {"status": "Pulling from library/busybox", "id": "latest"}
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_main_rejects_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--root", str(tmp_path), "--tls-cert", "x"])
    with pytest.raises(SystemExit):
        main(["serve", "--root", str(tmp_path), "--addr", "nowhere"])
    assert "invalid address" in capsys.readouterr().err


def test_upload_state_survives_a_server_restart(tmp_path):
    """An upload session lives on disk: a new server process finishes it (rehashing)."""
    data = b"a" * 3000

    async def scenario():
        async with running(make_app(str(tmp_path / "reg"))) as host:
            import aiohttp

            async with aiohttp.ClientSession() as s:
                async with s.post(f"http://{host}/v2/r/blobs/uploads/") as r:
                    location = r.headers["Location"]
                async with s.patch(f"http://{host}{location}", data=data[:1000]) as r:
                    assert r.status == 202
        async with running(make_app(str(tmp_path / "reg"))) as host:
            async with aiohttp.ClientSession() as s:
                async with s.patch(
                    f"http://{host}{location}",
                    data=data[1000:],
                    headers={"Content-Range": "1000-2999"},
                ) as r:
                    assert r.status == 202
                async with s.put(f"http://{host}{location}?digest={digest(data)}") as r:
                    assert r.status == 201
                async with s.get(f"http://{host}/v2/r/blobs/{digest(data)}") as r:
                    assert await r.read() == data

    asyncio.run(scenario())


def test_stale_uploads_are_purged(tmp_path):
    import os
    import time

    from dockyard.distribution.storage import RegistryStorage

    storage = RegistryStorage(str(tmp_path))
    old = storage.start_upload("a")
    fresh = storage.start_upload("a")
    past = time.time() - 8 * 24 * 3600
    os.utime(old.data, (past, past))
    assert RegistryStorage(str(tmp_path)) is not None  # a restart purges
    assert not os.path.exists(old.dir)
    assert os.path.exists(fresh.dir)


def test_decode_registry_auth():
    import base64
    import json as _json

    from dockyard.distribution.client import decode_registry_auth

    def enc(obj) -> str:
        return base64.urlsafe_b64encode(_json.dumps(obj).encode()).decode().rstrip("=")

    assert decode_registry_auth(None) is None
    assert decode_registry_auth(enc({})) is None
    assert decode_registry_auth(
        enc({"username": "u", "password": "p", "serveraddress": "127.0.0.1:5000"})
    ) == {"username": "u", "password": "p", "serveraddress": "127.0.0.1:5000"}
    assert decode_registry_auth(enc({"auth": base64.b64encode(b"u:p:q").decode()})) == {
        "username": "u",
        "password": "p:q",
    }
    assert decode_registry_auth(enc({"identitytoken": "tok"})) == {"identitytoken": "tok"}
    with pytest.raises(InvalidParameter):
        decode_registry_auth("%%%")
