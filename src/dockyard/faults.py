"""Crash points for the fault tests.

`DOCKYARD_CRASH_AT=name[,name...]` in a process's environment makes it kill itself with
SIGKILL when it reaches one of those named points, so that tests/faults can crash the daemon
at an exact step of an operation and check what start-up recovery makes of it. Without the
variable (always, outside those tests) `crash_point` is a set lookup and nothing more.
"""

from __future__ import annotations

import os
import signal

_POINTS = frozenset(p for p in os.environ.get("DOCKYARD_CRASH_AT", "").split(",") if p)


def crash_point(name: str) -> None:
    """Die here, as `kill -9` would kill us, when the environment names this point."""
    if name in _POINTS:
        os.kill(os.getpid(), signal.SIGKILL)
