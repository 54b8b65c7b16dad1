"""Several containers' logs on one stream, each line prefixed `name  | ` as Docker Compose
prints them (coloured per container on a terminal), one reader thread per container.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from dockyard.compose.engine import Engine

# Docker Compose's rainbow: cyan, yellow, green, magenta, blue, then the bright ones.
_COLORS = ["36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1"]


class LogPrinter:
    """Writes whole lines with a padded, optionally coloured, name prefix; thread-safe."""

    def __init__(
        self, names: list[str], out: TextIO | None = None, color: bool | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.color = self.out.isatty() if color is None else color
        self.width = max([len(n) for n in names] or [0])
        self._colors: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, name: str) -> None:
        self.width = max(self.width, len(name))

    def prefix(self, name: str) -> str:
        text = f"{name.ljust(self.width)}  | "
        if not self.color:
            return text
        code = self._colors.setdefault(name, _COLORS[len(self._colors) % len(_COLORS)])
        return f"\033[{code}m{text}\033[0m"

    def line(self, name: str, text: str) -> None:
        with self._lock:
            self.out.write(self.prefix(name) + text + "\n")
            self.out.flush()

    def message(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()


def follow_container(
    engine: Engine,
    printer: LogPrinter,
    name: str,
    *,
    follow: bool,
    tail: str | None = None,
    timestamps: bool = False,
    since: int | None = None,
    tty: bool = False,
    stop: threading.Event | None = None,
) -> None:
    """Print one container's log lines until it ends (or stop is set)."""
    pending: dict[int, bytes] = {}
    try:
        frames = engine.logs(
            name, follow=follow, tail=tail, timestamps=timestamps, since=since, tty=tty
        )
        for stream, data in frames:
            if stop is not None and stop.is_set():
                return
            buf = pending.get(stream, b"") + data
            *lines, rest = buf.split(b"\n")
            pending[stream] = rest
            for raw in lines:
                printer.line(name, raw.decode(errors="replace").rstrip("\r"))
    except Exception as exc:  # noqa: BLE001 - a vanished container ends its stream
        if stop is None or not stop.is_set():
            printer.message(f"{name}: log stream ended: {exc}")
    for rest in pending.values():
        if rest:
            printer.line(name, rest.decode(errors="replace"))


def stream_all(
    engine: Engine,
    printer: LogPrinter,
    containers: list[dict[str, Any]],
    *,
    follow: bool,
    tail: str | None = None,
    timestamps: bool = False,
    since: int | None = None,
    on_exit: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> list[threading.Thread]:
    """Start one daemon thread per container; on_exit(name) runs when its stream ends."""
    threads = []
    for c in containers:
        name = (c.get("Names") or ["/" + c["Id"][:12]])[0].lstrip("/")
        printer.add(name)

        def run(name: str = name, c: dict[str, Any] = c) -> None:
            tty = bool(engine.inspect(c["Id"])["Config"].get("Tty"))
            follow_container(
                engine,
                printer,
                name,
                follow=follow,
                tail=tail,
                timestamps=timestamps,
                since=since,
                tty=tty,
                stop=stop,
            )
            if on_exit is not None:
                on_exit(name)

        thread = threading.Thread(target=run, name=f"logs-{name}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads
