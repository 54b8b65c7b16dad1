"""The OCI runtime as a library: create, start, state, kill, delete, exec, list and run.

`Runtime(root)` keeps one directory per container under `root` (like runc's --root). The
container's init and exec'd processes are forked from the caller and stay its children, so a
monitor process (a subreaper) can waitpid() them. No interpreter is started per container.

Threads: the caller should be single-threaded when it calls create/exec/run. They fork, and a
forked child holds only the calling thread (a lock another thread held stays locked in it);
the child then runs Python until it executes the user's program. The switch of the pid
namespace for the next child around the fork is per thread (unshare/setns of CLONE_NEWPID).

Reaping: the caller reaps its children (init and exec'd processes); `delete` never waits for
them, so a monitor keeps the exit status. `state` reports a zombie init as stopped.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from typing import Any

from dockyard import fsutil
from dockyard.errors import Conflict, DockyardError, InvalidParameter, NotFound, SystemError_
from dockyard.runtime import child, hooks, process
from dockyard.runtime import config as cfg
from dockyard.runtime import syscalls as sc
from dockyard.runtime.cgroups import CgroupSet
from dockyard.runtime.state import ContainerState, StateStore, process_start_time

DEFAULT_ROOT = "/run/dockyard-runtime"


def _readable(fd: int, timeout: float) -> bool:
    """Whether `fd` has input (or its end) within `timeout` seconds. poll(), not select():
    a monitor or daemon may hold descriptors above select's limit of 1023."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(max(0, int(timeout * 1000))))


