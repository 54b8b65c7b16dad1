"""Command shapes several `dockyard` commands share: inspecting objects by name, and writing
an archive stream to a file or a redirected stdout."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from dockyard.cli import formatting as fmt
from dockyard.client import APIError


def inspect_objects(names: list[str], fetch: Callable[[str], Any], template: str | None) -> int:
    """Print what `fetch` returns for each name, as `docker X inspect` does: a JSON array or
    one rendered template per object; a missing one is reported and makes the status 1."""
    found, status = [], 0
    for name in names:
        try:
            found.append(fetch(name))
        except APIError as exc:
            if exc.status != 404:
                raise
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            status = 1
    sys.stdout.write(fmt.render_each(found, template) if template else fmt.indent_json(found))
    return status


def write_stream(chunks: Callable[[], Iterable[bytes]], output: str | None) -> int:
    """Write an archive to `output`, or to stdout unless it is a terminal (docker's rule)."""
    if not output and os.isatty(sys.stdout.fileno()):
        print(
            "dockyard: cowardly refusing to save to a terminal. Use the -o flag or redirect",
            file=sys.stderr,
        )
        return 1
    out = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115
    try:
        for chunk in chunks():
            out.write(chunk)
    finally:
        if output:
            out.close()
    return 0
