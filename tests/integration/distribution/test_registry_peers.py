"""Pull, push and serve against peers we did not write: Debian's docker-registry, skopeo
and umoci. Images come from umoci; every registry runs on 127.0.0.1 and is stopped after."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import pytest
from registry_peers import OurRegistry, layout_manifest, skopeo, skopeo_inspect

from dockyard.content.store import ContentStore
from dockyard.distribution import push as push_module
from dockyard.distribution.client import fetch, login, pull, push
from dockyard.errors import Unauthorized
from dockyard.images.service import ImageService
from dockyard.snapshots import Snapshotter


class Engine:
    """The stores a daemon would wire together, on a temporary data root."""

    def __init__(self, root: str) -> None:
        self.content = ContentStore(os.path.join(root, "content"))
        self.images = ImageService(
            os.path.join(root, "images"), self.content, Snapshotter(os.path.join(root, "snapshots"))
        )

    def arch_file(self, image) -> str:
        """/etc/arch of an image (the top layer of our umoci images writes it)."""
        upper = self.images.snapshots.upper_dir(image.chain_id)
        with open(os.path.join(upper, "etc", "arch")) as f:
            return f.read().strip()


@pytest.fixture
def engine(tmp_path):
    return Engine(str(tmp_path / "engine"))


def _copy_in(layout: str, tag: str, dest: str, *extra: str) -> None:
    skopeo("copy", "--dest-tls-verify=false", *extra, f"oci:{layout}:{tag}", f"docker://{dest}")


def test_pull_umoci_image_from_docker_registry(oci_layout, docker_registry, engine):
    _copy_in(oci_layout, "busybox", f"{docker_registry.host}/test/busybox:1")
    expected_digest, manifest = layout_manifest(oci_layout, "busybox")
    messages: list[dict] = []
    image = asyncio.run(
        pull(
            f"{docker_registry.host}/test/busybox:1",
            engine.content,
            engine.images,
            progress=messages.append,
        )
    )
    assert image.id == manifest["config"]["digest"]
    assert image.config["architecture"] == "amd64"
    assert f"{docker_registry.host}/test/busybox:1" in image.repo_tags
    assert engine.arch_file(image) == "amd64"
    statuses = [m["status"] for m in messages]
    assert statuses[0] == "Pulling from test/busybox"
    for status in (
        "Pulling fs layer",
        "Downloading",
        "Download complete",
        "Extracting",
        "Pull complete",
    ):
        assert status in statuses, status
    assert statuses[-2] == f"Digest: {expected_digest}"
    assert statuses[-1] == (
        f"Status: Downloaded newer image for {docker_registry.host}/test/busybox:1"
    )
    again: list[dict] = []
    asyncio.run(
        pull(
            f"{docker_registry.host}/test/busybox:1",
            engine.content,
            engine.images,
            progress=again.append,
        )
    )
    assert again[-1]["status"] == (
        f"Status: Image is up to date for {docker_registry.host}/test/busybox:1"
    )
    # by digest
    image = asyncio.run(
        pull(
            f"{docker_registry.host}/test/busybox@{expected_digest}", engine.content, engine.images
        )
    )
    assert image.id == manifest["config"]["digest"]


def test_pull_multi_platform_index_selects_amd64(oci_layout, docker_registry, engine):
    _copy_in(oci_layout, "multi", f"{docker_registry.host}/test/multi:1", "--all")
    index_digest, index = layout_manifest(oci_layout, "multi")
    assert {m["platform"]["architecture"] for m in index["manifests"]} == {"amd64", "arm64"}
    amd64 = next(m for m in index["manifests"] if m["platform"]["architecture"] == "amd64")
    image = asyncio.run(pull(f"{docker_registry.host}/test/multi:1", engine.content, engine.images))
    assert image.config["architecture"] == "amd64"
    assert engine.arch_file(image) == "amd64"
    assert image.manifest_digest == amd64["digest"]
    assert engine.content.exists(index_digest)
    # and the other platform when asked for
    result = asyncio.run(
        fetch(
            f"{docker_registry.host}/test/multi:1",
            ContentStore(os.path.join(engine.content.root, "..", "arm")),
            platform="linux/arm64",
        )
    )
    arm64 = next(m for m in index["manifests"] if m["platform"]["architecture"] == "arm64")
    assert result.manifest_digest == arm64["digest"]


def test_our_push_is_read_by_skopeo(oci_layout, docker_registry, engine, tmp_path, monkeypatch):
    _copy_in(oci_layout, "busybox", f"{docker_registry.host}/test/busybox:1")
    asyncio.run(pull(f"{docker_registry.host}/test/busybox:1", engine.content, engine.images))
    engine.images.tag(
        f"{docker_registry.host}/test/busybox:1", f"{docker_registry.host}/pushed/busybox", "2"
    )
    # small chunks: the layer goes up in several PATCH requests
    monkeypatch.setattr(push_module, "MONOLITHIC_LIMIT", 64 << 10)
    monkeypatch.setattr(push_module, "CHUNK_SIZE", 256 << 10)
    messages: list[dict] = []
    digest = asyncio.run(
        push(
            f"{docker_registry.host}/pushed/busybox:2",
            engine.content,
            engine.images,
            progress=messages.append,
        )
    )
    statuses = [m.get("status") for m in messages]
    assert statuses[0] == f"The push refers to repository [{docker_registry.host}/pushed/busybox]"
    assert "Preparing" in statuses
    # the blobs came from test/busybox on the same registry: mounted, not uploaded
    assert "Mounted from test/busybox" in statuses
    assert statuses[-2].startswith("2: digest: " + digest)
    inspected = skopeo_inspect(f"docker://{docker_registry.host}/pushed/busybox:2")
    assert inspected["Digest"] == digest
    out = tmp_path / "out"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        f"docker://{docker_registry.host}/pushed/busybox:2",
        f"oci:{out}:x",
    )
    with open(out / "index.json") as f:
        assert json.load(f)["manifests"][0]["digest"] == digest

    # a fresh repository on a registry that never saw the blobs: real chunked uploads
    with OurRegistry(str(tmp_path / "ours")) as ours:
        engine.images.tag(f"{docker_registry.host}/test/busybox:1", f"{ours.host}/fresh/bb", "3")
        messages = []
        digest3 = asyncio.run(
            push(f"{ours.host}/fresh/bb:3", engine.content, engine.images, progress=messages.append)
        )
        assert "Pushed" in [m.get("status") for m in messages]
        assert skopeo_inspect(f"docker://{ours.host}/fresh/bb:3")["Digest"] == digest3
    engine.images.tag(
        f"{docker_registry.host}/test/busybox:1", f"{docker_registry.host}/fresh/bb", "3"
    )
    source = os.path.join(os.path.dirname(engine.content.root), "distribution")
    subprocess.run(["rm", "-rf", source], check=True)  # forget where blobs came from
    messages = []
    digest4 = asyncio.run(
        push(
            f"{docker_registry.host}/fresh/bb:3",
            engine.content,
            engine.images,
            progress=messages.append,
        )
    )
    assert [m.get("status") for m in messages].count("Pushed") == 1
    assert skopeo_inspect(f"docker://{docker_registry.host}/fresh/bb:3")["Digest"] == digest4


def test_skopeo_into_and_out_of_our_server(oci_layout, our_registry, tmp_path, engine):
    host = our_registry.host
    _copy_in(oci_layout, "busybox", f"{host}/lib/busybox:1")
    _copy_in(oci_layout, "multi", f"{host}/lib/multi:1", "--all")
    expected, _ = layout_manifest(oci_layout, "busybox")
    assert skopeo_inspect(f"docker://{host}/lib/busybox:1")["Digest"] == expected
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", f"docker://{host}/lib/busybox:1", f"oci:{out}:bb")
    with open(out / "index.json") as f:
        assert json.load(f)["manifests"][0]["digest"] == expected
    multi = tmp_path / "multi"
    skopeo(
        "copy", "--all", "--src-tls-verify=false", f"docker://{host}/lib/multi:1", f"oci:{multi}:m"
    )
    index_digest, _ = layout_manifest(oci_layout, "multi")
    with open(multi / "index.json") as f:
        assert json.load(f)["manifests"][0]["digest"] == index_digest
    tags = json.loads(
        skopeo("list-tags", "--tls-verify=false", f"docker://{host}/lib/busybox").stdout
    )
    assert tags["Tags"] == ["1"]
    # our own pull from our server of what skopeo pushed
    image = asyncio.run(pull(f"{host}/lib/multi:1", engine.content, engine.images))
    assert image.config["architecture"] == "amd64"
    # and skopeo in Docker v2 schema 2 format, uncompressed into docker-archive round trip
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        f"oci:{oci_layout}:busybox",
        f"docker://{host}/lib/v2s2:1",
    )
    raw = json.loads(
        skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{host}/lib/v2s2:1").stdout
    )
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"


def test_htpasswd_registry_auth(oci_layout, docker_registry_auth, engine, tmp_path):
    host = docker_registry_auth.host
    _copy_in(oci_layout, "busybox", f"{host}/private/bb:1", "--dest-creds", "alice:s3cret")
    with pytest.raises(Unauthorized) as e:
        asyncio.run(pull(f"{host}/private/bb:1", engine.content, engine.images))
    assert (
        str(e.value) == f'Head "http://{host}/v2/private/bb/manifests/1": no basic auth credentials'
    )
    with pytest.raises(Unauthorized, match="^unauthorized: authentication required$"):
        asyncio.run(
            pull(
                f"{host}/private/bb:1",
                engine.content,
                engine.images,
                auth={"username": "alice", "password": "wrong"},
            )
        )
    with pytest.raises(Unauthorized, match="login attempt to .* failed with status: 401"):
        asyncio.run(login(host, "alice", "wrong"))
    assert asyncio.run(login(host, "alice", "s3cret"))["Status"] == "Login Succeeded"
    image = asyncio.run(
        pull(
            f"{host}/private/bb:1",
            engine.content,
            engine.images,
            auth={"username": "alice", "password": "s3cret"},
        )
    )
    assert image.config["architecture"] == "amd64"
    # push back with credentials (a new tag in a new repository)
    engine.images.tag(f"{host}/private/bb:1", f"{host}/private/copy", "1")
    digest = asyncio.run(
        push(
            f"{host}/private/copy:1",
            engine.content,
            engine.images,
            auth={"username": "alice", "password": "s3cret"},
        )
    )
    info = skopeo_inspect(f"docker://{host}/private/copy:1", "--creds", "alice:s3cret")
    assert info["Digest"] == digest


def test_our_server_basic_auth_and_tls_with_skopeo(oci_layout, tmp_path, engine):
    from dockyard.distribution.htpasswd import make_entry

    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(make_entry("bob", "pw") + "\n")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    with OurRegistry(
        str(tmp_path / "reg"), htpasswd=str(htpasswd), tls=(str(cert), str(key))
    ) as reg:
        refused = skopeo(
            "copy",
            "--dest-tls-verify=false",
            f"oci:{oci_layout}:busybox",
            f"docker://{reg.host}/sec/bb:1",
            check=False,
        )
        assert refused.returncode != 0
        assert "authentication required" in refused.stderr or "unauthorized" in refused.stderr
        _copy_in(oci_layout, "busybox", f"{reg.host}/sec/bb:1", "--dest-creds", "bob:pw")
        # our client: 127.0.0.1 is insecure, so HTTPS without verification
        image = asyncio.run(
            pull(
                f"{reg.host}/sec/bb:1",
                engine.content,
                engine.images,
                auth={"username": "bob", "password": "pw"},
            )
        )
        assert image.config["architecture"] == "amd64"