class Runtime:
    """An OCI runtime whose state lives under `root`."""

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = root
        self.store = StateStore(root)
        # id -> read end of the set-up pipe of a container this object created: the init's
        # end closes when it executes the program, so `start` can return after the exec
        self._setup_pipes: dict[str, int] = {}

    # ---------------------------------------------------------------- create
    def create(
        self,
        id: str,
        bundle: str,
        *,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
        console_socket: str | None = None,
        pid_file: str | None = None,
        extra_fds: list[int] | tuple[int, ...] = (),
    ) -> int:
        """Set up container `id` from `bundle` and leave its init waiting for `start`.

        Returns the init's pid (a child of the caller). Raises InvalidParameter, NotFound,
        Conflict or SystemError_; nothing is left behind on failure."""
        cfg.validate_id(id)
        bundle = os.path.abspath(bundle)
        conf = cfg.load_bundle(bundle)
        proc = conf["process"]
        if proc.get("terminal") and not console_socket:
            raise InvalidParameter(
                "cannot allocate tty if runc will detach without setting console socket"
            )
        if not proc.get("terminal") and console_socket:
            raise InvalidParameter(
                "cannot use console socket if runc will not detach or allocate tty"
            )
        namespaces = {ns["type"]: ns for ns in cfg.namespace_list(conf)}
        if "mount" not in namespaces:
            raise InvalidParameter("a mount namespace is required (chroot is not isolation)")
        caps = process.CapabilityPlan.from_spec(proc.get("capabilities"))
        seccomp_filter = _compile_seccomp(conf)
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        state_dir = self.store.dir(id)
        try:
            os.mkdir(state_dir, 0o711)
        except FileExistsError:
            raise Conflict(f"container with id exists: {id}") from None

        cgroups: CgroupSet | None = None
        pid = 0
        opened: list[int] = []
        try:
            cgroups = CgroupSet.for_container(conf["linux"].get("cgroupsPath"), id)
            cgroups.create()
            cgroups.apply(conf["linux"].get("resources"))
            fifo = self.store.fifo(id)
            os.mkfifo(fifo, 0o622)
            os.chmod(fifo, 0o622)
            fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
            opened.append(fifo_fd)
            console_fd = _connect_console(console_socket) if console_socket else None
            if console_fd is not None:
                opened.append(console_fd)
            created = _utc_now()
            annotations = conf.get("annotations") or {}
            hook_state = {
                "ociVersion": conf["ociVersion"],
                "id": id,
                "status": "creating",
                "pid": 0,
                "bundle": bundle,
                "annotations": annotations,
            }
            msg_r, msg_w = os.pipe()
            go_r, go_w = os.pipe()
            opened += [msg_r, msg_w, go_r, go_w]
            plan = child.Plan(
                config=conf,
                bundle=bundle,
                cgroups=cgroups,
                state=hook_state,
                process=proc,
                caps=caps,
                seccomp=seccomp_filter,
                msg_w=msg_w,
                go_r=go_r,
                stdio=(stdin, stdout, stderr),
                extra_fds=list(extra_fds),
                fifo_fd=fifo_fd,
                console_fd=console_fd,
            )
            pid = _fork_in_pid_namespace(namespaces.get("pid"), lambda: child.run_init(plan))
            for fd in (msg_w, go_r, fifo_fd) + ((console_fd,) if console_fd is not None else ()):
                os.close(fd)
                opened.remove(fd)
            hook_state["pid"] = pid
            _await_ready(_Messages(msg_r), go_w, conf.get("hooks"), hook_state)
            start_time = process_start_time(pid)
            if start_time is None:
                raise SystemError_("container init exited during set-up")
            st = ContainerState(
                id=id,
                pid=pid,
                bundle=bundle,
                start_time=start_time,
                created=created,
                config=conf,
                cgroups=cgroups.to_dict(),
                annotations=annotations,
            )
            self.store.save(st)
            if pid_file:
                fsutil.atomic_write(os.path.abspath(pid_file), str(pid).encode())
            opened.remove(msg_r)
            self._forget_setup_pipe(id)
            self._setup_pipes[id] = msg_r
        except BaseException as e:
            if pid:
                _kill_and_reap(pid)
            if cgroups is not None:
                try:
                    cgroups.destroy()
                except DockyardError:
                    pass
            _remove_state_dir(state_dir)
            if isinstance(e, DockyardError):
                raise
            if isinstance(e, OSError):
                raise SystemError_(f"creating container {id}: {e}") from e
            raise
        finally:
            for fd in opened:
                os.close(fd)
        return pid

    # ---------------------------------------------------------------- start
    def start(self, id: str, timeout: float = 10.0) -> None:
        """Let a created container's init execute the user's program."""
        st = self.store.load(id)
        status = self.store.status(st)
        if status != "created":
            raise Conflict(
                f"cannot start a container that has {status}"
                if status == "stopped"
                else f"cannot start an already {status} container"
            )
        fifo = self.store.fifo(id)
        try:
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise Conflict("cannot start an already running container") from None
        try:
            deadline = time.monotonic() + timeout
            while True:
                data = os.read(fd, 1) if _readable(fd, 0.05) else b""
                if data:
                    break
                if process_start_time(st.pid) != st.start_time:
                    raise SystemError_(f"container {id}: init exited before start")
                if time.monotonic() > deadline:
                    raise SystemError_(f"container {id}: init did not answer start")
                time.sleep(0.002)
        finally:
            os.close(fd)
        try:
            os.unlink(fifo)
        except FileNotFoundError:
            pass
        self._await_exec(id, deadline)
        try:
            hooks.run_hooks(st.config.get("hooks"), "poststart", self.store.oci_state(st))
        except hooks.HookError:
            self.delete(id, force=True)
            raise

    def _await_exec(self, id: str, deadline: float) -> None:
        """When this object created the container: wait until its init executed the program
        (or died), so that the caller sees the program, not the runtime, in the process.
        (`start` from another process returns once the init was let go, as runc's does.)"""
        fd = self._setup_pipes.pop(id, None)
        if fd is None:
            return
        try:
            while time.monotonic() < deadline:
                ready = _readable(fd, max(0.0, deadline - time.monotonic()))
                if ready and not os.read(fd, 65536):
                    return
        finally:
            os.close(fd)

    def _forget_setup_pipe(self, id: str) -> None:
        fd = self._setup_pipes.pop(id, None)
        if fd is not None:
            os.close(fd)

    # ---------------------------------------------------------------- state, list
    def state(self, id: str) -> dict[str, Any]:
        return self.store.oci_state(self.store.load(id))

    def list(self) -> list[dict[str, Any]]:
        out = []
        for container_id in self.store.ids():
            try:
                out.append(self.state(container_id))
            except (NotFound, ValueError, KeyError):
                continue
        return out

    # ---------------------------------------------------------------- pause, resume, update
    def pause(self, id: str) -> None:
        """Freeze every process of a running container (runc pause)."""
        st = self.store.load(id)
        status = self.store.status(st)
        if status != "running":
            raise Conflict(f"container {id} is not running: {status}")
        CgroupSet.from_dict(st.cgroups).freeze()

    def resume(self, id: str) -> None:
        """Thaw a paused container (runc resume)."""
        st = self.store.load(id)
        status = self.store.status(st)
        if status != "paused":
            raise Conflict(f"container {id} is not paused: {status}")
        CgroupSet.from_dict(st.cgroups).thaw()

    def update(self, id: str, resources: dict[str, Any]) -> None:
        """Write new linux.resources to a container's cgroups and remember them."""
        st = self.store.load(id)
        if self.store.status(st) == "stopped":
            raise Conflict(f"container {id} is stopped")
        CgroupSet.from_dict(st.cgroups).apply(resources)
        current = st.config.setdefault("linux", {}).setdefault("resources", {})
        for key, value in resources.items():
            if isinstance(value, dict) and isinstance(current.get(key), dict):
                current[key].update(value)
            else:
                current[key] = value
        self.store.save(st)

    def stats(self, id: str) -> dict[str, Any]:
        """cgroup counters of the container (cpu, memory, pids, blkio), as runc's events."""
        st = self.store.load(id)
        return CgroupSet.from_dict(st.cgroups).stats()

    # ---------------------------------------------------------------- kill
    def kill(self, id: str, sig: int = signal.SIGTERM, all: bool = False) -> None:
        st = self.store.load(id)
        if self.store.status(st) == "stopped" and not all:
            raise Conflict("container not running")
        if all:
            CgroupSet.from_dict(st.cgroups).signal_all(sig)
            return
        try:
            os.kill(st.pid, sig)
        except ProcessLookupError:
            raise Conflict("container not running") from None

    # ---------------------------------------------------------------- delete
    def delete(self, id: str, force: bool = False) -> None:
        """Remove the container: processes (created containers and, with force, running ones
        are killed), cgroups, state; then run the poststop hooks. Forcing the delete of a
        container that does not exist succeeds, as with runc, and removes the directory an
        interrupted create may have left."""
        self._forget_setup_pipe(id)
        try:
            st = self.store.load(id)
        except NotFound:
            if not force:
                raise
            cfg.validate_id(id)
            _remove_state_dir(self.store.dir(id))
            return
        status = self.store.status(st)
        if status in ("running", "paused") and not force:
            raise Conflict(f"cannot delete container {id} that is not stopped: {status}")
        cgroups = CgroupSet.from_dict(st.cgroups)
        if status != "stopped":
            try:
                os.kill(st.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        cgroups.signal_all(signal.SIGKILL)
        _wait_gone(st.pid, st.start_time)
        cgroups.destroy()
        try:
            hooks.run_hooks(st.config.get("hooks"), "poststop", self.store.oci_state(st, "stopped"))
        except hooks.HookError as e:
            # the OCI spec: a failing poststop hook is a warning, deletion goes on
            import logging

            logging.getLogger("dockyard.runtime").warning("container %s: %s", id, e)
        _remove_state_dir(self.store.dir(id))

    # ---------------------------------------------------------------- exec
    def exec(
        self,
        id: str,
        process_spec: dict[str, Any],
        *,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
        console_socket: str | None = None,
        pid_file: str | None = None,
        extra_fds: list[int] | tuple[int, ...] = (),
    ) -> int:
        """Start `process_spec` (an OCI process object) inside running container `id`.

        Returns its pid, a child of the caller, once it executed the program."""
        st = self.store.load(id)
        status = self.store.status(st)
        if status != "running":
            raise Conflict(f"cannot exec in a {status} container")
        proc = json.loads(json.dumps(process_spec))
        cfg.validate_process(proc, st.config.get("root", {}).get("path"))
        if proc.get("terminal") and not console_socket:
            raise InvalidParameter("cannot allocate tty without a console socket")
        caps = process.CapabilityPlan.from_spec(proc.get("capabilities"))
        conf = st.config
        seccomp_filter = _compile_seccomp(conf)
        cgroups = CgroupSet.from_dict(st.cgroups)
        enter: list[tuple[str, int]] = []
        pid_ns = None
        for ns in cfg.namespace_list(conf):
            path = f"/proc/{st.pid}/ns/{cfg.NAMESPACE_FILES[ns['type']]}"
            if ns["type"] == "pid":
                pid_ns = {"type": "pid", "path": path}
            elif ns["type"] != "mount":
                enter.append((path, cfg.NAMESPACE_FLAGS[ns["type"]]))
        if any(ns["type"] == "mount" for ns in cfg.namespace_list(conf)):
            enter.append((f"/proc/{st.pid}/ns/mnt", sc.CLONE_NEWNS))
        opened: list[int] = []
        pid = 0
        try:
            console_fd = _connect_console(console_socket) if console_socket else None
            if console_fd is not None:
                opened.append(console_fd)
            msg_r, msg_w = os.pipe()
            go_r, go_w = os.pipe()
            opened += [msg_r, msg_w, go_r, go_w]
            plan = child.Plan(
                config=conf,
                bundle=st.bundle,
                cgroups=cgroups,
                state=self.store.oci_state(st),
                process=proc,
                caps=caps,
                seccomp=seccomp_filter,
                msg_w=msg_w,
                go_r=go_r,
                stdio=(stdin, stdout, stderr),
                extra_fds=list(extra_fds),
                console_fd=console_fd,
                enter=enter,
            )
            pid = _fork_in_pid_namespace(pid_ns, lambda: child.run_exec(plan))
            for fd in (msg_w, go_r) + ((console_fd,) if console_fd is not None else ()):
                os.close(fd)
                opened.remove(fd)
            msg = _Messages(msg_r).next()
            if msg is not None and msg["t"] == "error":
                raise SystemError_(f"exec in container {id}: {msg['message']}")
            if pid_file:
                fsutil.atomic_write(os.path.abspath(pid_file), str(pid).encode())
        except BaseException:
            if pid:
                _kill_and_reap(pid)
            raise
        finally:
            for fd in opened:
                os.close(fd)
        return pid

    # ---------------------------------------------------------------- run
    def run(
        self,
        id: str,
        bundle: str,
        *,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
        console_socket: str | None = None,
        pid_file: str | None = None,
        extra_fds: list[int] | tuple[int, ...] = (),
        forward_signals: bool = False,
    ) -> int:
        """create + start + wait + delete; returns the exit status (128+N when killed by N)."""
        pid = self.create(
            id,
            bundle,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            console_socket=console_socket,
            pid_file=pid_file,
            extra_fds=extra_fds,
        )
        previous: dict[int, Any] = {}
        try:
            if forward_signals:
                previous = forward_signals_to(pid)
            self.start(id)
            status = wait_status(pid)
        except BaseException:
            try:
                self.delete(id, force=True)
            except DockyardError:
                pass
            raise
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        self.delete(id, force=True)
        return status


# The signals `run` passes on to the container's init, as runc's signal handler does.
FORWARDED_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
)


