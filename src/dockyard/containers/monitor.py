"""The per-container monitor: one small process that owns a running container.

Forked from the zygote (never the daemon's child), it becomes a child subreaper, creates and
starts the container through the runtime, pumps the container's stdout/stderr (pipes, or the
pty master for a Tty) into the json-file log and to attached clients, serves attach, exec,
kill, stop and resize requests on its UNIX socket (see protocol.py), reaps the init and the
exec'd processes, applies the restart policy itself (so restarts happen while the daemon is
down), writes the exit status to state.json atomically, deletes the runtime container,
unmounts the root filesystem and exits.

Its launch configuration is `monitor.json` in the container's directory, written by the
service; `state.json` there is written by the monitor for as long as it lives.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import errno
import fcntl
import gc
import json
import os
import selectors
import signal
import socket
import struct
import termios
import time
from typing import Any

from dockyard.containers import files, protocol
from dockyard.containers.jsonlog import LogWriter, format_time
from dockyard.errors import InvalidParameter
from dockyard.fsutil import read_json, write_json
from dockyard.runtime.state import process_start_time

PR_SET_CHILD_SUBREAPER = 36
MAX_WAIT = 3600.0  # the longest single wait of the monitor's loop, in seconds
MNT_DETACH = 2
READ_SIZE = 32 * 1024
MAX_CLIENT_BACKLOG = 4 * 1024 * 1024
DRAIN_TIMEOUT = 2.0
MAX_ORPHANS = 64
BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
BACKOFF_RESET_AFTER = 10.0
CLOSE_FLUSH_TIMEOUT = 30.0  # a finished exec's client gets this long to read the rest
ACK = b"k"  # the service's acknowledgement of a start report (see launcher.py)
ACK_TIMEOUT = 120.0  # longer than the service waits for a report: it gives up first
RESERVE_FILE = "monitor.reserve"
RESERVE_SIZE = 64 * 1024  # freed for the state's writes when the disk is full
STATE_RETRY = 1.0  # how often an unsaved state is written again
DROP_REPORT_INTERVAL = 5.0  # how often dropped log lines are reported while they go on
ABANDONED = "the daemon gave up waiting for the container to start"

_libc = ctypes.CDLL(None, use_errno=True)


def now() -> str:
    return format_time(time.time_ns(), fixed=True)


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def start_failure_code(message: str) -> int:
    """Docker's exit code for a container whose process could not be started."""
    lowered = message.lower()
    if "permission denied" in lowered:
        return 126
    if "not found" in lowered or "no such file" in lowered:
        return 127
    return 128


def recv_master(console: socket.socket, timeout: float = 10) -> int:
    """Accept the runtime's connection on the console socket and receive the pty master."""
    console.settimeout(timeout)
    conn, _ = console.accept()
    with conn:
        conn.settimeout(timeout)
        fds = array.array("i")
        _, ancdata, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not fds:
        raise OSError("no terminal received on the console socket")
    return fds[0]


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Helper:
    """Runs `fn` (then, on go(), `then`) in a forked child and reports the results."""

    def __init__(self, fn: Any, then: Any = None) -> None:
        self._r, w = os.pipe2(os.O_CLOEXEC)
        go_r, self._go_w = os.pipe2(os.O_CLOEXEC) if then else (-1, -1)
        self.pid = os.fork()
        if self.pid == 0:  # the helper
            code = 0
            try:
                os.close(self._r)
                _report(w, fn)
                if then is not None:
                    os.close(self._go_w)
                    if os.read(go_r, 1):
                        _report(w, then)
            except BaseException:  # noqa: BLE001
                code = 1
            finally:
                os._exit(code)
        os.close(w)
        if go_r >= 0:
            os.close(go_r)
        self._buf = b""
        self._done = False

    def result(self) -> Any:
        """The next result of the helper; raises HelperError with its message on failure."""
        while b"\n" not in self._buf:
            chunk = os.read(self._r, 65536)
            if not chunk:
                self.finish()
                raise HelperError("the runtime helper died")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        answer = json.loads(line)
        if self._go_w < 0 or "error" in answer:
            self.finish()
        if "error" in answer:
            raise HelperError(answer["error"], bool(answer.get("invalid")))
        return answer["ok"]

    def go(self) -> None:
        if self._go_w >= 0:
            os.write(self._go_w, b"g")
            os.close(self._go_w)
            self._go_w = -1

    def finish(self) -> None:
        if self._done:
            return
        self._done = True
        if self._go_w >= 0:
            os.close(self._go_w)
            self._go_w = -1
        os.close(self._r)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


class HelperError(Exception):
    """The runtime failed in the helper; the message is the runtime's. `invalid`: it refused
    what the container asked for (an InvalidParameter in the helper)."""

    def __init__(self, message: str, invalid: bool = False) -> None:
        super().__init__(message)
        self.invalid = invalid


