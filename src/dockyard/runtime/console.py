"""The receiving side of a console socket: accept the pty master a container sends (as runc's
`recvtty` does) and, for a foreground `run`/`exec -t`, copy between our stdio and the pty."""

from __future__ import annotations

import os
import select
import socket
import tempfile
import termios
import tty


class ConsoleListener:
    """A listening UNIX socket in a private temporary directory."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="dockyard-console-")
        self.path = os.path.join(self._dir, "console.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)

    def receive_master(self, timeout: float = 10.0) -> int:
        """Accept one connection and return the fd it carries (SCM_RIGHTS)."""
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        with conn:
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
        if not fds:
            raise OSError("console socket: no file descriptor received")
        return fds[0]

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.rmdir(self._dir)


def proxy(master: int, pid_alive: object) -> None:
    """Copy stdin to the pty and the pty to stdout until the pty closes (the program ended).
    `pid_alive` is a callable telling whether the process still runs."""
    raw = os.isatty(0)
    saved = termios.tcgetattr(0) if raw else None
    if raw:
        tty.setraw(0)
    poller = select.poll()  # not select(): no limit on the descriptor numbers
    poller.register(master, select.POLLIN)
    poller.register(0, select.POLLIN)
    try:
        while True:
            ready = [fd for fd, _ in poller.poll(200)]
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    poller.unregister(0)
                else:
                    os.write(master, data)
            if not ready and not pid_alive():  # type: ignore[operator]
                return
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
