"""Pumping a hijacked attach/exec connection to the terminal: stdin in, stdout and stderr
out (demultiplexed unless the container has a tty; the terminal in raw mode when it has).
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import tty as ttymod
from collections.abc import Iterator

from dockyard.client import HijackedSocket
from dockyard.client.stdcopy import STDERR, Demuxer


@contextlib.contextmanager
def raw_terminal(enabled: bool) -> Iterator[None]:
    if not enabled or not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        ttymod.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def pump(sock: HijackedSocket, *, tty: bool, stdin: bool) -> None:
    """Copy until the container closes its output."""
    demuxer = None if tty else Demuxer()
    out_fd = sys.stdout.fileno()
    err_fd = sys.stderr.fileno()
    in_fd = sys.stdin.fileno() if stdin else None
    sys.stdout.flush()
    with raw_terminal(tty and stdin):
        first = sock.recv(65536) if _has_leftover(sock) else b""
        if first:
            _write_out(first, demuxer, out_fd, err_fd)
        poller = select.poll()  # not select(): any descriptor number; regular files too
        poller.register(sock.fileno(), select.POLLIN)
        if in_fd is not None:
            poller.register(in_fd, select.POLLIN)
        while True:
            ready = [fd for fd, _ in poller.poll()]
            if in_fd is not None and in_fd in ready:
                data = os.read(in_fd, 65536)
                if data:
                    sock.sendall(data)
                else:
                    sock.shutdown_write()
                    poller.unregister(in_fd)
                    in_fd = None
            if sock.fileno() in ready:
                data = sock.recv(65536)
                if not data:
                    return
                _write_out(data, demuxer, out_fd, err_fd)


def _has_leftover(sock: HijackedSocket) -> bool:
    return bool(getattr(sock, "_leftover", b""))


def _write_out(data: bytes, demuxer: Demuxer | None, out_fd: int, err_fd: int) -> None:
    if demuxer is None:
        _write_all(out_fd, data)
        return
    for stream, payload in demuxer.feed(data):
        _write_all(err_fd if stream == STDERR else out_fd, payload)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]
