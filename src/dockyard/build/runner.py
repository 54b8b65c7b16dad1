"""RUN: a build step as a real container on the engine's ContainerService.

The container (created from the step's parent image, the command with no entrypoint, the
step's environment, user and working directory, health checks off) is started through the
service's zygote-launched monitor like any container; its output is followed from its log
and handed on as it comes. When it has exited, the changes in its writable layer become the
step's layer: the mount points the runtime made for itself (/proc, /dev, /etc/hosts, ...,
which Docker keeps in a separate init layer) are dropped first, then the overlay upper
directory is diffed into a tar. The container is always removed, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from dockyard.errors import DockyardError, NotFound
from dockyard.linux import pathrs
from dockyard.snapshots.layer import write_diff
from dockyard.snapshots.mount import is_mountpoint, unmount_all

HOST_NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts")
PIPES_DIR = "/dev/pipes"  # where BuildKit mounts the script of a RUN heredoc
# Docker's init layer: mount points made for the container, never part of a RUN's layer.
INIT_PATHS = (
    "dev/pts",
    "dev/shm",
    "dev/mqueue",
    "dev/console",
    "proc",
    "sys",
    ".dockerenv",
    "etc/resolv.conf",
    "etc/hosts",
    "etc/hostname",
    "etc/mtab",
    "dev",
)


class RunError(DockyardError):
    """A RUN whose command failed; `code` is its exit status (Docker's words)."""

    status = 500

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class RunResult:
    container_id: str
    layer: BinaryIO | None  # the diff tar (at offset 0), None when nothing changed


def run_step(
    containers: Any,
    snapshots: Any,
    *,
    image_id: str,
    cmd: list[str],
    env: list[str],
    run_config: dict[str, Any],
    network_mode: str,
    on_output: Callable[[str], None],
    on_created: Callable[[str], None],
    keep: bool = False,
    cancel: threading.Event | None = None,
    pipes: dict[str, str] | None = None,
) -> RunResult:
    """Run `cmd` on `image_id`; raise RunError on a non-zero exit.

    The container is removed afterwards, unless `keep` (`--rm=false` without `--force-rm`:
    Docker then keeps the containers of the steps, the failed one too).
    Setting `cancel` kills the container (the build was abandoned). `pipes` (name ->
    content) are executable files the step sees, read-only, in PIPES_DIR (a RUN heredoc
    with a `#!` line is run as such a script, as BuildKit does).
    """
    with ExitStack() as cleanup:
        binds: list[str] = []
        if pipes:
            binds.append(f"{cleanup.enter_context(_pipes_dir(pipes))}:{PIPES_DIR}:ro")
        if network_mode == "host":
            # On the host's network a step resolves names as the host does (read-only: the
            # host's files are not the step's to change).
            binds += [f"{p}:{p}:ro" for p in HOST_NETWORK_FILES if os.path.isfile(p)]
        cid = _create(containers, image_id, cmd, env, run_config, network_mode, binds)
        return _run(containers, snapshots, cid, cmd, on_output, on_created, keep, cancel)


def _create(
    containers: Any,
    image_id: str,
    cmd: list[str],
    env: list[str],
    run_config: dict[str, Any],
    network_mode: str,
    binds: list[str],
) -> str:
    """The step's container: the command with no entrypoint, health checks off."""
    config = {
        "Image": image_id,
        "Cmd": cmd,
        "Entrypoint": [],
        "Env": env,
        "User": run_config.get("User") or "",
        "WorkingDir": run_config.get("WorkingDir") or "",
        "Healthcheck": {"Test": ["NONE"]},
        "Labels": {},
    }
    host_config: dict[str, Any] = {
        "NetworkMode": network_mode,
        "LogConfig": {"Type": "json-file"},
    }
    if binds:
        host_config["Binds"] = binds
    return containers.create(None, config, host_config)["Id"]


def _run(
    containers: Any,
    snapshots: Any,
    cid: str,
    cmd: list[str],
    on_output: Callable[[str], None],
    on_created: Callable[[str], None],
    keep: bool,
    cancel: threading.Event | None,
) -> RunResult:
    """Start the container, follow its output, and diff its changes into the layer."""
    ran = False  # it ran to its end (a cancelled or broken start did not)
    try:
        on_created(cid)
        containers.start(cid)
        done = threading.Event()
        if cancel is not None:
            threading.Thread(
                target=_kill_on_cancel, args=(containers, cid, cancel, done), daemon=True
            ).start()
        try:
            for _stream, data in containers.logs(cid, follow=True):
                on_output(data.decode("utf-8", "replace"))
            code = containers.wait(cid)["StatusCode"]
        finally:
            done.set()
        if cancel is not None and cancel.is_set():
            raise RunError("context canceled", code or 137)
        ran = True
        if code != 0:
            raise RunError(f"The command '{' '.join(cmd)}' returned a non-zero code: {code}", code)
        return RunResult(cid, _layer_of(containers, snapshots, cid))
    finally:
        if not (keep and ran):
            try:
                containers.remove(cid, force=True, volumes=True)
            except NotFound:
                pass


@contextmanager
def _pipes_dir(pipes: dict[str, str]) -> Iterator[str]:
    """A host directory holding `pipes` as executable files (removed afterwards)."""
    path = tempfile.mkdtemp(prefix="dockyard-pipes-")
    try:
        os.chmod(path, 0o755)
        for name, content in pipes.items():
            file = os.path.join(path, name)
            with open(file, "w") as f:
                f.write(content)
            os.chmod(file, 0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _unmount(rootfs: str) -> None:
    """Unmount the container's root file system (the service may be doing it too)."""
    for _ in range(3):
        try:
            unmount_all(rootfs)
            return
        except DockyardError:
            if not is_mountpoint(rootfs):
                return
    unmount_all(rootfs)


def _kill_on_cancel(
    containers: Any, cid: str, cancel: threading.Event, done: threading.Event
) -> None:
    while not done.is_set():
        if cancel.wait(0.2):
            try:
                containers.kill(cid)
            except DockyardError:
                pass  # it has exited meanwhile
            return


def _layer_of(containers: Any, snapshots: Any, cid: str) -> BinaryIO | None:
    rootfs = os.path.join(containers.store.dir(cid), "bundle", "rootfs")
    _unmount(rootfs)
    upper = snapshots.upper_dir(cid)
    lowers = snapshots.lower_dirs(cid)
    drop_init_paths(upper, lowers)
    if not os.listdir(upper):
        return None
    out = tempfile.TemporaryFile()
    try:
        write_diff(lowers, upper, out)  # type: ignore[arg-type]
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out  # type: ignore[return-value]


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _in_lowers(lowers: list[str], rel: str) -> os.stat_result | None:
    for lower in lowers:
        st = pathrs.lstat_beneath(lower, rel)
        if st is not None:
            return st
    return None


def drop_init_paths(upper: str, lowers: list[str]) -> None:
    """Remove from `upper` the mount points the runtime created (see INIT_PATHS). Every
    look and every removal is made at a directory descriptor inside `upper`."""
    for rel in INIT_PATHS:
        opened = pathrs.open_parent_beneath(upper, rel)
        if opened is None:
            continue
        fd, name = opened
        try:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
            if _in_lowers(lowers, rel) is not None:
                continue
            if stat.S_ISDIR(st.st_mode):
                if _only_dirs_and_empty_files(fd, name):
                    shutil.rmtree(name, dir_fd=fd)
            elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
                os.unlink(name, dir_fd=fd)
        finally:
            os.close(fd)
    for rel in ("etc", "dev"):
        _drop_unchanged_dir(upper, lowers, rel)


def _only_dirs_and_empty_files(parent_fd: int, name: str) -> bool:
    for _dirpath, _dirnames, filenames, dfd in os.fwalk(name, dir_fd=parent_fd):
        for fname in filenames:
            st = os.stat(fname, dir_fd=dfd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_size:
                return False
    return True


def _drop_unchanged_dir(upper: str, lowers: list[str], rel: str) -> None:
    """An empty copied-up directory whose owner and mode match the layer below goes."""
    opened = pathrs.open_parent_beneath(upper, rel)
    if opened is None:
        return
    pfd, name = opened
    try:
        try:
            dfd = os.open(name, _DIR, dir_fd=pfd)
        except OSError:
            return  # missing, or not a real directory
        try:
            st = os.fstat(dfd)
            if os.listdir(dfd):
                return
            try:
                opaque = os.getxattr(dfd, "trusted.overlay.opaque") == b"y"
            except OSError:
                opaque = False
        finally:
            os.close(dfd)
        below = _in_lowers(lowers, rel)
        if below is None:
            os.rmdir(name, dir_fd=pfd)  # made only to hold mount points
            return
        if (
            not opaque
            and stat.S_ISDIR(below.st_mode)
            and (below.st_mode, below.st_uid, below.st_gid) == (st.st_mode, st.st_uid, st.st_gid)
        ):
            os.rmdir(name, dir_fd=pfd)
    finally:
        os.close(pfd)