def _report(fd: int, fn: Any) -> None:
    try:
        answer = {"ok": fn()}
    except BaseException as e:  # noqa: BLE001 (reported to the monitor)
        answer = {"error": str(e) or type(e).__name__, "invalid": isinstance(e, InvalidParameter)}
    os.write(fd, json.dumps(answer).encode() + b"\n")


class Client:
    """One connection to the monitor."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.request: dict[str, Any] | None = None
        self.inbuf = b""
        self.outbuf = bytearray()
        self.reader = protocol.FrameReader()
        self.session: Session | None = None
        self.close_at = 0.0  # when set: close once the output is sent, or at this time
        self.eof = False  # the other side closed its write side

    @property
    def op(self) -> str | None:
        return self.request.get("op") if self.request else None


class Session:
    """A process with its stdio: the container's init, or one exec'd process."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.pid = 0
        self.outputs: dict[int, str] = {}  # fd -> "stdout" | "stderr"
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.stdin_close_pending = False
        self.status: int | None = None
        self.exited_at = 0.0
        self.client: Client | None = None  # exec: the connection that started it

    @property
    def done(self) -> bool:
        return self.status is not None and (
            not self.outputs or time.monotonic() - self.exited_at > DRAIN_TIMEOUT
        )


class Monitor:
    def __init__(self, container_dir: str, runtime: Any) -> None:
        self.dir = container_dir
        self.cfg = read_json(os.path.join(container_dir, "monitor.json"))
        self.id = self.cfg["id"]
        self.runtime = runtime
        self.state_path = os.path.join(container_dir, "state.json")
        self.state = read_json(self.state_path)
        self.sel = selectors.DefaultSelector()
        self.clients: dict[int, Client] = {}
        self.sessions: dict[int, Session] = {}  # pid -> session
        self.orphans: dict[int, int] = {}  # reaped before we knew the pid: pid -> status
        self.init: Session | None = None
        self.log: LogWriter | None = None
        self.kill_deadline = 0.0
        self.restart_at = 0.0
        self.backoff = 0.0
        self.started_mono = 0.0
        self.stop_waiters: list[Client] = []
        self.finished = False
        self.unsaved = False  # the state in memory is newer than state.json (disk full)
        self.unsaved_durable = False
        self.state_retry_at = 0.0
        self.reserve_path = os.path.join(container_dir, RESERVE_FILE)
        self.reserved = False
        self.drops_reported = 0
        self.drop_report_at = 0.0

    # -- bookkeeping -----------------------------------------------------------------------
    def save_state(self, durable: bool = False, **changes: Any) -> None:
        """Update state.json atomically; fsynced when `durable` (an exit status).

        Never raises: when the disk is full, the reserve is given up for a durable write (an
        exit, a stop: what must survive); when even that fails, or the write is not durable,
        the state stays in memory, goes to the watchers (the service keeps it until it can be
        written) and is written again every STATE_RETRY seconds."""
        self.state.update(changes)
        self.unsaved_durable = self.unsaved_durable or durable
        self._persist()

    def _persist(self) -> None:
        durable = self.unsaved_durable
        for attempt in range(2):
            try:
                if durable:
                    write_json(self.state_path, self.state)
                else:
                    files.write_json(self.state_path, self.state)
            except OSError as e:
                if attempt == 0 and durable and self.release_reserve():
                    continue
                self.state_retry_at = time.monotonic() + STATE_RETRY
                if not self.unsaved:
                    _note(f"cannot write the container's state: {e}")
                self.unsaved = True
                self.broadcast({"event": "state", "unsaved": True, "state": self.state})
                return
            break
        self.unsaved_durable = False
        if self.unsaved:
            self.unsaved = False
            self.broadcast({"event": "state", "saved": True})
        if not self.reserved:
            self.make_reserve()

    def make_reserve(self) -> None:
        """Set aside RESERVE_SIZE bytes of the container's file system (see save_state)."""
        if self.reserved:
            return
        try:
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        try:
            os.posix_fallocate(fd, 0, RESERVE_SIZE)
            self.reserved = True
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(self.reserve_path)
        finally:
            os.close(fd)

    def release_reserve(self) -> bool:
        if not self.reserved:
            return False
        self.reserved = False
        try:
            os.unlink(self.reserve_path)
        except OSError:
            return False
        return True

    def log_output(self, stream: str, data: bytes) -> None:
        """Log the container's output; report dropped lines (never raises)."""
        assert self.log is not None
        self.log.write(stream, data)
        self.check_drops()

    def check_drops(self, force: bool = False) -> None:
        """Report dropped log lines as Docker reports failed log writes: in the daemon's log
        (through an event to the watchers, at most every DROP_REPORT_INTERVAL seconds) and in
        the state (LogDropped, shown by inspect)."""
        log = self.log
        if log is None or log.dropped == self.drops_reported:
            return
        now = time.monotonic()
        if not force and now < self.drop_report_at:
            return
        self.drop_report_at = now + DROP_REPORT_INTERVAL
        self.drops_reported = log.dropped
        self.broadcast(
            {"event": "log-dropped", "dropped": log.dropped, "error": log.error or "resumed"}
        )
        self.save_state(LogDropped=log.dropped)

    def broadcast(self, obj: dict[str, Any]) -> None:
        data = protocol.event(obj)
        for c in list(self.clients.values()):
            if c.op in ("watch", "attach"):
                self.send(c, data)

    def send(self, c: Client, data: bytes) -> None:
        if c.sock.fileno() < 0:
            return
        c.outbuf += data
        if len(c.outbuf) > MAX_CLIENT_BACKLOG:
            self.drop(c)  # a client that does not read loses its connection, not our memory
            return
        self._flush(c)

    def _flush(self, c: Client) -> None:
        try:
            while c.outbuf:
                n = c.sock.send(c.outbuf)
                del c.outbuf[:n]
        except BlockingIOError:
            pass
        except OSError:
            self.drop(c)
            return
        if c.close_at and not c.outbuf:
            self.drop(c)
            return
        self._update_events(c)

    def _update_events(self, c: Client) -> None:
        fd = c.sock.fileno()
        if fd < 0 or fd not in self.clients:
            return
        events = (0 if c.eof else selectors.EVENT_READ) | (selectors.EVENT_WRITE if c.outbuf else 0)
        if not events:
            self.drop(c)
            return
        self.sel.modify(fd, events, ("client", c))

    def close_when_sent(self, c: Client) -> None:
        """Close the connection once what is queued for it was sent (without blocking the
        loop: a busy client still gets all of an exec's output), or after
        CLOSE_FLUSH_TIMEOUT seconds."""
        if not c.outbuf or c.sock.fileno() < 0:
            self.drop(c)
            return
        c.close_at = time.monotonic() + CLOSE_FLUSH_TIMEOUT
        self._update_events(c)

    def drop(self, c: Client) -> None:
        fd = c.sock.fileno()
        if fd >= 0 and fd in self.clients:
            self.sel.unregister(fd)
            del self.clients[fd]
        c.sock.close()
        if c.session is not None:
            c.session.client = None
        if c in self.stop_waiters:
            self.stop_waiters.remove(c)

    def close_after_flush(self, c: Client) -> None:
        """Send what is queued (blocking briefly) and close."""
        try:
            c.sock.setblocking(True)
            c.sock.settimeout(1)
            if c.outbuf:
                c.sock.sendall(c.outbuf)
        except OSError:
            pass
        self.drop(c)

    # -- processes -------------------------------------------------------------------------
    def open_stdio(
        self, s: Session, open_stdin: bool
    ) -> tuple[int, int, int, socket.socket | None, list[int]]:
        """Make the stdio for a new process: (stdin, stdout, stderr, console, fds to close)."""
        if s.tty:
            path = os.path.join(
                self.cfg["run_dir"], f"{self.id[:12]}-{os.getpid()}-{len(self.sessions)}.console"
            )
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            console.bind(path)
            console.listen(1)
            null = os.open(os.devnull, os.O_RDWR)
            return null, null, null, console, [null]
        null = os.open(os.devnull, os.O_RDWR)
        close = [null]
        if open_stdin:
            r, w = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(w, False)
            s.stdin_fd = w
            stdin = r
            close.append(r)
        else:
            stdin = null
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        close += [out_w, err_w]
        s.outputs = {out_r: "stdout", err_r: "stderr"}
        return stdin, out_w, err_w, None, close

    def attach_outputs(self, s: Session, console: socket.socket | None) -> None:
        if console is not None:
            path = console.getsockname()
            try:
                master = recv_master(console)
            finally:
                console.close()
                os.unlink(path)
            os.set_blocking(master, False)
            s.outputs = {master: "stdout"}
            s.stdin_fd = master
        for fd in s.outputs:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, ("output", s))

    def accept_attachers(self, count: int, timeout: float = 5.0) -> None:
        """Before the first start: tell the service the container exists, then take the
        `count` attach connections made before start (so they miss no output)."""
        _write_line(self.ready_fd, {"created": True})
        deadline = time.monotonic() + timeout
        pending: dict[socket.socket, Client] = {}
        attached = 0
        with selectors.DefaultSelector() as sel:  # poll/epoll: no limit on descriptor numbers
            sel.register(self.listener, selectors.EVENT_READ)
            while attached < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                for key, _ in sel.select(left):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self.listener:
                        try:
                            conn, _ = self.listener.accept()
                        except OSError:
                            continue
                        conn.setblocking(False)
                        pending[conn] = Client(conn)
                        sel.register(conn, selectors.EVENT_READ)
                        continue
                    c = pending[sock]
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        sel.unregister(sock)
                        del pending[sock]
                        sock.close()
                        continue
                    if b"\n" not in c.inbuf + data:
                        c.inbuf += data
                        continue
                    sel.unregister(sock)
                    del pending[sock]
                    self.clients[sock.fileno()] = c
                    self.sel.register(sock, selectors.EVENT_READ, ("client", c))
                    self.on_client(c, 0, data)
                    if c.op == "attach":
                        attached += 1
        for c in pending.values():  # half-sent requests: served by the loop later
            self.clients[c.sock.fileno()] = c
            self.sel.register(c.sock, selectors.EVENT_READ, ("client", c))

    def start_container(self, attach_wait: int = 0) -> int:
        """Create and start the container; its init ends up as our child.

        The runtime runs in a short-lived helper child (see Helper): what it allocates (the
        parsed spec, the seccomp filter) dies with the helper instead of staying in the
        monitor for the container's whole life. The init the helper creates is reparented
        to us, the subreaper, when the helper exits."""
        s = Session(self.cfg["tty"])
        stdin, stdout, stderr, console, close = self.open_stdio(s, self.cfg["open_stdin"])
        runtime, cid, bundle = self.runtime, self.id, self.cfg["bundle"]
        console_path = console.getsockname() if console else None

        def create() -> int:
            return runtime.create(
                cid,
                bundle,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                console_socket=console_path,
            )  # no pid file: create returns the pid (a durable write less per start)

        helper = Helper(create, then=lambda: runtime.start(cid))
        try:
            pid = helper.result()
        except BaseException:
            helper.finish()
            for fd in list(s.outputs) + ([s.stdin_fd] if s.stdin_fd >= 0 else []):
                os.close(fd)
            if console is not None:
                os.unlink(console_path)
                console.close()
            raise
        finally:
            for fd in close:
                os.close(fd)
        s.pid = pid
        self.init = s
        self.sessions[pid] = s
        try:
            self.attach_outputs(s, console)
            if s.tty and self.cfg.get("console_size"):
                h, w = self.cfg["console_size"]
                set_winsize(s.stdin_fd, h, w)
            if attach_wait:
                self.accept_attachers(attach_wait)
        finally:
            helper.go()
        try:
            helper.result()
        except BaseException:
            self.finish_session(s)
            self.init = None
            try:
                self.runtime.delete(self.id, force=True)
            except Exception:  # noqa: BLE001
                pass
            raise
        self.adopt(s)
        self.started_mono = time.monotonic()
        self.save_state(
            Status="running",
            Pid=pid,
            PidStartTime=process_start_time(pid) or 0,
            ExitCode=0,
            Error="",
            OOMKilled=False,
            StartedAt=now(),
            MonitorPid=os.getpid(),
            MonitorStartTime=process_start_time(os.getpid()) or 0,
        )
        self.broadcast({"event": "start", "pid": pid})
        return pid

    def adopt(self, s: Session) -> None:
        """If the process was reaped before we knew its pid, record its exit now."""
        if s.pid in self.orphans:
            s.status = self.orphans.pop(s.pid)
            s.exited_at = time.monotonic()

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            s = self.sessions.get(pid)
            if s is None:
                # a process whose pid we do not know yet (an exec that ended at once), or one
                # the runtime left to us: keep the latest few for adopt()
                self.orphans[pid] = status
                if len(self.orphans) > MAX_ORPHANS:
                    del self.orphans[next(iter(self.orphans))]
                continue
            s.status = status
            s.exited_at = time.monotonic()

    def oom_killed(self) -> bool:
        cg = self.cfg.get("memory_cgroup")
        if not cg:
            return False
        for name in ("memory.oom_control", "memory.events"):  # cgroup v1, v2
            try:
                with open(os.path.join(cg, name)) as f:
                    for line in f:
                        k, _, v = line.partition(" ")
                        if k == "oom_kill" and int(v) > 0:
                            return True
            except OSError:
                pass
        return False

    def should_restart(self, code: int) -> bool:
        if self.state.get("ManuallyStopped"):
            return False
        try:  # `docker update --restart` rewrites it while we run
            policy = read_json(os.path.join(self.dir, "monitor.json")).get("restart_policy")
        except (OSError, ValueError):
            policy = self.cfg.get("restart_policy")
        policy = policy or {}
        name = policy.get("Name") or "no"
        if name in ("always", "unless-stopped"):
            return True
        if name == "on-failure" and code != 0:
            limit = int(policy.get("MaximumRetryCount") or 0)
            return limit <= 0 or self.state.get("RestartCount", 0) < limit
        return False

    def drain(self, s: Session, limit: int = 4 * 1024 * 1024) -> None:
        """Read what the session's outputs hold now. The loop may have been busy (a start, an
        exec) past the drain timeout while output waited in a pipe: it is not lost."""
        for fd in list(s.outputs):
            read = 0
            while fd in s.outputs and read < limit:
                n = self.on_output(s, fd)
                if not n:
                    break
                read += n

    def finish_session(self, s: Session) -> None:
        self.drain(s)
        for fd in list(s.outputs):
            self.close_output(s, fd)
        if s.stdin_fd >= 0 and s.stdin_fd not in s.outputs:
            os.close(s.stdin_fd)
        s.stdin_fd = -1
        del self.sessions[s.pid]

    def container_exited(self) -> None:
        s = self.init
        assert s is not None and s.status is not None
        code = exit_code(s.status)
        self.finish_session(s)
        self.init = None
        if self.log:
            self.log.flush()
            if self.log.dropped != self.drops_reported:
                self.drops_reported = self.log.dropped
                self.broadcast(
                    {"event": "log-dropped", "dropped": self.log.dropped, "error": self.log.error}
                )
                self.state["LogDropped"] = self.log.dropped
        oom = self.oom_killed()
        self.kill_deadline = 0.0
        try:
            self.runtime.delete(self.id, force=True)
        except Exception:  # noqa: BLE001 (the container is gone already; nothing to keep)
            pass
        ran = time.monotonic() - self.started_mono
        restart = self.should_restart(code)
        if restart:
            self.backoff = (
                BACKOFF_START
                if (ran >= BACKOFF_RESET_AFTER or not self.backoff)
                else min(self.backoff * 2, BACKOFF_MAX)
            )
            self.restart_at = time.monotonic() + self.backoff
            self.save_state(
                durable=True,
                Status="restarting",
                Pid=0,
                ExitCode=code,
                OOMKilled=oom,
                FinishedAt=now(),
            )
        else:
            self.release_rootfs()
            self.save_state(
                durable=True,
                Status="exited",
                Pid=0,
                ExitCode=code,
                OOMKilled=oom,
                FinishedAt=now(),
                MonitorPid=0,
            )
        self.broadcast({"event": "exit", "code": code, "oom": oom, "restarting": restart})
        for c in list(self.clients.values()):
            if c.op == "attach":
                self.close_when_sent(c)
        for c in list(self.stop_waiters):
            self.stop_waiters.remove(c)
            self.send(c, protocol.event({"event": "reply", "ok": True, "code": code}))
            self.close_when_sent(c)
        if not restart:
            self.finished = True

    def restart(self) -> None:
        self.restart_at = 0.0
        self.save_state(RestartCount=self.state.get("RestartCount", 0) + 1)
        try:
            self.start_container()
            release_memory()
        except Exception as e:  # noqa: BLE001
            self.release_rootfs()
            self.save_state(
                durable=True, Status="exited", Pid=0, ExitCode=128, Error=str(e), MonitorPid=0
            )
            self.broadcast(
                {"event": "exit", "code": 128, "oom": False, "restarting": False, "error": str(e)}
            )
            self.finished = True

    def release_rootfs(self) -> None:
        rootfs = self.cfg.get("unmount")
        for path in rootfs or []:
            if _libc.umount2(path.encode(), MNT_DETACH) != 0:
                err = ctypes.get_errno()
                if err not in (errno.EINVAL, errno.ENOENT):
                    pass

    # -- requests --------------------------------------------------------------------------
    def handle_request(self, c: Client) -> None:
        req = c.request or {}
        op = req.get("op")
        try:
            if op == "attach":
                if req.get("stdin") and self.init is not None and self.init.stdin_fd >= 0:
                    c.session = self.init
            elif op == "watch":
                self.send(c, protocol.event({"event": "state", **self.state}))
                if self.unsaved:  # a service that (re)connects learns what disk lacks
                    self.send(
                        c, protocol.event({"event": "state", "unsaved": True, "state": self.state})
                    )
            elif op == "kill":
                self.kill(
                    int(req["signal"]), manual=bool(req.get("manual")), all_=bool(req.get("all"))
                )
                self.send(c, protocol.event({"event": "reply", "ok": True}))
            elif op == "stop":
                self.stop(int(req["signal"]), float(req.get("timeout", 10)))
                if self.init is None:
                    self.send(c, protocol.event({"event": "reply", "ok": True}))
                else:
                    self.stop_waiters.append(c)
            elif op == "resize":
                if self.init is not None and self.init.tty:
                    set_winsize(self.init.stdin_fd, int(req["h"]), int(req["w"]))
                self.send(c, protocol.event({"event": "reply", "ok": True}))
            elif op == "exec":
                self.start_exec(c, req)
            elif op == "ping":
                self.send(c, protocol.event({"event": "reply", "ok": True, **self.state}))
            else:
                self.send(c, protocol.event({"event": "error", "message": f"unknown op {op}"}))
        except Exception as e:  # noqa: BLE001 (reported to the client)
            self.send(c, protocol.event({"event": "error", "message": str(e)}))

    def kill(self, sig: int, manual: bool, all_: bool = False) -> None:
        if manual and not self.state.get("ManuallyStopped"):
            self.save_state(durable=True, ManuallyStopped=True)
        if self.init is None:
            if self.restart_at:  # stopped while waiting to restart: it stays stopped
                self.restart_at = 0.0
                self.release_rootfs()
                self.save_state(durable=True, Status="exited", MonitorPid=0)
                self.broadcast(
                    {
                        "event": "exit",
                        "code": self.state["ExitCode"],
                        "oom": False,
                        "restarting": False,
                    }
                )
                self.finished = True
                return
            raise ProcessLookupError(f"container {self.id} is not running")
        runtime, cid = self.runtime, self.id
        Helper(lambda: runtime.kill(cid, sig, all=all_)).result()

    def stop(self, sig: int, timeout: float) -> None:
        if self.init is None:
            self.kill(sig, manual=True)
            return
        try:
            self.kill(sig, manual=True)
        except Exception:  # noqa: BLE001 (the SIGKILL below follows anyway)
            timeout = 0
        if timeout >= 0:
            self.kill_deadline = time.monotonic() + timeout

    def start_exec(self, c: Client, req: dict[str, Any]) -> None:
        if self.init is None:
            raise ProcessLookupError(f"container {self.id} is not running")
        s = Session(bool(req.get("tty")))
        stdin, stdout, stderr, console, close = self.open_stdio(s, bool(req.get("stdin")))
        runtime, cid, process = self.runtime, self.id, req["process"]
        console_path = console.getsockname() if console else None
        try:
            pid = Helper(
                lambda: runtime.exec(
                    cid,
                    process,
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    console_socket=console_path,
                )
            ).result()
        except BaseException:
            for fd in list(s.outputs) + ([s.stdin_fd] if s.stdin_fd >= 0 else []):
                os.close(fd)
            if console is not None:
                os.unlink(console.getsockname())
                console.close()
            raise
        finally:
            for fd in close:
                os.close(fd)
        s.pid = pid
        s.client = c
        c.session = s
        self.sessions[pid] = s
        self.adopt(s)
        self.attach_outputs(s, console)
        if s.tty and req.get("console_size"):
            h, w = req["console_size"]
            set_winsize(s.stdin_fd, h, w)
        self.send(c, protocol.event({"event": "started", "pid": pid}))

    def exec_done(self, s: Session) -> None:
        assert s.status is not None
        code = exit_code(s.status)
        self.finish_session(s)
        if s.client is not None:
            self.send(s.client, protocol.event({"event": "exit", "code": code}))
            self.close_when_sent(s.client)

    # -- i/o -------------------------------------------------------------------------------
    def close_output(self, s: Session, fd: int) -> None:
        if fd in s.outputs:
            del s.outputs[fd]
            self.sel.unregister(fd)
            os.close(fd)
            if fd == s.stdin_fd:
                s.stdin_fd = -1

    def on_output(self, s: Session, fd: int) -> int:
        """Read once from an output of `s` and pass it on; the number of bytes read."""
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return 0
        except OSError:  # EIO: the pty's other side closed
            data = b""
        if not data:
            self.close_output(s, fd)
            return 0
        stream = s.outputs[fd]
        kind = protocol.STDOUT if stream == "stdout" else protocol.STDERR
        if s is self.init:
            if self.log:
                self.log_output(stream, data)
            payload = protocol.frame(kind, data)
            for c in list(self.clients.values()):
                if c.op == "attach" and (c.request or {}).get(stream):
                    self.send(c, payload)
        elif s.client is not None:
            self.send(s.client, protocol.frame(kind, data))
        return len(data)

    def write_stdin(self, s: Session) -> None:
        if s.stdin_fd < 0:
            s.stdin_buf.clear()
            return
        try:
            while s.stdin_buf:
                n = os.write(s.stdin_fd, s.stdin_buf)
                del s.stdin_buf[:n]
        except BlockingIOError:
            pass
        except OSError:
            s.stdin_buf.clear()
        if not s.stdin_buf and s.stdin_close_pending:
            self.close_stdin(s)
        self._update_stdin_events(s)

    def _update_stdin_events(self, s: Session) -> None:
        fd = s.stdin_fd
        if fd < 0 or fd in s.outputs:
            if fd >= 0 and s.stdin_buf:
                # the pty master: rarely full; write the rest blocking
                os.set_blocking(fd, True)
                try:
                    os.write(fd, bytes(s.stdin_buf))
                except OSError:
                    pass
                s.stdin_buf.clear()
                os.set_blocking(fd, False)
            return
        key = self.sel.get_map().get(fd)
        if s.stdin_buf and key is None:
            self.sel.register(fd, selectors.EVENT_WRITE, ("stdin", s))
        elif not s.stdin_buf and key is not None:
            self.sel.unregister(fd)

    def close_stdin(self, s: Session) -> None:
        s.stdin_close_pending = False
        if s.stdin_fd < 0:
            return
        if s.tty:
            s.stdin_buf += b"\x04"  # end of input on a terminal is ^D
            self._update_stdin_events(s)
            return
        if s.stdin_fd in self.sel.get_map():
            self.sel.unregister(s.stdin_fd)
        os.close(s.stdin_fd)
        s.stdin_fd = -1

    def on_client(self, c: Client, mask: int, data: bytes | None = None) -> None:
        """Serve a client's readiness (`mask`), or bytes already read from it (`data`)."""
        if mask & selectors.EVENT_WRITE:
            self._flush(c)
            if c.sock.fileno() < 0:
                return
        if data is None:
            if not mask & selectors.EVENT_READ:
                return
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
        if not data and c.close_at and c.outbuf:
            c.eof = True  # it closed its side only: it may still read the rest
            self._update_events(c)
            return
        if not data:
            s = c.session
            attached_stdin = c.op == "attach" and s is not None
            self.drop(c)
            if attached_stdin and self.cfg.get("stdin_once") and s is self.init:
                self.request_close_stdin(s)
            return
        if c.request is None:
            c.inbuf += data
            nl = c.inbuf.find(b"\n")
            if nl < 0:
                if len(c.inbuf) > 1 << 20:
                    self.drop(c)
                return
            try:
                c.request = json.loads(c.inbuf[:nl])
            except ValueError:
                self.drop(c)
                return
            data, c.inbuf = c.inbuf[nl + 1 :], b""
            self.handle_request(c)
            if not data or c.sock.fileno() < 0:
                return
        for kind, payload in c.reader.feed(data):
            s = c.session
            if kind == protocol.STDIN and s is not None:
                s.stdin_buf += payload
                self.write_stdin(s)
            elif kind == protocol.CLOSE_STDIN and s is not None:
                self.request_close_stdin(s)
            elif kind == protocol.RESIZE and s is not None and s.tty and s.stdin_fd >= 0:
                size = json.loads(payload)
                set_winsize(s.stdin_fd, int(size["h"]), int(size["w"]))

    def request_close_stdin(self, s: Session) -> None:
        if s.stdin_buf:
            s.stdin_close_pending = True
        else:
            self.close_stdin(s)

    # -- the loop --------------------------------------------------------------------------
    def timeout(self) -> float | None:
        deadlines = [d for d in (self.kill_deadline, self.restart_at) if d]
        deadlines += [
            s.exited_at + DRAIN_TIMEOUT for s in self.sessions.values() if s.status is not None
        ]
        deadlines += [c.close_at for c in self.clients.values() if c.close_at]
        if self.unsaved:
            deadlines.append(self.state_retry_at)
        if self.log is not None and self.log.dropped != self.drops_reported:
            deadlines.append(self.drop_report_at)
        if not deadlines:
            return None
        # epoll waits at most INT_MAX ms (24.8 days): a farther deadline (stop -t 2592000, a
        # huge StopTimeout) is waited for in steps; each wake-up recomputes it
        return min(max(0.0, min(deadlines) - time.monotonic()), MAX_WAIT)

    def run(self, ready_fd: int) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        self.sel.register(wake_r, selectors.EVENT_READ, ("wake", None))

        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(self.cfg["socket"])
        except FileNotFoundError:
            pass
        listener.bind(self.cfg["socket"])
        os.chmod(self.cfg["socket"], 0o600)
        listener.listen(socket.SOMAXCONN)  # many clients at once (execs under load)
        listener.setblocking(False)
        self.listener = listener
        self.ready_fd = ready_fd
        self.sel.register(listener, selectors.EVENT_READ, ("listen", None))

        if self.cfg.get("log_driver", "json-file") == "json-file":
            self.log = LogWriter(
                self.cfg["log_path"],
                self.cfg.get("log_max_size"),
                self.cfg.get("log_max_file", 1),
                before_resume=self.make_reserve,  # the reserve first, then the log again
            )
            self.state["LogDropped"] = 0
        self.make_reserve()
        self.state.update(ManuallyStopped=False, MonitorPid=os.getpid())
        started_before = self.state.get("StartedAt", "")
        never_ran = started_before.startswith("0001")
        try:
            pid = self.start_container(attach_wait=int(self.cfg.get("attach_wait") or 0))
        except Exception as e:  # noqa: BLE001 (reported to the service)
            self.release_rootfs()
            self.save_state(
                durable=True,
                Status="created" if never_ran else "exited",
                Pid=0,
                ExitCode=start_failure_code(str(e)),
                Error=str(e),
                MonitorPid=0,
            )
            # "invalid": the runtime refused what the container asked for (a 400, not a 500)
            invalid = isinstance(e, InvalidParameter) or getattr(e, "invalid", False)
            _write_ready(ready_fd, {"error": str(e), "invalid": invalid})
            self.cleanup(listener)
            return
        _write_line(ready_fd, {"pid": pid})
        if not _acknowledged(ready_fd):
            self.abandon_start(never_ran, started_before)
            self.cleanup(listener)
            return
        release_memory()
        try:
            self.loop()
        finally:
            self.cleanup(listener)

    def dispatch(self, key: selectors.SelectorKey, mask: int) -> None:
        kind, obj = key.data
        if kind == "wake":
            try:
                while os.read(key.fd, 4096):
                    pass
            except BlockingIOError:
                pass
            self.reap()
        elif kind == "listen":
            self.accept_all()
        elif kind == "output":
            if key.fd in obj.outputs:
                self.on_output(obj, key.fd)
        elif kind == "stdin":
            self.write_stdin(obj)
        elif kind == "client":
            self.on_client(obj, mask)

    def loop(self) -> None:
        while not self.finished:
            for key, mask in self.sel.select(self.timeout()):
                try:
                    self.dispatch(key, mask)
                except Exception as e:  # one client's or stream's trouble must not end us
                    kind, obj = key.data
                    _note(f"{kind}: {e!r}")
                    if kind == "client":
                        self.drop(obj)  # a bad request: that connection goes
                    elif not isinstance(e, OSError):
                        raise
            mono = time.monotonic()
            for c in [c for c in self.clients.values() if c.close_at and mono >= c.close_at]:
                self.drop(c)  # a finished exec's client that does not read
            if self.unsaved and mono >= self.state_retry_at:
                self._persist()
            self.check_drops()
            if self.kill_deadline and mono >= self.kill_deadline and self.init is not None:
                self.kill_deadline = 0.0
                try:
                    self.runtime.kill(self.id, signal.SIGKILL, all=True)
                except Exception:  # noqa: BLE001 (it may have exited meanwhile)
                    pass
            for s in list(self.sessions.values()):
                if s.done:
                    if s is self.init:
                        self.container_exited()
                    else:
                        self.exec_done(s)
            if self.restart_at and mono >= self.restart_at:
                self.restart()

    def abandon_start(self, never_ran: bool, started_before: str) -> None:
        """The service gave up on this start (or died) before it heard of it: undo it, so a
        start either is reported or leaves nothing running. The record says the start failed."""
        s = self.init
        assert s is not None
        runtime, cid = self.runtime, self.id
        try:
            Helper(lambda: runtime.kill(cid, signal.SIGKILL, all=True)).result()
        except Exception:  # noqa: BLE001 (it may have exited by itself)
            pass
        deadline = time.monotonic() + 10
        while s.status is None and time.monotonic() < deadline:
            self.reap()
            if s.status is None:
                time.sleep(0.01)
        self.finish_session(s)
        self.init = None
        if self.log:
            self.log.flush()
        with contextlib.suppress(Exception):
            runtime.delete(cid, force=True)
        self.release_rootfs()
        self.save_state(
            durable=True,
            Status="created" if never_ran else "exited",
            StartedAt=started_before if never_ran else self.state.get("StartedAt"),
            FinishedAt=self.state.get("FinishedAt") if never_ran else now(),
            Pid=0,
            ExitCode=start_failure_code(ABANDONED),
            Error=ABANDONED,
            MonitorPid=0,
        )

    def accept_all(self, limit: int = 256) -> None:
        """Take the connections waiting on the listener (all of them, up to `limit`: a busy
        monitor must not leave its backlog full, clients would be refused)."""
        for _ in range(limit):
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            sock.setblocking(False)
            c = Client(sock)
            self.clients[sock.fileno()] = c
            self.sel.register(sock, selectors.EVENT_READ, ("client", c))

    def cleanup(self, listener: socket.socket) -> None:
        for c in list(self.clients.values()):
            self.close_after_flush(c)
        try:
            os.unlink(self.cfg["socket"])
        except FileNotFoundError:
            pass
        listener.close()
        if self.log:
            self.log.close()
        self.release_reserve()  # a stopped container holds no space for it


