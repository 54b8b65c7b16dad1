"""Hostile build contexts through POST /build: links out of the context (COPY, ADD, the
Dockerfile, .dockerignore), a directory replaced by a link to the host after its entry, ADD of
hostile tars (into a destination that already holds a link out), header bombs and a flood of
entries. The sentinel host directory is unchanged; errors are Docker's, clear."""

from __future__ import annotations

import io
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from hostile_tars import (
    dir_,
    escaping_layers,
    hard,
    huge_pax_header,
    many_entries,
    reg,
    sym,
    tar_bytes,
    watched_sentinel,
)

from daemon_fixture import ping, running_daemon
from dockyard.client import APIClient, APIError
from dockyard.client.build import Build


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


@pytest.fixture(scope="module")
def client(d) -> APIClient:
    return APIClient(d.host, timeout=300)


@pytest.fixture
def sentinel():
    files = {"Dockerfile": b"FROM busybox\nRUN touch /from-the-host\n", "ignore": b"keep\n"}
    with watched_sentinel(files) as s:
        yield s


def build(client: APIClient, context: bytes | io.BufferedReader, tag: str) -> tuple[bool, str]:
    """(success, all the text of the build's messages)."""
    body = io.BytesIO(context) if isinstance(context, bytes) else context
    text, ok = [], True
    try:
        for m in Build(client.transport).build(body, tags=[tag]):
            if "error" in m:
                ok = False
                text.append(m["error"])
            text.append(m.get("stream", ""))
    except APIError as e:
        assert 400 <= e.status < 500, e
        return False, e.message
    return ok, "".join(text)


def dockerfile(text: str) -> tuple:
    return reg("Dockerfile", text.encode())


def run(d, tag: str, *cmd: str) -> str:
    r = d.docker("run", "--rm", tag, *cmd)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_copy_through_links_out_of_the_context(client, sentinel):
    s = sentinel.path
    climb = "../../../../../../../.." + s
    for src in ("out/victim", "out", "up/victim", "up"):
        context = [sym("out", s), sym("up", climb), dockerfile(f"FROM busybox\nCOPY {src} /got\n")]
        ok, text = build(client, tar_bytes(context), "copy-out:1")
        assert not ok and "file not found in build context" in text, (src, text)


def test_copy_of_a_link_keeps_the_link(d, client, sentinel):
    context = [sym("out", sentinel.path), dir_("dir"), sym("dir/l", "/etc/shadow")]
    context.append(dockerfile("FROM busybox\nCOPY dir /dir\n"))
    ok, text = build(client, tar_bytes(context), "copy-link:1")
    assert ok, text
    assert run(d, "copy-link:1", "readlink", "/dir/l").strip() == "/etc/shadow"


def test_a_dockerfile_and_dockerignore_linked_to_the_host(d, client, sentinel):
    s = sentinel.path
    ok, text = build(client, tar_bytes([sym("Dockerfile", s + "/Dockerfile")]), "df-out:1")
    assert not ok and "Cannot locate specified Dockerfile" in text
    # a .dockerignore on the host, or an endless one, is not read: `keep` is sent and copied
    for target in (s + "/ignore", "/dev/zero"):
        context = [sym(".dockerignore", target), reg("keep", b"k")]
        context.append(dockerfile("FROM busybox\nCOPY keep /keep\n"))
        ok, text = build(client, tar_bytes(context), "ign-out:1")
        assert ok, (target, text)
        assert run(d, "ign-out:1", "cat", "/keep") == "k"


def test_a_directory_replaced_by_a_link_keeps_the_host_mode(client, sentinel):
    # the directory's mode is set after its entries: never through the link that replaced it
    context = [dir_("d", 0o777), reg("d/f"), sym("d", sentinel.path), dockerfile("FROM busybox\n")]
    ok, text = build(client, tar_bytes(context), "dir-link:1")
    assert ok, text
    assert os.stat(sentinel.path).st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    "entries",
    [
        [reg("../../../../../../x", b"x")],
        [hard("h", "/etc/passwd")],
        [sym("a", "/"), hard("h", "a/etc/passwd")],
    ],
)
def test_contexts_that_climb_are_refused(client, entries):
    ok, text = build(client, tar_bytes([*entries, dockerfile("FROM busybox\n")]), "climb:1")
    assert not ok and ("build context" in text), text


def test_add_of_hostile_tars(d, client, sentinel):
    refused = {
        "dotdot-name",
        "symlink-climb-then-write",
        "hardlink-abs",
        "hardlink-climb",
        "symlink-loop-write",
        "whiteout-climb",
    }
    for name, layer in sorted(escaping_layers(sentinel).items()):
        context = [reg("evil.tar", layer), dockerfile("FROM busybox\nADD evil.tar /dst/\n")]
        ok, text = build(client, tar_bytes(context), f"add-{name}:1")
        if name in refused:
            assert not ok and "failed to extract evil.tar" in text, (name, text)
        else:
            assert ok, (name, text)


