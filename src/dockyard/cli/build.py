"""`dockyard build`: docker's classic `docker build` (DOCKER_BUILDKIT=0) grammar and output.

    dockyard build [-t NAME]... [-f FILE] [--build-arg K[=V]]... [--target STAGE] [--no-cache]
                   [--pull] [--label K=V]... [--network MODE] [-q] PATH | -

The context directory is sent as a tar (.dockerignore applied, as the docker CLI does); `-`
reads a tar, or a lone Dockerfile, from stdin. The daemon's messages are printed as they
come, on stdout exactly as docker prints them, and the time the build took on stderr; on an
error the message goes to stderr and the exit status is the failed RUN's (1 for any other
error), as docker's.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import tempfile
import time
from typing import Any

from dockyard.units import human_size


def register(cli: Any) -> None:
    p = cli.command(cli.top, "build", _build, "Build an image from a Dockerfile",
                    prog="dockyard build")  # fmt: skip
    img = cli.groups.get("image")
    if img is not None:
        q = cli.command(img, "build", _build, "Build an image from a Dockerfile",
                        prog="dockyard image build")  # fmt: skip
        _arguments(q)
    builder = cli.group("builder", "Manage builds")
    _arguments(cli.command(builder, "build", _build, "Build an image from a Dockerfile",
                           prog="dockyard builder build"))  # fmt: skip
    _arguments(p)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--tag", action="append", default=[], help="Name and optionally a tag")
    p.add_argument("-f", "--file", help="Name of the Dockerfile (default: PATH/Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[], help="Set build-time variables")
    p.add_argument("--target", help="Set the target build stage to build")
    p.add_argument("--no-cache", action="store_true", help="Do not use cache")
    p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer image")
    p.add_argument("--label", action="append", default=[], help="Set metadata for an image")
    p.add_argument("--network", default="default", help="Networking mode for RUN")
    p.add_argument("--platform", help="Set platform if server is multi-platform capable")
    p.add_argument("--cache-from", action="append", default=[], help="Images for the cache")
    p.add_argument("--rm", default="true", help="Remove intermediate containers")
    p.add_argument("--force-rm", action="store_true", help="Always remove containers")
    p.add_argument("--iidfile", help="Write the image ID to the file")
    p.add_argument("-q", "--quiet", action="store_true", help="Print the image ID on success")
    p.add_argument("path", metavar="PATH | -")


def _kv(values: list[str], env_fallback: bool) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in values:
        key, eq, value = item.partition("=")
        out[key] = value if eq else (os.environ.get(key) if env_fallback else "")
    return out


def _context(args: argparse.Namespace) -> tuple[Any, str | None]:
    """(the context tar as a file, the Dockerfile's name in it)."""
    from dockyard.build.context import write_context_tar

    if args.path == "-":
        data = sys.stdin.buffer.read()
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*"):
                return io.BytesIO(data), args.file
        except tarfile.TarError:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                info = tarfile.TarInfo("Dockerfile")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            buf.seek(0)
            return buf, "Dockerfile"
    out = tempfile.TemporaryFile()
    dockerfile = args.file or os.path.join(args.path, "Dockerfile")
    if args.file == "-":
        fd, tmp = tempfile.mkstemp(prefix="dockyard-dockerfile-")
        with os.fdopen(fd, "wb") as f:
            f.write(sys.stdin.buffer.read())
        dockerfile = tmp
    elif args.file and not os.path.isabs(args.file) and not os.path.exists(args.file):
        dockerfile = os.path.join(args.path, args.file)
    written = write_context_tar(args.path, out, os.path.abspath(dockerfile))
    out.seek(0)
    return out, written.dockerfile


def _build(client: Any, args: argparse.Namespace) -> int:
    from dockyard.client.build import Build

    context, dockerfile = _context(args)
    size = context.seek(0, 2)
    context.seek(0)
    if not args.quiet:
        print(f"Sending build context to Docker daemon  {human_size(size)}\n", flush=True)
    labels = {k: v or "" for k, v in _kv(args.label, False).items()}
    started = time.monotonic()
    image_id = ""
    for message in Build(client.transport).build(
        context,
        tags=args.tag,
        dockerfile=dockerfile,
        buildargs=_kv(args.build_arg, True),
        target=args.target,
        nocache=args.no_cache,
        pull=args.pull,
        rm=args.rm.lower() not in ("false", "0"),
        forcerm=args.force_rm,
        labels=labels,
        networkmode=args.network,
        platform=args.platform,
        cachefrom=args.cache_from,
        quiet=args.quiet,
    ):
        if "error" in message or "errorDetail" in message:
            detail = message.get("errorDetail") or {}
            print(detail.get("message") or message.get("error"), file=sys.stderr)
            return int(detail.get("code") or 1)
        if "aux" in message and isinstance(message["aux"], dict):
            image_id = message["aux"].get("ID") or image_id
        text = message.get("stream")
        if text and not args.quiet:
            sys.stdout.write(text)
            sys.stdout.flush()
    if args.quiet and image_id:
        print(image_id)
    if args.iidfile and image_id:
        with open(args.iidfile, "w") as f:
            f.write(image_id)
    if not args.quiet:  # on stderr: stdout stays what docker prints
        print(f"Build took {time.monotonic() - started:.2f}s", file=sys.stderr)
    return 0
