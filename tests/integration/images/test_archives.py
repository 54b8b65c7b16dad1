"""save/load against images and readers we did not write: umoci, skopeo."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from dockyard.content import ContentStore
from dockyard.images import archive
from dockyard.images.service import ImageService
from dockyard.snapshots import Snapshotter, mount_all, unmount_all

pytestmark = pytest.mark.skipif(
    not (shutil.which("skopeo") and shutil.which("umoci")), reason="needs skopeo and umoci"
)


def run(*args: str, cwd: str | None = None) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, cwd=cwd).stdout


def service(root) -> ImageService:
    return ImageService(
        str(root / "images"), ContentStore(str(root / "content")), Snapshotter(str(root / "snaps"))
    )


@pytest.fixture(scope="module")
def umoci_layout(busybox_rootfs, tmp_path_factory) -> str:
    """An OCI layout made by umoci from the busybox rootfs (tag 1), with a second layer."""
    work = tmp_path_factory.mktemp("umoci")
    layout = str(work / "oci")
    bundle = str(work / "bundle")
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:1")
    run("umoci", "unpack", "--rootless", "--image", f"{layout}:1", bundle)
    shutil.copytree(busybox_rootfs, bundle + "/rootfs", symlinks=True, dirs_exist_ok=True)
    run("umoci", "repack", "--refresh-bundle", "--image", f"{layout}:1", bundle)
    with open(bundle + "/rootfs/etc/motd", "w") as f:
        f.write("second layer\n")
    os.unlink(bundle + "/rootfs/etc/group")
    run("umoci", "repack", "--image", f"{layout}:1", bundle)
    run(
        "umoci",
        "config",
        "--image",
        f"{layout}:1",
        "--config.cmd",
        "sh",
        "--config.env",
        "PATH=/bin",
    )
    return layout


def _run_in(svc: ImageService, ref: str, *argv: str) -> str:
    """Run a command chrooted in a read-only view of the image (proves the rootfs is whole)."""
    img = svc.get(ref)
    key = f"test-view-{os.getpid()}-{id(img)}"
    target = tempfile.mkdtemp(prefix="dy-img-")
    try:
        mount_all(svc.snapshots.view(key, img.chain_id), target)
        return run("chroot", target, *argv)
    finally:
        unmount_all(target)
        os.rmdir(target)
        if svc.snapshots.exists(key):
            svc.snapshots.remove(key)


def test_load_skopeo_docker_archive(umoci_layout, tmp_path) -> None:
    src = str(tmp_path / "skopeo.tar")
    run("skopeo", "copy", "-q", f"oci:{umoci_layout}:1", f"docker-archive:{src}:test/busybox:1")
    svc = service(tmp_path)
    with open(src, "rb") as f:
        assert svc.load(f) == ["Loaded image: test/busybox:1"]
    img = svc.get("test/busybox:1")
    want = json.loads(run("skopeo", "inspect", "--config", f"docker-archive:{src}"))
    assert img.config["rootfs"] == want["rootfs"] and len(img.diff_ids) == 2
    assert img.config["config"]["Cmd"] == ["sh"]
    assert _run_in(svc, "test/busybox:1", "/bin/cat", "/etc/motd") == "second layer\n"
    assert (
        _run_in(svc, "test/busybox:1", "/bin/sh", "-c", "test -e /etc/group || echo whiteout-ok")
        == "whiteout-ok\n"
    )


def test_load_umoci_oci_archive(umoci_layout, tmp_path) -> None:
    src = str(tmp_path / "oci.tar")
    with tarfile.open(src, "w") as tar:
        tar.add(umoci_layout, arcname=".")
    svc = service(tmp_path)
    with open(src, "rb") as f:
        messages = svc.load(f)
    # umoci names the manifest "1" only: no repository, so Docker reports the ID
    assert len(messages) == 1 and messages[0].startswith("Loaded image ID: sha256:")
    image_id = messages[0].rsplit(" ", 1)[1]
    assert _run_in(svc, image_id, "/bin/busybox", "echo", "hi") == "hi\n"


def test_save_read_by_skopeo_and_round_trip(umoci_layout, tmp_path) -> None:
    src = str(tmp_path / "skopeo.tar")
    run("skopeo", "copy", "-q", f"oci:{umoci_layout}:1", f"docker-archive:{src}:test/busybox:1")
    a = service(tmp_path / "a")
    with open(src, "rb") as f:
        archive.load(a, f)
    a.tag("test/busybox:1", "example.com/bb", "v2")
    ours = str(tmp_path / "ours.tar")
    with open(ours, "wb") as f:
        a.save(["test/busybox:1", "example.com/bb:v2"], f)
    img = a.get("test/busybox:1")
    for name in (
        f"docker-archive:{ours}",
        f"docker-archive:{ours}:example.com/bb:v2",
        f"oci-archive:{ours}:v2",
    ):
        info = json.loads(run("skopeo", "inspect", name))
        assert info["Layers"] == img.diff_ids
    cfg = json.loads(run("skopeo", "inspect", "--config", f"docker-archive:{ours}"))
    assert cfg == img.config
    # skopeo copies it out to an OCI directory (compressing layers): same config, same diffs
    out_dir = str(tmp_path / "copied")
    run("skopeo", "copy", "-q", f"docker-archive:{ours}:test/busybox:1", f"oci:{out_dir}:x")
    index = json.load(open(out_dir + "/index.json"))
    mdigest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.load(open(f"{out_dir}/blobs/sha256/{mdigest}"))
    with open(f"{out_dir}/blobs/sha256/{manifest['config']['digest'][7:]}") as f:
        assert json.load(f)["rootfs"] == img.config["rootfs"]  # skopeo re-serialises it
    diffs = []
    for d in manifest["layers"]:
        with open(f"{out_dir}/blobs/sha256/{d['digest'][7:]}", "rb") as f:
            diffs.append("sha256:" + hashlib.sha256(gzip.decompress(f.read())).hexdigest())
    assert diffs == img.diff_ids
    with tarfile.open(ours) as t:
        names = set(t.getnames())
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= names
    # round trip into a fresh store: tags and config kept
    b = service(tmp_path / "b")
    with open(ours, "rb") as f:
        assert archive.load(b, f) == [
            "Loaded image: test/busybox:1",
            "Loaded image: example.com/bb:v2",
        ]
    assert b.get("example.com/bb:v2").id == img.id
    assert b.get(img.id).config == img.config
    assert sorted(b.get(img.id).repo_tags) == ["example.com/bb:v2", "test/busybox:1"]
    # saving by ID writes no tags
    buf = io.BytesIO()
    archive.save(b, [img.id[7:19]], buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as t:
        entry = json.load(t.extractfile("manifest.json"))
    assert entry[0]["RepoTags"] is None