def test_add_into_a_destination_that_links_out(d, client, sentinel):
    # the base already has /dst/link -> the sentinel: ADD resolves it inside /dst (Docker
    # extracts chrooted there), the host directory is never reached
    s = sentinel.path
    evil = tar_bytes([reg("link/victim", b"pwned"), reg("link/new", b"new")])
    df = f"FROM busybox\nRUN mkdir /dst && ln -s {s} /dst/link\nADD evil.tar /dst/\n"
    ok, text = build(client, tar_bytes([reg("evil.tar", evil), dockerfile(df)]), "add-into:1")
    assert ok, text
    assert run(d, "add-into:1", "cat", f"/dst{s}/victim") == "pwned"


def test_context_bombs(d, client, tmp_path):
    ok, text = build(client, huge_pax_header(), "bomb:1")
    assert not ok and "larger than 1048576" in text, text
    path = str(tmp_path / "many.tgz")
    many_entries(path, 20000)
    with open(path, "rb") as f:
        ok, text = build(client, f, "many:1")
    assert not ok and "Cannot locate specified Dockerfile" in text, text
    assert ping(d.sock)


def test_copy_into_destinations_that_link_out(d, client, sentinel):
    # the image's links are followed inside its root, never on the host (a link that climbs
    # cannot be in a layer: the RUN that made one would fail, as Docker's does)
    s = sentinel.path
    df = (
        f"FROM busybox\nRUN ln -s {s} /abs && mkdir -p {s}/dir && ln -s /abs/dir /d2\n"
        "COPY victim /abs/\nCOPY victim /abs/second\nCOPY tree /d2/\nCOPY victim /abs/link\n"
    )
    context = [reg("victim", b"pwned"), dir_("tree"), reg("tree/inner", b"pwned"), dockerfile(df)]
    ok, text = build(client, tar_bytes(context), "copy-into:1")
    assert ok, text
    out = run(d, "copy-into:1", "cat", f"{s}/victim", f"{s}/second", f"{s}/dir/inner")
    assert out == "pwned" * 3
    # the sentinel's own `link -> victim` is not in the image: COPY made a file of that name
    assert run(d, "copy-into:1", "cat", f"{s}/link") == "pwned"


def test_copy_from_a_stage_through_its_links_out(d, client, sentinel):
    # the stage's links that aim at the host (straight, or through another link) are
    # resolved inside the stage's root: COPY --from finds nothing there, never the host's
    # files (a link that climbs with .. cannot be in a layer: its RUN fails)
    s = sentinel.path
    stage = (
        f"FROM busybox AS s\nRUN mkdir /t && ln -s {s} /t/abs && ln -s t/abs/dir /chain"
        f" && ln -s /t/abs/../abs/victim /t/dots\n"
    )
    for src, error in (
        ("/t/abs/victim", "COPY failed: stat t/abs/victim: file does not exist"),
        ("/chain/inner", "COPY failed: stat chain/inner: file does not exist"),
        ("/chain", "COPY failed: stat chain: file does not exist"),
        ("/t/dots", "COPY failed: stat t/dots: file does not exist"),
        ("/t/abs/vic*", "COPY failed: no source files were specified"),
    ):
        df = stage + f"FROM busybox\nCOPY --from=s {src} /got/\n"
        ok, text = build(client, tar_bytes([dockerfile(df)]), "from-out:1")
        assert not ok and error in text, (src, text)
    # the same links, copied as part of a tree, stay links (to paths of the new image)
    df = stage + "FROM busybox\nCOPY --from=s /t /got/\n"
    ok, text = build(client, tar_bytes([dockerfile(df)]), "from-out:2")
    assert ok, text
    assert run(d, "from-out:2", "readlink", "/got/abs").strip() == s


def test_the_cache_key_of_a_copy_ignores_the_host(d, client, tmp_path):
    # `d/l` aims at a host directory: the COPY's hash must not depend on what the host has
    # there (it did when the tree was walked by host path: the link counted as a directory)
    target = tmp_path / "host-dir"
    target.mkdir()
    context = tar_bytes(
        [
            dir_("d"),
            sym("d/l", str(target)),
            reg("d/z", b"z"),
            dockerfile("FROM busybox\nCOPY d /d\n"),
        ]
    )
    ok, first = build(client, context, "cache-host:1")
    assert ok and " ---> Using cache" not in first.split("COPY d /d", 1)[1], first
    target.rmdir()
    ok, second = build(client, context, "cache-host:1")
    assert ok and " ---> Using cache" in second.split("COPY d /d", 1)[1], second
    assert run(d, "cache-host:1", "readlink", "/d/l").strip() == str(target)