def forward_signals_to(pid: int) -> dict[int, Any]:
    """Pass FORWARDED_SIGNALS that reach the caller on to `pid`; returns the handlers they
    replaced (for signal.signal to put back)."""

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    return {s: signal.signal(s, forward) for s in FORWARDED_SIGNALS}


def wait_status(pid: int) -> int:
    """waitpid() for a child; the exit status, or 128+signal."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status)
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)


def _await_ready(
    reader: _Messages, go_w: int, conf_hooks: dict[str, Any] | None, hook_state: dict[str, Any]
) -> None:
    """Follow the init's set-up: run prestart and createRuntime hooks when it asks, return
    when it is ready, raise its error (or its death) otherwise."""
    while True:
        msg = reader.next()
        if msg is None:
            raise SystemError_("container init exited during set-up")
        if msg["t"] == "error":
            if msg.get("refused"):
                raise InvalidParameter(f"container init: {msg['message']}")
            raise SystemError_(f"container init: {msg['message']}")
        if msg["t"] == "hooks":
            hooks.run_hooks(conf_hooks, "prestart", hook_state)
            hooks.run_hooks(conf_hooks, "createRuntime", hook_state)
            os.write(go_w, b"g")
        elif msg["t"] == "ready":
            return


class _Messages:
    """Newline-delimited JSON messages from the child; None at end of file."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def next(self) -> dict[str, Any] | None:
        while b"\n" not in self.buf:
            try:
                data = os.read(self.fd, 65536)
            except InterruptedError:
                continue
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)


