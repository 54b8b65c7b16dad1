"""The zygote: a preloaded, single-threaded helper that forks container monitors.

The service starts it once (`python -m dockyard.containers.zygote FD RUNTIME ROOT`). It imports
the monitor and the runtime, freezes the garbage collector's view of those objects (so forked
children share their pages), then serves requests on the socket FD: each request is a JSON
line {"dir": container_dir} with one file descriptor attached (where the monitor reports
readiness). For each it forks; the child calls setsid and forks again, so the monitor is
neither the zygote's nor the daemon's child and outlives both. The zygote exits when its
socket closes (the service went away); monitors keep running.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import socket
import sys
import traceback

from dockyard.containers import monitor


def load_runtime(spec: str, root: str):
    """An instance of the runtime class named "module:Class", with its state under `root`."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)(root)


def _become_monitor(sock: socket.socket, container_dir: str, runtime, ready_fd: int) -> None:
    """In the forked child: detach, then run the monitor. Never returns."""
    code = 0
    try:
        sock.close()
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        try:
            err = os.open(
                os.path.join(container_dir, "monitor.err"),
                os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                0o600,
            )
        except OSError:  # a full disk: the monitor runs without its error file
            err = null
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(err, 2)
        keep = sorted({0, 1, 2, ready_fd})
        for lo, hi in zip(keep, keep[1:] + [65536], strict=False):
            os.closerange(lo + 1, hi)
        os.chdir("/")
        monitor.main(container_dir, runtime, ready_fd)
    except BaseException:  # noqa: BLE001 (the child must never return into the zygote)
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def warm_seccomp(container_dir: str) -> None:
    """Compile the container's seccomp profile here, before the fork: the runtime caches
    compiled filters by content, so every later monitor (and its runtime helper) inherits
    the program instead of paying libseccomp's tens of milliseconds at each start. Errors
    are left for the runtime to report."""
    try:
        with open(os.path.join(container_dir, "bundle", "config.json"), "rb") as f:
            profile = (json.load(f).get("linux") or {}).get("seccomp")
        if profile:
            from dockyard.runtime import seccomp

            seccomp.compile_filter(profile)
    except Exception:  # noqa: BLE001 - the runtime reports a bad profile
        pass


def serve(sock: socket.socket, runtime) -> None:
    buf = b""
    fds: list[int] = []
    while True:
        msg, new_fds, _, _ = socket.recv_fds(sock, 65536, 4)
        fds.extend(new_fds)
        if not msg:
            return
        buf += msg
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            ready_fd = fds.pop(0) if fds else -1
            if ready_fd >= 0:  # received without close-on-exec: no container may inherit it
                os.set_inheritable(ready_fd, False)
            warm_seccomp(req["dir"])
            try:
                pid = os.fork()
            except OSError as e:
                sock.sendall(json.dumps({"error": str(e)}).encode() + b"\n")
                if ready_fd >= 0:
                    os.close(ready_fd)
                continue
            if pid == 0:
                _become_monitor(sock, req["dir"], runtime, ready_fd)
            if ready_fd >= 0:
                os.close(ready_fd)
            os.waitpid(pid, 0)
            sock.sendall(b'{"ok":true}\n')


def main() -> None:
    fd, spec, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    runtime = load_runtime(spec, root)
    gc.collect()
    gc.freeze()
    serve(sock, runtime)


if __name__ == "__main__":
    main()
