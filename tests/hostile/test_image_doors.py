"""Hostile images through `docker pull` from a registry: the daemon's own registry
(daemon.json `registry-addr`, on loopback) receives hand-made manifests whose layers climb out,
link out, white out what is not theirs, hold device nodes and setuid files, or are header
bombs; the daemon then pulls them. Each is refused with a clear error or lands harmless inside
the image (then run). The sentinel host directory is unchanged."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import sys
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from hostile_tars import (
    dir_layer,
    escaping_layers,
    harmless_layers,
    huge_pax_header,
    image_config,
    longname_chain,
    watched_sentinel,
)

from daemon_fixture import ping, running_daemon

REFUSED = {
    "dotdot-name": "is outside of the layer root",
    "symlink-climb-then-write": "is outside of the layer root",
    "hardlink-abs": "hard link target",
    "hardlink-climb": "is outside of the layer root",
    "whiteout-climb": "is outside of the layer root",
    "symlink-loop-write": "too many levels of symbolic links",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sentinel():
    with watched_sentinel() as s:
        yield s


@pytest.fixture(scope="module")
def d():
    port = _free_port()
    with running_daemon(config={"registry-addr": f"127.0.0.1:{port}"}) as daemon:
        daemon.registry = f"127.0.0.1:{port}"  # type: ignore[attr-defined]
        yield daemon


def _request(url: str, method: str, data: bytes | None = None, ctype: str = "") -> dict:
    req = urllib.request.Request(url, data=data, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 (loopback)
        return dict(resp.headers)


def push_image(registry: str, repo: str, tag: str, layers: list[bytes]) -> None:
    """Push a hand-made image (gzip layers, a schema 2 manifest) to the registry's API."""
    base = f"http://{registry}/v2/{repo}"
    config = image_config(layers)
    gz = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    blobs = [(gzip.compress(layer, 1), gz) for layer in layers]
    descriptors = []
    for data, media_type in [(config, "application/vnd.docker.container.image.v1+json"), *blobs]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        loc = _request(f"{base}/blobs/uploads/", "POST", b"")["Location"]
        if loc.startswith("/"):
            loc = f"http://{registry}{loc}"
        sep = "&" if "?" in loc else "?"
        _request(f"{loc}{sep}digest={digest}", "PUT", data, "application/octet-stream")
        descriptors.append({"mediaType": media_type, "size": len(data), "digest": digest})
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": descriptors[0],
        "layers": descriptors[1:],
    }
    _request(
        f"{base}/manifests/{tag}",
        "PUT",
        json.dumps(manifest).encode(),
        "application/vnd.docker.distribution.manifest.v2+json",
    )


@pytest.fixture(scope="module")
def base(busybox_rootfs) -> bytes:
    return dir_layer(busybox_rootfs)


def test_escaping_layers_through_pull(d, sentinel, base):
    for name, layer in sorted(escaping_layers(sentinel).items()):
        ref = f"{d.registry}/esc/{name}:1"
        push_image(d.registry, f"esc/{name}", "1", [base, layer])
        r = d.docker("pull", ref, timeout=120)
        if name in REFUSED:
            assert r.returncode == 1, (name, r.stdout)
            assert REFUSED[name] in r.stderr, (name, r.stderr)
            continue
        assert r.returncode == 0, (name, r.stderr)
        r = d.docker("run", "--rm", ref, "sh", "-c", f"ls -la {sentinel.path} 2>&1; true")
        assert r.returncode == 0, (name, r.stderr)
    assert ping(d.sock)


def test_harmless_layers_through_pull_stay_inside(d, sentinel, base):
    for name, layer in sorted(harmless_layers().items()):
        push_image(d.registry, f"harmless/{name}", "1", [base, layer])
        r = d.docker("pull", f"{d.registry}/harmless/{name}:1", timeout=120)
        assert r.returncode == 0, (name, r.stderr)
    ref = f"{d.registry}/harmless/devices:1"
    r = d.docker("run", "--rm", ref, "sh", "-c", "head -c1 /hdev/sda; echo rc=$?")
    assert "rc=1" in r.stdout
    r = d.docker("run", "--rm", f"{d.registry}/harmless/setuid:1", "stat", "-c", "%a", "/bin/suid")
    assert r.stdout.strip() == "4755"


def test_header_bombs_through_pull(d, base):
    for name, layer, message in (
        ("pax", huge_pax_header(), "larger than 1048576"),
        ("chain", longname_chain(), "too many special headers"),
    ):
        push_image(d.registry, f"bomb/{name}", "1", [base, layer])
        r = d.docker("pull", f"{d.registry}/bomb/{name}:1", timeout=120)
        assert r.returncode == 1 and message in r.stderr, (name, r.stderr)
    assert ping(d.sock)
