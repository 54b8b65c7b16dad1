"""Hostile archives through `docker load` and `docker import` (POST /images/load and
/images/create?fromSrc=-), and the images they make through `docker run`.

Every test aims at a sentinel directory of the host and checks its digest before and after:
an archive is refused with a clear 4xx message, or what it holds lands inside the image,
harmless. Header bombs and a flood of tiny entries must neither hang the daemon nor make it
grow: each request answers, and the daemon's peak memory stays within a bound.

The flood is DOCKYARD_HOSTILE_ENTRIES entries (20 000 by default, a few seconds); `make
hostile-long` runs it with a million.
"""

from __future__ import annotations

import io
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from hostile_tars import (
    Sentinel,
    dev,
    diff_id,
    dir_,
    dir_layer,
    docker_archive,
    escaping_layers,
    fifo,
    gnu_longname_bomb,
    harmless_layers,
    huge_pax_header,
    image_config,
    longname_chain,
    many_entries,
    pax_redos,
    peak_rss_mib,
    reg,
    sym,
    tar_bytes,
    watched_sentinel,
    zero_bomb,
)

from daemon_fixture import ping, running_daemon
from dockyard.client import APIClient, APIError

ENTRIES = int(os.environ.get("DOCKYARD_HOSTILE_ENTRIES", "20000"))
# the daemon may grow by this much at most while it reads a hostile archive
RSS_BOUND_MIB = 200


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


@pytest.fixture(scope="module")
def client(d) -> APIClient:
    return APIClient(d.host, timeout=300)


@pytest.fixture(scope="module")
def base_layer(busybox_rootfs) -> bytes:
    return dir_layer(busybox_rootfs)


@pytest.fixture
def sentinel():
    with watched_sentinel() as s:
        yield s


def load(client: APIClient, data: bytes | io.BufferedReader) -> list[str]:
    body = io.BytesIO(data) if isinstance(data, bytes) else data
    return [m.get("stream", "").strip() for m in client.images.load(body)]


def load_error(client: APIClient, data) -> APIError:
    with pytest.raises(APIError) as e:
        load(client, data)
    assert 400 <= e.value.status < 500, e.value
    return e.value


def import_(client: APIClient, data: bytes, tag: str) -> list[dict]:
    return list(client.images.import_(io.BytesIO(data), repo=tag.split(":")[0], tag="1"))


# --- the manifest.json symlink loop and links out of the archive -----------------------------


def test_manifest_json_symlink_loop_is_a_400(d, client):
    err = load_error(client, tar_bytes([sym("manifest.json", "manifest.json")]))
    assert "manifest.json: too many levels of symbolic links" in err.message
    err = load_error(client, tar_bytes([sym("a", "b"), sym("b", "a/c"), sym("index.json", "a")]))
    assert "too many levels of symbolic links" in err.message
    assert ping(d.sock)


