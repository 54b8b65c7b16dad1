"""The client side of attach and exec: raw terminal mode, resize, and stdio pumps over a
hijacked connection (multiplexed frames without a tty, raw bytes with one)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from dockyard.client.stdcopy import Demuxer
from dockyard.client.transport import HijackedSocket


@contextlib.contextmanager
def raw_terminal(enabled: bool) -> Iterator[None]:
    """Put stdin in raw mode while attached to a tty (restored afterwards)."""
    if not enabled or not os.isatty(sys.stdin.fileno()):
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)  # not TCSAFLUSH: keep what was typed ahead
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def terminal_size() -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
        return size.lines, size.columns
    except OSError:
        return None


@contextlib.contextmanager
def resize_on_winch(resize: Callable[[int, int], None], enabled: bool) -> Iterator[None]:
    """Send the terminal size now and on every SIGWINCH."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def send(*_: object) -> None:
        size = terminal_size()
        if size:
            try:
                resize(*size)
            except Exception:  # noqa: BLE001 - a resize is best effort, as in docker
                pass

    old = signal.signal(signal.SIGWINCH, send)
    send()
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, old)


# What `--sig-proxy` forwards: the signals a user or a supervisor sends to end or poke a
# foreground process (docker forwards every catchable one; SIGCHLD, SIGPIPE, SIGWINCH and the
# job-control stops stay with the client).
PROXIED_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
)


@contextlib.contextmanager
def forward_signals(kill: Callable[[str], None], enabled: bool) -> Iterator[None]:
    """While attached without a tty, send the signals this process receives to the container
    (`kill(name)` calls the kill API), as docker's --sig-proxy does."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name

        def send() -> None:
            try:
                kill(name)
            except Exception:  # noqa: BLE001 - the container may have exited meanwhile
                pass

        # Not from the handler itself: the main thread may be inside a client call.
        threading.Thread(target=send, daemon=True).start()

    saved = {sig: signal.signal(sig, forward) for sig in PROXIED_SIGNALS}
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def pump(sock: HijackedSocket, tty: bool, stdin: bool) -> None:
    """Copy stdin to the connection and its output to stdout/stderr until the output ends."""
    out = sys.stdout.buffer
    err = sys.stderr.buffer
    stop = threading.Event()

    def feed_stdin() -> None:
        fd = sys.stdin.fileno()
        poller = select.poll()  # not select(): any descriptor number; regular files too
        poller.register(fd, select.POLLIN)
        try:
            while not stop.is_set():
                if not poller.poll(200):
                    continue
                data = os.read(fd, 65536)
                if not data:
                    break
                sock.sendall(data)
        except OSError:
            return
        sock.shutdown_write()

    if stdin:
        threading.Thread(target=feed_stdin, daemon=True).start()
    demux = Demuxer()
    try:
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            if tty:
                out.write(chunk)
                out.flush()
                continue
            for stream, data in demux.feed(chunk):
                target = err if stream == 2 else out
                target.write(data)
                target.flush()
    finally:
        stop.set()
