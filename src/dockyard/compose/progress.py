"""Docker Compose's progress report: one line per resource and its state.

In plain (non-TTY) mode Docker Compose prints each step as it happens (` Container x
Starting`); what stays on a terminal at the end is the summary block:

    [+] Running 3/3
     ✔ Network proj_default      Created
     ✔ Container proj-redis-1    Started

`Progress` prints each finished step at once to stderr (`live`), or collects them and
prints the block when the command ends (`close`), which is what dockyard does by default.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

DONE = "✔"
FAILED = "✘"
_PENDING = {"Creating", "Starting", "Stopping", "Removing", "Recreate", "Waiting", "Pulling",
            "Building", "Restarting", "Killing", "Pausing", "Unpausing"}  # fmt: skip


class Progress:
    """The resources a command touched, in first-touched order, with their last state."""

    def __init__(self, title: str = "Running", out: TextIO | None = None) -> None:
        self.title = title
        self.out = out or sys.stderr
        self._states: dict[str, tuple[str, bool]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def event(self, kind: str, name: str, state: str, failed: bool = False) -> None:
        """Resource `kind name` reached `state` (Created, Started, ...)."""
        key = f"{kind} {name}"
        with self._lock:
            self._states[key] = (state, failed)

    def close(self) -> None:
        """Print the summary block (once); nothing when no resource was touched."""
        with self._lock:
            if self._closed or not self._states:
                self._closed = True
                return
            self._closed = True
            done = sum(1 for state, failed in self._states.values() if state not in _PENDING)
            width = max(len(key) for key in self._states)
            lines = [f"[+] {self.title} {done}/{len(self._states)}"]
            for key, (state, failed) in self._states.items():
                mark = FAILED if failed else (DONE if state not in _PENDING else " ")
                lines.append(f" {mark} {key.ljust(width)}  {state}")
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