def test_a_manifest_link_to_the_host_is_resolved_inside_the_archive(client, sentinel, base_layer):
    # the host has a valid manifest.json at the link's target; the archive does not
    config = image_config([base_layer])
    cname = diff_id(config)[7:] + ".json"
    manifest = [{"Config": cname, "RepoTags": ["fromhost:1"], "Layers": ["l.tar"]}]
    with open(os.path.join(sentinel.path, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    sentinel.expected = before = sentinel.digest()
    archive = [reg(cname, config), reg("l.tar", base_layer)]
    err = load_error(
        client, tar_bytes([*archive, sym("manifest.json", sentinel.path + "/manifest.json")])
    )
    assert "manifest.json is missing" in err.message
    err = load_error(client, tar_bytes([*archive, sym("manifest.json", sentinel.climb)]))
    assert "is outside of the layer root" in err.message
    # a link that stays inside the archive is followed (as Docker follows it in its copy)
    inside = [*archive, dir_("m"), reg("m/real.json", json.dumps(manifest).encode())]
    assert load(client, tar_bytes([*inside, sym("manifest.json", "/m/real.json")])) == [
        "Loaded image: fromhost:1"
    ]
    assert sentinel.digest() == before


@pytest.mark.parametrize("entry", [fifo("manifest.json"), dev("manifest.json"), dir_("index.json")])
def test_a_manifest_that_is_not_a_file_is_a_400(client, entry):
    err = load_error(client, tar_bytes([entry]))
    assert "manifest.json" in err.message or "index.json" in err.message


def test_malformed_manifests_are_400s(client, base_layer):
    config = image_config([base_layer])
    for manifest in (
        {"not": "a list"},
        [{"Layers": ["l.tar"]}],
        [{"Config": "c.json", "Layers": "l.tar"}],
        [{"Config": "c.json", "Layers": ["l.tar"], "RepoTags": [7]}],
        [{"Config": "c.json", "Layers": []}],
    ):
        archive = [reg("c.json", config), reg("l.tar", base_layer)]
        archive.append(reg("manifest.json", json.dumps(manifest).encode()))
        err = load_error(client, tar_bytes(archive))
        assert "manifest" in err.message, err.message
    err = load_error(client, tar_bytes([reg("manifest.json", b"[" * 100000)]))
    assert "invalid JSON" in err.message


# --- bombs -------------------------------------------------------------------------------


def test_header_bombs_are_refused_with_bounded_memory(d, client, tmp_path):
    start = peak_rss_mib(d.pid)
    err = load_error(client, huge_pax_header())
    assert "PAX header of 2147483648 bytes is larger than 1048576" in err.message
    path = str(tmp_path / "longname.tgz")
    gnu_longname_bomb(path)
    with open(path, "rb") as f:
        err = load_error(client, f)
    assert "GNU long name of 67108864 bytes is larger than 1048576" in err.message
    err = load_error(client, longname_chain())
    assert "too many special headers" in err.message
    # CVE-2024-6232: a PAX header that makes CPython's regular expression backtrack
    err = load_error(client, pax_redos())
    assert "invalid" in err.message
    assert peak_rss_mib(d.pid) - start < RSS_BOUND_MIB
    assert ping(d.sock)


def test_a_manifest_bomb_is_refused_at_the_metadata_limit(d, client, tmp_path):
    start = peak_rss_mib(d.pid)
    path = str(tmp_path / "bomb.tgz")
    zero_bomb(path, 256 << 20)  # 256 MiB of manifest.json, 256 KiB on the wire
    assert os.path.getsize(path) < 1 << 20
    with open(path, "rb") as f:
        err = load_error(client, f)
    assert err.message == "invalid archive: manifest.json is larger than the limit of 4194304 bytes"
    assert peak_rss_mib(d.pid) - start < RSS_BOUND_MIB
    # nothing of it is left behind in the daemon's temporary directory
    tmp = os.path.join(d.data_root, "images", "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == []


def test_many_tiny_entries_neither_hang_nor_grow_the_daemon(d, client, tmp_path):
    start = peak_rss_mib(d.pid)
    path = str(tmp_path / "many.tgz")
    many_entries(path, ENTRIES)
    with open(path, "rb") as f:
        err = load_error(client, f)
    assert "manifest.json: no such file or directory" in err.message
    # the same as a root file system: an image of ENTRIES files
    with open(path, "rb") as f:
        out = list(client.images.import_(f, repo="many", tag="1"))
    assert out[-1]["status"].startswith("sha256:"), out
    end = peak_rss_mib(d.pid)
    print(f"{ENTRIES} entries: the daemon's peak RSS {start} -> {end} MiB")
    assert end - start < RSS_BOUND_MIB
    client.images.remove("many:1")
    assert ping(d.sock)


# --- layers that try to climb out, through load, import and run ---------------------------


EXPECTED_REFUSALS = {
    "dotdot-name": "is outside of the layer root",
    "symlink-climb-then-write": "is outside of the layer root",
    "hardlink-abs": "hard link target",
    "hardlink-climb": "is outside of the layer root",
    "whiteout-climb": "is outside of the layer root",
    "symlink-loop-write": "too many levels of symbolic links",
}


def _escaping(sentinel: Sentinel) -> list[tuple[str, bytes]]:
    return sorted(escaping_layers(sentinel).items())


def test_escaping_layers_through_load_and_run(d, client, sentinel, base_layer):
    for name, layer in _escaping(sentinel):
        tag = f"esc-load-{name}:1"
        archive = docker_archive([base_layer, layer], tag=tag)
        if name in EXPECTED_REFUSALS:
            err = load_error(client, archive)
            assert EXPECTED_REFUSALS[name] in err.message, (name, err.message)
            continue
        assert load(client, archive) == [f"Loaded image: {tag}"], name
        # what the layer wrote is inside the image: the container sees it, the host does not
        r = d.docker("run", "--rm", tag, "sh", "-c", f"ls -la {sentinel.path} 2>&1; true")
        assert r.returncode == 0, (name, r.stderr)
        d.docker("rmi", tag)


def test_escaping_layers_through_import(client, sentinel):
    for name, layer in _escaping(sentinel):
        if name in EXPECTED_REFUSALS:
            with pytest.raises(APIError) as e:
                import_(client, layer, f"esc-import-{name}:1")
            assert e.value.status == 400, (name, e.value.status)
            assert EXPECTED_REFUSALS[name] in e.value.message, (name, e.value.message)
        else:
            out = import_(client, layer, f"esc-import-{name}:1")
            assert out[-1]["status"].startswith("sha256:"), (name, out)


def test_a_symlink_into_the_host_is_a_file_of_the_container(d, client, sentinel, base_layer):
    layer = escaping_layers(sentinel)["symlink-abs-then-write"]
    assert load(client, docker_archive([base_layer, layer], tag="absout:1")) == [
        "Loaded image: absout:1"
    ]
    r = d.docker("run", "--rm", "absout:1", "cat", "/out/victim")
    assert r.stdout == "pwned"  # the container's own file, under its root
    r = d.docker("run", "--rm", "absout:1", "readlink", "/out")
    assert r.stdout.strip() == sentinel.path


def test_devices_setuid_fifos_and_loops_stay_inside(d, client, sentinel, base_layer):
    for name, layer in sorted(harmless_layers().items()):
        tag = f"harmless-{name}:1"
        assert load(client, docker_archive([base_layer, layer], tag=tag)) == [
            f"Loaded image: {tag}"
        ]
    # device nodes are in the image, but the device cgroup keeps them closed
    r = d.docker("run", "--rm", "harmless-devices:1", "sh", "-c", "head -c1 /hdev/mem; echo rc=$?")
    assert "rc=1" in r.stdout and "Operation not permitted" in r.stderr
    # the setuid bit is kept in the image (as Docker keeps it), and is the container's only
    r = d.docker("run", "--rm", "harmless-setuid:1", "stat", "-c", "%a", "/bin/suid")
    assert r.stdout.strip() == "4755"
    r = d.docker("run", "--rm", "harmless-self-loop:1", "cat", "/loop")
    assert r.returncode != 0 and "Too many levels of symbolic links" in r.stderr
    r = d.docker("run", "--rm", "harmless-fifo:1", "stat", "-c", "%F", "/pipe")
    assert r.stdout.strip() == "fifo"
