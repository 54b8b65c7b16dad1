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
    since: int | str | None = None,
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


def follow_new_starts(
    engine: Engine,
    printer: LogPrinter,
    project: str,
    *,
    services: list[str] | None = None,
    timestamps: bool = False,
    following: dict[str, threading.Thread] | None = None,
) -> threading.Thread:
    """`logs -f`: also follow containers of the project that start later (new, recreated or
    restarted ones), from their start on, as Docker Compose does with the event stream."""
    followers = dict(following or {})  # name -> the thread printing its log

    def run() -> None:
        filters = {
            "type": ["container"],
            "event": ["start"],
            "label": [f"com.docker.compose.project={project}"],
        }
        try:
            for event in engine.events(filters, since=None):
                attrs = (event.get("Actor") or {}).get("Attributes") or {}
                service = attrs.get("com.docker.compose.service")
                if services and service not in services:
                    continue
                name = attrs.get("name") or event.get("id", "")[:12]
                previous = followers.get(name)
                printer.add(name)
                info = engine.inspect(event.get("id") or name)
                # from the process's start (the event comes once its first lines may be out)
                since = _unix_time(info["State"].get("StartedAt")) or event.get("time")
                thread = threading.Thread(
                    target=_follow_after,
                    args=(previous, engine, printer, name),
                    kwargs={
                        "timestamps": timestamps,
                        "since": since,
                        "tty": bool(info["Config"].get("Tty")),
                    },
                    daemon=True,
                )
                followers[name] = thread
                thread.start()
        except Exception as exc:  # noqa: BLE001 - the daemon went away: stop watching
            printer.message(f"event stream ended: {exc}")

    watcher = threading.Thread(target=run, name="logs-events", daemon=True)
    watcher.start()
    return watcher


def _unix_time(rfc3339: str | None) -> str | None:
    """ "2024-01-02T03:04:05.123456789Z" as "1704164645.123456789" (the API's since form)."""
    if not rfc3339 or rfc3339.startswith("0001-"):
        return None
    import datetime

    whole, _, rest = rfc3339.rstrip("Z").partition(".")
    fraction = (rest.split("+")[0].split("-")[0] + "000000000")[:9]
    when = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC)
    return f"{int(when.timestamp())}.{fraction}"


def _follow_after(
    previous: threading.Thread | None,
    engine: Engine,
    printer: LogPrinter,
    name: str,
    **kwargs: Any,
) -> None:
    """Follow a (re)started container once the follower of its previous run has finished
    (the daemon ends that stream just after the stop); a stream that lasts across the
    restart keeps printing, and no second one is opened."""
    if previous is not None:
        previous.join(5)
        if previous.is_alive():
            previous.join()
            return
    follow_container(engine, printer, name, follow=True, **kwargs)


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
