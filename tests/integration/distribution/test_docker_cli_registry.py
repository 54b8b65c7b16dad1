"""The docker CLI's own registry client (`docker manifest inspect`) against our server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import pytest
from registry_peers import layout_manifest, skopeo

DOCKER = shutil.which("docker")


def _docker(home: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": home, "DOCKER_CONFIG": os.path.join(home, ".docker")}
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
def test_docker_manifest_inspect_reads_our_server(oci_layout, our_registry, tmp_path):
    host = our_registry.host
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        f"oci:{oci_layout}:busybox",
        f"docker://{host}/lib/busybox:1",
    )
    skopeo(
        "copy",
        "--all",
        "--dest-tls-verify=false",
        f"oci:{oci_layout}:multi",
        f"docker://{host}/lib/multi:1",
    )
    home = str(tmp_path / "home")
    os.makedirs(home)
    digest, manifest = layout_manifest(oci_layout, "busybox")
    r = _docker(home, "manifest", "inspect", "-v", "--insecure", f"{host}/lib/busybox:1")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["Descriptor"]["digest"] == digest
    assert out["OCIManifest"]["layers"] == manifest["layers"]
    r = _docker(home, "manifest", "inspect", "--insecure", f"{host}/lib/multi:1")
    assert r.returncode == 0, r.stderr
    index = json.loads(r.stdout)
    assert {m["platform"]["architecture"] for m in index["manifests"]} == {"amd64", "arm64"}
    r = _docker(home, "manifest", "inspect", "--insecure", f"{host}/lib/none:1")
    assert r.returncode != 0
    assert "no such manifest" in r.stderr


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
def test_docker_manifest_push_to_our_server(oci_layout, our_registry, tmp_path):
    """`docker manifest create/push` mounts blobs across repositories and puts an index."""
    host = our_registry.host
    for tag, repo in (("busybox", "amd"), ("busybox-arm64", "arm")):
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            f"oci:{oci_layout}:{tag}",
            f"docker://{host}/lib/{repo}:1",
        )
    home = str(tmp_path / "home")
    os.makedirs(home)
    r = _docker(
        home,
        "manifest",
        "create",
        "--insecure",
        f"{host}/lib/combined:1",
        f"{host}/lib/amd:1",
        f"{host}/lib/arm:1",
    )
    assert r.returncode == 0, r.stderr
    r = _docker(home, "manifest", "push", "--insecure", f"{host}/lib/combined:1")
    assert r.returncode == 0, r.stderr
    pushed = r.stdout.strip().splitlines()[-1]
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{host}/lib/combined:1")
    index = json.loads(raw.stdout)
    assert {m["platform"]["architecture"] for m in index["manifests"]} == {"amd64", "arm64"}
    assert pushed == "sha256:" + hashlib.sha256(raw.stdout.encode()).hexdigest()