def release_memory() -> None:
    """Give back what starting the container allocated (the spec, the seccomp filter, ...):
    the monitor lives as long as its container, so its private memory is what counts."""
    gc.collect()
    _libc.malloc_trim(0)


def _write_line(fd: int, obj: dict[str, Any]) -> None:
    if fd < 0:
        return
    try:
        os.write(fd, json.dumps(obj).encode() + b"\n")
    except OSError:
        pass


def _acknowledged(fd: int) -> bool:
    """Wait for the service's acknowledgement of our start report (False: it gave up, or
    died). The report descriptor is closed."""
    sock = socket.socket(fileno=fd)
    try:
        sock.settimeout(ACK_TIMEOUT)
        return sock.recv(1) == ACK
    except OSError:
        return False
    finally:
        sock.close()


def _note(message: str) -> None:
    """A line in monitor.err (which may be on the full disk itself: best effort)."""
    try:
        os.write(2, f"{now()} {message}\n".encode())
    except OSError:
        pass


def _write_ready(fd: int, obj: dict[str, Any]) -> None:
    if fd < 0:
        return
    _write_line(fd, obj)
    os.close(fd)


def main(container_dir: str, runtime: Any, ready_fd: int) -> None:
    """Run the monitor for the container in `container_dir` (in an already detached process)."""
    Monitor(container_dir, runtime).run(ready_fd)