def _compile_seccomp(conf: dict[str, Any]) -> Any:
    spec = (conf.get("linux") or {}).get("seccomp")
    if not spec:
        return None
    from dockyard.runtime import seccomp

    return seccomp.compile_filter(spec)


def _remove_state_dir(path: str) -> None:
    """A container's state directory is flat: its files, then itself."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(path, name))
        except FileNotFoundError:
            pass
    os.rmdir(path)


def _utc_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


def _connect_console(path: str) -> int:
    import socket  # only for a terminal

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise InvalidParameter(f"console socket {path}: {e.strerror}") from None
    return sock.detach()


def _fork_in_pid_namespace(pid_ns: dict[str, Any] | None, body: Any) -> int:
    """Fork so that the child is in a new pid namespace (its pid 1) or in the one at
    pid_ns["path"], while the caller's later children stay in the caller's namespace."""
    me = os.getpid()
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            if pid_ns is not None and pid_ns.get("path"):
                fd = os.open(pid_ns["path"], os.O_RDONLY | os.O_CLOEXEC)
                try:
                    sc.setns(fd, sc.CLONE_NEWPID)
                finally:
                    os.close(fd)
            elif pid_ns is not None:
                sc.unshare(sc.CLONE_NEWPID)
        except OSError as e:
            raise SystemError_(f"entering the pid namespace: {e}") from None
        try:
            pid = os.fork()
        except OSError as e:
            raise SystemError_(f"starting the container process: {e}") from None
        finally:
            if pid_ns is not None and os.getpid() == me:
                sc.setns(own, sc.CLONE_NEWPID)
        if pid == 0:
            body()
            os._exit(1)
        return pid
    finally:
        if os.getpid() == me:
            os.close(own)


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _wait_gone(pid: int, start_time: int, timeout: float = 10.0) -> None:
    """Wait until the init is dead or a zombie (its parent reaps it, not us)."""
    deadline = time.monotonic() + timeout
    while process_start_time(pid) == start_time:
        if time.monotonic() > deadline:
            raise SystemError_(f"process {pid} did not exit after SIGKILL")
        time.sleep(0.005)
