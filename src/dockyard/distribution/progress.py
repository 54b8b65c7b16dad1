"""Docker's progress messages (the JSON lines of `docker pull` and `docker push`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..units import human_size

ProgressFn = Callable[[dict], None]


def progress_bar(current: int, total: int) -> str:
    """The `progress` string Docker puts next to progressDetail (terminal width 200)."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    filled = min(int(current / total * 100) // 2, 50)
    box = "[" + "=" * filled + ">" + " " * (50 - filled) + "] "
    numbers = f"{human_size(current):>8}/{human_size(total)}" if current <= total else ""
    return box + numbers


def short_id(digest: str) -> str:
    """The 12-hex id Docker shows for a layer."""
    return digest.split(":", 1)[-1][:12]


def status(text: str, layer_id: str | None = None, detail: dict | None = None) -> dict:
    msg: dict = {"status": text}
    if layer_id is not None:
        msg["progressDetail"] = detail if detail is not None else {}
        msg["id"] = layer_id
    return msg


def transfer(text: str, layer_id: str, current: int, total: int) -> dict:
    return {
        "status": text,
        "progressDetail": {"current": current, "total": total},
        "progress": progress_bar(current, total),
        "id": layer_id,
    }


class Throttle:
    """Lets a transfer report at most every `interval` seconds (and always at the end)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._last = 0.0

    def ready(self, done: bool = False) -> bool:
        now = time.monotonic()
        if done or now - self._last >= self.interval:
            self._last = now
            return True
        return False


def silent(_msg: dict) -> None:
    """A progress callback that drops every message."""
