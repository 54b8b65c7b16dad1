"""The build context as a client sends it: a tar of the context directory.

Like the docker CLI: the files .dockerignore leaves (the Dockerfile and .dockerignore are
always sent), owned by 0:0, symbolic links kept as links, hard links as links to the first
name, directories before their contents. A Dockerfile outside the context directory is
added under a generated name (`.dockerfile.<hex>`), which the caller passes to the
builder instead of its own path.
"""

from __future__ import annotations

import io
import os
import secrets
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.dockerfile.dockerignore import load, walk_context
from dockyard.errors import InvalidParameter


@dataclass(frozen=True)
class ContextTar:
    """What write_context_tar wrote: the Dockerfile's name inside the tar, and the count."""

    dockerfile: str
    entries: int


def _dockerfile_in_context(context_dir: str, dockerfile: str) -> str | None:
    """The Dockerfile's path relative to the context, or None when it lies outside it."""
    path = dockerfile if os.path.isabs(dockerfile) else os.path.join(context_dir, dockerfile)
    relative = os.path.relpath(os.path.realpath(path), os.path.realpath(context_dir))
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return relative.replace(os.sep, "/")


def write_context_tar(
    context_dir: str, out: BinaryIO, dockerfile: str = "Dockerfile"
) -> ContextTar:
    """Write the context of context_dir as an uncompressed tar stream to out.

    dockerfile is relative to context_dir or absolute. Raises InvalidParameter when the
    context directory or the Dockerfile cannot be read.
    """
    if not os.path.isdir(context_dir):
        raise InvalidParameter(f"unable to prepare context: path {context_dir!r} not found")
    inside = _dockerfile_in_context(context_dir, dockerfile)
    name_in_tar = inside or f".dockerfile.{secrets.token_hex(10)}"
    dockerfile_path = (
        dockerfile if os.path.isabs(dockerfile) else os.path.join(context_dir, dockerfile)
    )
    if not os.path.isfile(dockerfile_path):
        raise InvalidParameter(
            f"unable to prepare context: the Dockerfile ({dockerfile_path}) does not exist"
        )
    count = 0
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in walk_context(context_dir, load(context_dir), name_in_tar):
            path = os.path.join(context_dir, rel)
            info = tar.gettarinfo(path, arcname=rel)
            if info is None:
                continue  # a socket
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in links:
                    info.type = tarfile.LNKTYPE
                    info.linkname = links[key]
                    info.size = 0
                else:
                    links[key] = rel
            if info.isreg():
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
            elif info.isdir() or info.issym() or info.islnk():
                tar.addfile(info)
            else:
                continue  # sockets, devices and fifos are not sent
            count += 1
        if inside is None:
            with open(dockerfile_path, "rb") as fh:
                data = fh.read()
            info = tarfile.TarInfo(name_in_tar)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
            count += 1
    return ContextTar(dockerfile=name_in_tar, entries=count)
