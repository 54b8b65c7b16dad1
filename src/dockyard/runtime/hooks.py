"""OCI lifecycle hooks: run each hook of a kind with the container's state JSON on stdin.

A hook is {"path", "args", "env", "timeout"}; a non-zero exit, a crash or an expired timeout is a
HookError naming the hook. runc's rules: prestart, createRuntime and poststart failures abort the
operation; poststop failures are reported and ignored by the caller.
"""

from __future__ import annotations

import json
import os
from typing import Any

from dockyard.errors import SystemError_


class HookError(SystemError_):
    pass


def run_hooks(hooks: dict[str, Any] | None, kind: str, state: dict[str, Any]) -> None:
    for hook in (hooks or {}).get(kind) or []:
        run_hook(hook, kind, state)


def run_hook(hook: dict[str, Any], kind: str, state: dict[str, Any]) -> None:
    path = hook.get("path")
    if not path or not os.path.isabs(path):
        raise HookError(f"{kind} hook: path must be absolute, got {path!r}")
    args = hook.get("args") or [path]
    env = dict(e.split("=", 1) for e in hook.get("env") or [] if "=" in e)
    timeout = hook.get("timeout")
    import subprocess  # only when there are hooks: keeps the CLI's start fast

    try:
        proc = subprocess.run(
            args,
            executable=path,
            input=json.dumps(state).encode(),
            env=env,
            capture_output=True,
            timeout=timeout if timeout and timeout > 0 else None,
        )
    except subprocess.TimeoutExpired:
        raise HookError(f"{kind} hook {path}: timed out after {timeout}s") from None
    except OSError as e:
        raise HookError(f"{kind} hook {path}: {e.strerror}") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).decode(errors="replace").strip()
        raise HookError(
            f"{kind} hook {path}: exit status {proc.returncode}" + (f": {detail}" if detail else "")
        )
