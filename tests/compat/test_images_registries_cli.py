"""Images and registries end to end through the daemon: dockyard's CLI and the real docker CLI
against Debian's docker-registry and dockyard's own registry server, with images made by
umoci and read back by skopeo. Registries listen on 127.0.0.1 and stop when a test ends."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from daemon_fixture import running_daemon

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration", "distribution"))

from registry_peers import (  # noqa: E402
    CACHE,
    DockerRegistry,
    OurRegistry,
    free_port,
    layout_manifest,
    make_oci_layout,
    skopeo,
    skopeo_inspect,
)


@pytest.fixture(scope="module")
def oci_layout(busybox_rootfs, tmp_path_factory) -> str:
    return make_oci_layout(busybox_rootfs, CACHE, str(tmp_path_factory.mktemp("oci")))


@pytest.fixture(scope="module")
def d():
    with running_daemon() as daemon:
        yield daemon


@pytest.fixture
def docker_registry(tmp_path):
    with DockerRegistry(str(tmp_path / "docker-registry")) as reg:
        yield reg


@pytest.fixture
def auth_registry(tmp_path):
    with DockerRegistry(str(tmp_path / "auth-registry"), users={"alice": "s3cret"}) as reg:
        yield reg


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r


def copy_in(layout: str, tag: str, dest: str, *extra: str) -> str:
    """skopeo copies an image of the umoci layout into a registry; its manifest digest."""
    skopeo("copy", "--dest-tls-verify=false", *extra, f"oci:{layout}:{tag}", f"docker://{dest}")
    return layout_manifest(layout, tag)[0]


def inspect(d, name: str) -> dict:
    (img,) = json.loads(ok(d.dockyard("image", "inspect", name)).stdout)
    return img


def test_dockyard_pull_run_and_push_read_by_skopeo(d, oci_layout, docker_registry, tmp_path):
    host = docker_registry.host
    digest = copy_in(oci_layout, "busybox", f"{host}/test/busybox:1")
    ref = f"{host}/test/busybox:1"
    r = ok(d.dockyard("pull", ref))
    assert f"Digest: {digest}" in r.stdout
    assert f"Status: Downloaded newer image for {ref}" in r.stdout
    assert r.stdout.rstrip().endswith(ref)
    assert ok(d.dockyard("run", "--rm", ref, "cat", "/etc/arch")).stdout == "amd64\n"
    img = inspect(d, ref)
    assert img["RepoDigests"] == [f"{host}/test/busybox@{digest}"]
    assert img["Architecture"] == "amd64" and img["Os"] == "linux"
    assert ok(d.dockyard("pull", ref)).stdout.count("Image is up to date") == 1

    # a multi-platform index: the amd64 image
    index_digest, index = layout_manifest(oci_layout, "multi")
    copy_in(oci_layout, "multi", f"{host}/test/multi:1", "--all")
    r = ok(d.dockyard("pull", f"{host}/test/multi:1"))
    assert f"Digest: {index_digest}" in r.stdout
    assert ok(d.dockyard("run", "--rm", f"{host}/test/multi:1", "cat", "/etc/arch")).stdout == (
        "amd64\n"
    )
    multi = inspect(d, f"{host}/test/multi:1")
    assert multi["Architecture"] == "amd64"
    assert f"{host}/test/multi@{index_digest}" in multi["RepoDigests"]  # the index's, as Docker

    # our push, read back by skopeo with the same digests
    ok(d.dockyard("tag", ref, f"{host}/pushed/bb:2"))
    r = ok(d.dockyard("push", f"{host}/pushed/bb:2"))
    assert f"The push refers to repository [{host}/pushed/bb]" in r.stdout
    pushed = r.stdout.split("2: digest: ")[1].split()[0]
    info = skopeo_inspect(f"docker://{host}/pushed/bb:2")
    assert info["Digest"] == pushed
    assert info["Layers"] == [
        layer["digest"] for layer in layout_manifest(oci_layout, "busybox")[1]["layers"]
    ]
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", f"docker://{host}/pushed/bb:2", f"oci:{out}:x")
    with open(out / "index.json") as f:
        assert json.load(f)["manifests"][0]["digest"] == pushed
    assert f"{host}/pushed/bb@{pushed}" in inspect(d, f"{host}/pushed/bb:2")["RepoDigests"]
    for name in (ref, f"{host}/test/multi:1", f"{host}/pushed/bb:2"):
        ok(d.dockyard("rmi", name))


def test_login_to_htpasswd_registry(d, oci_layout, auth_registry):
    host = auth_registry.host
    ref = f"{host}/private/bb:1"
    copy_in(oci_layout, "busybox", ref, "--dest-creds", "alice:s3cret")
    config = os.path.join(d.env["DOCKER_CONFIG"], "config.json")
    assert not os.path.exists(config) or host not in open(config).read()
    for cli in (d.dockyard, d.docker):
        r = cli("pull", ref)
        assert r.returncode == 1
        assert f'Head "http://{host}/v2/private/bb/manifests/1": no basic auth credentials' in (
            r.stderr
        ), r.stderr
    r = d.dockyard("login", host, "-u", "alice", "--password-stdin", input="wrong\n")
    assert r.returncode == 1 and "401 Unauthorized" in r.stderr, r.stderr
    r = d.docker("login", host, "-u", "alice", "--password-stdin", input="wrong\n")
    assert r.returncode == 1 and "401 Unauthorized" in r.stderr, r.stderr

    # dockyard login: credentials in config.json as docker keeps them, used for the pull
    r = ok(d.dockyard("login", host, "-u", "alice", "--password-stdin", input="s3cret\n"))
    assert "Login Succeeded" in r.stdout
    with open(config) as f:
        assert json.load(f)["auths"][host]["auth"] == "YWxpY2U6czNjcmV0"  # alice:s3cret
    ok(d.dockyard("pull", ref))
    assert ok(d.dockyard("run", "--rm", ref, "cat", "/etc/arch")).stdout == "amd64\n"
    ok(d.dockyard("rmi", ref))
    # the docker CLI reads what dockyard login wrote
    ok(d.docker("pull", ref))
    ok(d.docker("rmi", ref))
    r = ok(d.dockyard("logout", host))
    assert f"Removing login credentials for {host}" in r.stdout
    assert d.dockyard("pull", ref).returncode == 1

    # docker login, then docker pull and push through our daemon
    r = ok(d.docker("login", host, "-u", "alice", "--password-stdin", input="s3cret\n"))
    assert "Login Succeeded" in r.stdout
    ok(d.docker("pull", ref))
    ok(d.docker("tag", ref, f"{host}/private/copy:1"))
    r = ok(d.docker("push", f"{host}/private/copy:1"))
    pushed = r.stdout.split("1: digest: ")[1].split()[0]
    assert (
        skopeo_inspect(f"docker://{host}/private/copy:1", "--creds", "alice:s3cret")["Digest"]
        == pushed
    )
    ok(d.docker("logout", host))
    ok(d.docker("rmi", ref, f"{host}/private/copy:1"))


def test_docker_cli_image_commands(d, oci_layout, docker_registry, tmp_path):
    host = docker_registry.host
    ref = f"{host}/lib/busybox:1"
    digest = copy_in(oci_layout, "busybox", ref)
    r = ok(d.docker("pull", ref))
    assert f"Digest: {digest}" in r.stdout and r.stdout.rstrip().endswith(ref)
    ok(d.docker("tag", ref, "mine:v1"))
    rows = ok(d.docker("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"))
    lines = rows.stdout.splitlines()
    assert f"{host}/lib/busybox 1 {digest}" in lines
    assert "mine v1 <none>" in lines
    filtered = ok(d.docker("images", "--filter", "reference=mine", "-q")).stdout.split()
    assert len(filtered) == 1
    image_id = json.loads(ok(d.docker("image", "inspect", "mine:v1")).stdout)[0]["Id"]
    assert image_id.startswith(filtered[0]) or image_id[7:].startswith(filtered[0])
    hist = ok(d.docker("history", "--no-trunc", "--format", "{{.ID}}", "mine:v1")).stdout
    assert hist.splitlines()[0] == image_id

    # docker save | docker load, through a pipe
    ok(d.docker("save", "-o", str(tmp_path / "saved.tar"), "mine:v1"))
    ok(d.docker("rmi", "mine:v1", ref))
    assert d.docker("image", "inspect", "mine:v1").returncode == 1
    pipe = subprocess.run(
        f"docker save {ref} | docker load",
        shell=True,
        env={**d.env, "PATH": "/usr/local/bin:" + os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # the image is gone: save fails, load of nothing fails too
    assert pipe.returncode != 0
    r = ok(d.docker("load", "-i", str(tmp_path / "saved.tar")))
    assert "Loaded image: mine:v1" in r.stdout
    ok(d.docker("tag", "mine:v1", "piped:1"))
    ok(d.docker("rmi", "mine:v1"))
    pipe = subprocess.run(
        "docker save piped:1 | docker load",
        shell=True,
        env={**d.env, "PATH": "/usr/local/bin:" + os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert pipe.returncode == 0, pipe.stderr
    assert "Loaded image: piped:1" in pipe.stdout
    assert json.loads(ok(d.docker("image", "inspect", "piped:1")).stdout)[0]["Id"] == image_id

    # docker import of an exported container, with --change
    ok(d.docker("create", "--name", "toexport", "piped:1", "true"))
    try:
        ok(d.docker("export", "-o", str(tmp_path / "fs.tar"), "toexport"))
    finally:
        ok(d.docker("rm", "toexport"))
    r = ok(
        d.docker(
            "import",
            "--change",
            "ENV IMPORTED=yes",
            "--change",
            'CMD ["sh"]',
            str(tmp_path / "fs.tar"),
            "imported:1",
        )
    )
    assert r.stdout.startswith("sha256:")
    out = ok(d.docker("run", "--rm", "imported:1", "sh", "-c", "echo $IMPORTED; cat /etc/arch"))
    assert out.stdout == "yes\namd64\n"
    r = ok(d.docker("rmi", "piped:1", "imported:1"))
    assert "Untagged: piped:1" in r.stdout and "Deleted: " + image_id in r.stdout


def test_save_load_with_skopeo_both_ways(d, oci_layout, docker_registry, tmp_path):
    host = docker_registry.host
    ref = f"{host}/lib/busybox:1"
    copy_in(oci_layout, "busybox", ref)
    ok(d.dockyard("pull", ref))
    config = inspect(d, ref)
    archive = tmp_path / "ours.tar"
    ok(d.dockyard("save", "-o", str(archive), ref))
    # skopeo reads our docker-archive: equal layer (diff) digests and config
    info = skopeo_inspect(f"docker-archive:{archive}")
    assert info["Digest"]
    raw_config = json.loads(skopeo("inspect", "--config", f"docker-archive:{archive}").stdout)
    assert raw_config["rootfs"]["diff_ids"] == config["RootFS"]["Layers"]
    assert info["Layers"] == config["RootFS"]["Layers"]  # uncompressed in the archive
    # round trip through skopeo into an OCI layout and back into a docker-archive
    skopeo("copy", f"docker-archive:{archive}", f"oci:{tmp_path / 'oci'}:x")
    skopeo_archive = tmp_path / "skopeo.tar"
    skopeo("copy", f"oci:{oci_layout}:busybox", f"docker-archive:{skopeo_archive}:skopeo/bb:1")
    ok(d.dockyard("rmi", ref))
    r = ok(d.docker("load", "-i", str(skopeo_archive)))
    assert "Loaded image: skopeo/bb:1" in r.stdout
    assert ok(d.docker("run", "--rm", "skopeo/bb:1", "cat", "/etc/arch")).stdout == "amd64\n"
    loaded = inspect(d, "skopeo/bb:1")
    assert loaded["Id"] == config["Id"] and loaded["RootFS"] == config["RootFS"]
    ok(d.dockyard("load", "-i", str(archive)))
    again = inspect(d, ref)
    assert again["Id"] == config["Id"] and again["Config"] == config["Config"]
    ok(d.dockyard("rmi", ref, "skopeo/bb:1"))


def test_in_process_registry_with_the_docker_cli(oci_layout, tmp_path):
    port = free_port()
    with running_daemon(config={"registry-addr": f"127.0.0.1:{port}"}) as d:
        host = f"127.0.0.1:{port}"
        copy_in(oci_layout, "busybox", f"{host}/in/bb:1")
        r = ok(d.docker("pull", f"{host}/in/bb:1"))
        assert "Downloaded newer image" in r.stdout
        ok(d.docker("tag", f"{host}/in/bb:1", f"{host}/other/bb:2"))
        r = ok(d.docker("push", f"{host}/other/bb:2"))
        assert "Mounted from in/bb" in r.stdout
        pushed = r.stdout.split("2: digest: ")[1].split()[0]
        assert skopeo_inspect(f"docker://{host}/other/bb:2")["Digest"] == pushed
        # the registry keeps its own storage, apart from the daemon's content store
        assert os.path.isdir(os.path.join(d.data_root, "registry"))


def _tar_of(name: str, data: bytes) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _big_image(registry: OurRegistry, tmp_path) -> str:
    """An image of two random layers (40 MB + 1 MB) pushed to `registry`; its reference."""
    import asyncio

    from dockyard.content.store import ContentStore
    from dockyard.distribution import mediatypes
    from dockyard.distribution.client import push_manifest

    src = ContentStore(str(tmp_path / "src"))
    layers = [_tar_of("big", os.urandom(40 << 20)), _tar_of("small", os.urandom(1 << 20))]
    diff_ids = [src.put(x) for x in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": src.put(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": mediatypes.OCI_LAYER_TAR, "digest": dg, "size": len(x)}
                for dg, x in zip(diff_ids, layers, strict=True)
            ],
        }
    ).encode()
    src.put(manifest)
    ref = f"{registry.host}/big/image:1"
    asyncio.run(push_manifest(ref, src, manifest, mediatypes.OCI_MANIFEST))
    return ref


def _blobs_verify(content_root: str) -> list[str]:
    bad = []
    blobs = os.path.join(content_root, "blobs", "sha256")
    for name in os.listdir(blobs) if os.path.isdir(blobs) else []:
        h = hashlib.sha256()
        with open(os.path.join(blobs, name), "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != name:
            bad.append(name)
    return bad


def test_kill_9_of_the_daemon_mid_pull(tmp_path):
    with OurRegistry(str(tmp_path / "reg")) as reg, running_daemon() as d:
        ref = _big_image(reg, tmp_path)
        ingest = os.path.join(d.data_root, "content", "ingest")
        puller = subprocess.Popen(
            [sys.executable, "-m", "dockyard.cli.main", "pull", ref],
            env=d.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            seen = False
            while time.monotonic() < deadline and not seen:
                try:
                    sizes = [os.path.getsize(os.path.join(ingest, n)) for n in os.listdir(ingest)]
                except OSError:
                    sizes = []
                seen = any(s > 1 << 20 for s in sizes)
                time.sleep(0.002)
            assert seen, "the pull never started writing"
            d.kill9()
        finally:
            puller.wait(30)
        assert puller.returncode != 0
        d.start()
        assert _blobs_verify(os.path.join(d.data_root, "content")) == []
        assert os.listdir(ingest) == []  # the restart threw the partial download away
        assert d.dockyard("image", "inspect", ref).returncode == 1
        assert ok(d.dockyard("images", "-q")).stdout == ""
        ok(d.dockyard("pull", ref))
        assert inspect(d, ref)["Architecture"] == "amd64"
        assert _blobs_verify(os.path.join(d.data_root, "content")) == []
        assert os.listdir(ingest) == []


def test_inspect_listing_prune_and_conflicts_with_the_docker_cli(d, oci_layout, docker_registry):
    host = docker_registry.host
    ref = f"{host}/lib/busybox:1"
    digest = copy_in(oci_layout, "busybox", ref)
    ok(d.docker("pull", ref))
    (img,) = json.loads(ok(d.docker("image", "inspect", ref)).stdout)
    _, manifest = layout_manifest(oci_layout, "busybox")
    assert img["Id"] == manifest["config"]["digest"]
    assert img["RepoTags"] == [ref] and img["RepoDigests"] == [f"{host}/lib/busybox@{digest}"]
    assert img["Architecture"] == "amd64" and img["Os"] == "linux"
    assert img["Config"]["Cmd"] == ["/bin/sh"]
    assert img["RootFS"]["Type"] == "layers" and len(img["RootFS"]["Layers"]) == len(
        manifest["layers"]
    )
    assert img["Created"].endswith("Z") and img["Size"] > 1 << 20
    fmt = ok(d.docker("image", "inspect", "-f", "{{.Os}}/{{.Architecture}} {{.Size}}", ref))
    assert fmt.stdout.strip() == f"linux/amd64 {img['Size']}"

    # a dangling image: a commit whose tag moves on
    ok(d.docker("run", "--name", "c1", ref, "sh", "-c", "echo 1 > /one"))
    ok(d.docker("commit", "c1", "moving:1"))
    ok(d.docker("rm", "c1"))
    first = ok(d.docker("images", "-q", "--no-trunc", "moving:1")).stdout.strip()
    ok(d.docker("run", "--name", "c2", ref, "sh", "-c", "echo 2 > /two"))
    ok(d.docker("commit", "c2", "moving:1"))
    ok(d.docker("rm", "c2"))
    dangling = ok(d.docker("images", "-q", "--no-trunc", "--filter", "dangling=true")).stdout
    assert dangling.split() == [first]
    rows = ok(d.docker("images", "--filter", "dangling=true")).stdout.splitlines()
    assert rows[1].split()[:2] == ["<none>", "<none>"]
    r = ok(d.docker("image", "prune", "-f"))
    assert f"deleted: {first}" in r.stdout and "Total reclaimed space:" in r.stdout
    assert ok(d.docker("images", "-q", "--filter", "dangling=true")).stdout == ""

    # rmi while containers use the image: stopped needs -f, running refuses even -f
    ok(d.docker("create", "--name", "stopped1", "moving:1", "true"))
    ok(d.docker("run", "-d", "--name", "running1", "moving:1", "sleep", "60"))
    try:
        r = d.docker("rmi", "moving:1")
        assert r.returncode == 1 and "conflict: unable to remove repository reference" in r.stderr
        image_id = ok(d.docker("images", "-q", "--no-trunc", "moving:1")).stdout.strip()
        r = d.docker("rmi", "-f", image_id)
        assert r.returncode == 1
        assert "image is being used by running container" in r.stderr, r.stderr
        assert "(cannot be forced)" in r.stderr
    finally:
        ok(d.docker("rm", "-f", "running1", "stopped1"))
    # export: the container's file system as a tar
    ok(d.docker("create", "--name", "exp", "moving:1", "true"))
    try:
        tar = subprocess.run(
            ["docker", "export", "exp"], env=d.env, capture_output=True, timeout=60, check=True
        ).stdout
    finally:
        ok(d.docker("rm", "exp"))
    import io
    import tarfile

    names = set(tarfile.open(fileobj=io.BytesIO(tar)).getnames())
    assert {"two", "etc/arch", "bin/busybox"} <= {n.lstrip("./") for n in names}
    assert "one" not in {n.lstrip("./") for n in names}
    ok(d.docker("rmi", "moving:1", ref))
    assert ok(d.docker("images", "-q")).stdout == ""
    # every blob went with the images: the daemon's content store is empty again
    assert os.listdir(os.path.join(d.data_root, "content", "blobs", "sha256")) == []


@pytest.fixture
def token_registry(tmp_path):
    """dockyard's registry behind a small token issuer (Docker Hub's flow), served from a
    thread on 127.0.0.1; its request log in `.state`."""
    import asyncio
    import threading

    from aiohttp import web

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unit", "distribution"))
    from test_client_tokens import token_registry as make_token_registry

    app, state = make_token_registry(str(tmp_path / "token-registry"))
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    port = free_port()
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    state["realm"] = f"http://127.0.0.1:{port}/token"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    class Registry:
        host = f"127.0.0.1:{port}"

    Registry.state = state
    try:
        yield Registry
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_bearer_token_flow_through_the_daemon(d, oci_layout, token_registry):
    host = token_registry.host
    ref = f"{host}/private/bb:1"
    copy_in(oci_layout, "busybox", ref, "--dest-creds", "alice:pw")
    r = d.docker("pull", ref)
    assert r.returncode == 1 and "authentication required" in r.stderr, r.stderr
    r = d.dockyard("login", host, "-u", "alice", "--password-stdin", input="no\n")
    assert r.returncode == 1 and "incorrect username or password" in r.stderr, r.stderr
    for cli in (d.dockyard, d.docker):
        r = ok(cli("login", host, "-u", "alice", "--password-stdin", input="pw\n"))
        assert "Login Succeeded" in r.stdout
        with open(os.path.join(d.env["DOCKER_CONFIG"], "config.json")) as f:
            entry = json.load(f)["auths"][host]
        # as docker keeps it: an identity token, no password
        assert entry["identitytoken"] and entry["auth"] == "YWxpY2U6"  # "alice:"
        posts = len([m for m, _ in token_registry.state["token_requests"] if m == "POST"])
        ok(cli("pull", ref))
        assert ok(d.docker("run", "--rm", ref, "cat", "/etc/arch")).stdout == "amd64\n"
        # the pull traded the identity token for an access token (OAuth2 refresh)
        assert len([m for m, _ in token_registry.state["token_requests"] if m == "POST"]) > posts
        ok(d.docker("tag", ref, f"{host}/private/copy:1"))
        r = ok(cli("push", f"{host}/private/copy:1"))
        assert "1: digest: sha256:" in r.stdout
        ok(d.docker("rmi", ref, f"{host}/private/copy:1"))
        ok(cli("logout", host))
