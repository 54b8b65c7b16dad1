"""FROM an image that is not here: pulled from a registry on 127.0.0.1 (Debian's
docker-registry with a password; the image made by umoci and pushed by skopeo), with the
credentials of X-Registry-Config."""

from __future__ import annotations

import os
import sys

import pytest
from buildsupport import build, read_tree

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "distribution"))

from registry_peers import CACHE, DockerRegistry, make_oci_layout, skopeo  # noqa: E402

from dockyard.build.service import BuildService  # noqa: E402


@pytest.fixture
def registry_image(busybox_rootfs, tmp_path):
    layout = make_oci_layout(busybox_rootfs, CACHE, str(tmp_path / "oci"))
    with DockerRegistry(str(tmp_path / "registry"), users={"alice": "s3cret"}) as reg:
        ref = f"{reg.host}/private/bb:1"
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret",
               f"oci:{layout}:busybox", f"docker://{ref}")  # fmt: skip
        yield reg.host, ref


def test_from_pulls_with_registry_config_credentials(engine, registry_image) -> None:
    host, ref = registry_image
    pulling = BuildService(
        os.path.join(engine.root, "build-pull"),
        images=engine.images,
        snapshots=engine.snapshots,
        containers=engine.containers,
        content=engine.content,
    )
    original, engine.builder = engine.builder, pulling
    try:
        df = f"FROM {ref}\nRUN cat /etc/arch > /arch-copy\n"
        denied = build(engine, {"Dockerfile": df})
        assert "no basic auth credentials" in str(denied.error)
        auth = {host: {"auth": "YWxpY2U6czNjcmV0"}}  # alice:s3cret, as the CLI sends it
        result = build(engine, {"Dockerfile": df}, registry_auth=auth)
        assert result.error is None, result.output
        assert engine.images.exists(ref)
        assert read_tree(engine, result.image_id, ["/arch-copy"])["/arch-copy"].data == b"amd64\n"
    finally:
        engine.builder = original
