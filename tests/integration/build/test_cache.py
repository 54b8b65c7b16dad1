"""The build cache: every step reused on an unchanged rebuild; a changed copied file rebuilds
from its COPY on and no earlier; build args and --no-cache; --cache-from seeding."""

from __future__ import annotations

import os
import time
import uuid

from buildsupport import build

from dockyard.build.service import BuildService

DOCKERFILE = """\
FROM busybox
ARG V=1
WORKDIR /app
ENV A=1
RUN echo $V > /v
COPY a.txt .
RUN cat a.txt > /copied
COPY b.txt .
LABEL l=1
CMD ["sh"]
"""


def _files(a: str = "A", b: str = "B", df: str = DOCKERFILE) -> dict:
    return {"Dockerfile": df, "a.txt": a, "b.txt": b}


def _cached_steps(output: str) -> list[bool]:
    """For each step after FROM: did it use the cache?"""
    steps = output.split("Step ")[2:]
    return [" ---> Using cache\n" in s for s in steps]


def _unique(df: str) -> str:
    # a fresh LABEL after FROM keeps tests independent of each other's cache entries
    return df.replace("FROM busybox\n", f"FROM busybox\nLABEL run={uuid.uuid4().hex}\n", 1)


def test_unchanged_rebuild_uses_cache_for_every_step(engine) -> None:
    df = _unique(DOCKERFILE)
    first = build(engine, _files(df=df))
    assert first.error is None, first.output
    assert not any(_cached_steps(first.output))
    started = time.monotonic()
    second = build(engine, _files(df=df))
    took = time.monotonic() - started
    assert second.error is None
    assert _cached_steps(second.output) == [True] * 10
    assert took < 1.0, f"a fully cached 10-step build took {took:.2f} s"
    assert "Running in" not in second.output
    assert second.image_id == first.image_id


def test_changed_file_rebuilds_from_its_copy_on(engine) -> None:
    df = _unique(DOCKERFILE)
    first = build(engine, _files(df=df))
    second = build(engine, _files(a="changed", df=df))
    assert second.error is None, second.output
    #            LABEL ARG  WORKDIR ENV  RUN   COPY a RUN    COPY b LABEL  CMD
    assert _cached_steps(second.output) == [True, True, True, True, True, False, False, False,
                                            False, False]  # fmt: skip
    assert second.image_id != first.image_id
    # the same change again: all cached
    third = build(engine, _files(a="changed", df=df))
    assert third.image_id == second.image_id
    # the later file only: everything up to its COPY is cached
    fourth = build(engine, _files(a="changed", b="other", df=df))
    assert _cached_steps(fourth.output) == [True] * 7 + [False] * 3


def test_mode_change_of_copied_file_misses(engine) -> None:
    df = _unique("FROM busybox\nCOPY a.txt /a\n")
    build(engine, {"Dockerfile": df, "a.txt": "A"})
    again = build(engine, {"Dockerfile": df, "a.txt": ("A", 0o755)})
    assert _cached_steps(again.output) == [True, False]


def test_build_arg_change_rebuilds_run(engine) -> None:
    df = _unique(DOCKERFILE)
    build(engine, _files(df=df), buildargs={"V": "1"})
    second = build(engine, _files(df=df), buildargs={"V": "2"})
    # ARG V=1 itself is the same step; the RUN that sees V=2 is not
    assert _cached_steps(second.output)[:5] == [True, True, True, True, False]


def test_no_cache(engine) -> None:
    df = _unique(DOCKERFILE)
    first = build(engine, _files(df=df))
    second = build(engine, _files(df=df), nocache=True)
    assert second.error is None
    assert "Using cache" not in second.output
    assert second.image_id != first.image_id


def test_cache_from_seeds_an_empty_cache(engine) -> None:
    df = _unique(DOCKERFILE)
    first = build(engine, _files(df=df), tags=["cache-source:1"])
    assert first.error is None
    fresh = BuildService(
        os.path.join(engine.root, f"build-{uuid.uuid4().hex[:6]}"),
        images=engine.images,
        snapshots=engine.snapshots,
        containers=engine.containers,
    )
    messages: list[dict] = []
    from buildsupport import tar_of

    without = fresh.build(
        tar_of(_files(df=df)), on_message=messages.append, nocache=False, cachefrom=[]
    )
    assert "Using cache" not in "".join(m.get("stream", "") for m in messages)
    assert without != first.image_id
    fresh2 = BuildService(
        os.path.join(engine.root, f"build-{uuid.uuid4().hex[:6]}"),
        images=engine.images,
        snapshots=engine.snapshots,
        containers=engine.containers,
    )
    messages = []
    seeded = fresh2.build(
        tar_of(_files(df=df)), on_message=messages.append, cachefrom=["cache-source:1"]
    )
    output = "".join(m.get("stream", "") for m in messages)
    assert _cached_steps(output) == [True] * 10
    image = engine.images.get(seeded)
    source = engine.images.get("cache-source:1")
    assert image.diff_ids == source.diff_ids
    assert image.config["config"] == source.config["config"] | {
        "Image": image.config["config"]["Image"]
    }
    assert [h.get("created_by") for h in image.config["history"]] == [
        h.get("created_by") for h in source.config["history"]
    ]


def test_concurrent_builds_share_the_engine(engine) -> None:
    import threading

    results: dict[int, object] = {}

    def one(i: int) -> None:
        df = _unique(f'FROM busybox\nRUN echo {i} > /n\nCOPY a.txt /a\nCMD ["{i}"]\n')
        results[i] = build(engine, {"Dockerfile": df, "a.txt": str(i)})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i in range(4):
        r = results[i]
        assert r.error is None, (r.error, r.output)
        assert engine.images.get(r.image_id).config["config"]["Cmd"] == [str(i)]
