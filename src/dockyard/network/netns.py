"""Network namespaces as bind-mounted files, and running code inside one.

A namespace is made by a short-lived thread that calls unshare(CLONE_NEWNET) (namespaces are
per thread in Linux, so the rest of the process is untouched) and bind-mounts its
/proc/self/task/TID/ns/net onto the sandbox file; the namespace then lives as long as the
mount (or a process in it). `in_netns` runs a function in a thread that setns() into a
namespace: sockets created there stay bound to that namespace after the thread ends, which is
how the netlink sockets of the bridge driver and the DNS listeners reach into containers
without forking.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
NETLINK_ROUTE = 0
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _in_thread(fn: Callable[[], T]) -> T:
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            box["error"] = e

    thread = threading.Thread(target=run, name="netns")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def loopback_up() -> None:
    """Bring `lo` up in the calling thread's namespace (one ioctl, no netlink)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


DnsSockets = tuple[socket.socket, socket.socket]


def dns_sockets() -> DnsSockets:
    """UDP and TCP sockets on the embedded DNS address (127.0.0.11:53), in the calling
    thread's namespace; the TCP one listening."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind(("127.0.0.11", 53))
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("127.0.0.11", 53))
        tcp.listen(64)
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


def create_netns(path: str, with_dns: bool = False) -> tuple[socket.socket, DnsSockets | None]:
    """Create a network namespace pinned at `path`, with its loopback up.

    Returns a NETLINK_ROUTE socket inside it (and, with `with_dns`, the embedded DNS sockets),
    made by the thread that created the namespace: joining it later with setns() costs from
    one to tens of milliseconds.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)

    def make() -> tuple[socket.socket, DnsSockets | None]:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        source = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        _check(_libc.mount(source, path.encode(), None, MS_BIND, None), "bind mount netns")
        loopback_up()
        # interfaces added later (eth0...) get no IPv6: our networks are IPv4 only, as Docker
        # does for networks without --ipv6; this also spares each veth DAD and MLD traffic
        with open("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w") as f:
            f.write("1")
        nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
        return nl, dns_sockets() if with_dns else None

    try:
        return _in_thread(make)
    except BaseException:
        remove_netns(path)
        raise


def remove_netns(path: str) -> None:
    """Unmount and delete a namespace file; a missing or unmounted file is fine."""
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise OSError(err, f"umount {path}: {os.strerror(err)}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def is_netns(path: str) -> bool:
    """True when `path` is a live network namespace (a bind mount of an nsfs inode)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    # nsfs files have inode numbers the kernel assigns; a plain empty file has its own
    # device. Compare with the device of a known namespace file.
    return st.st_dev == os.stat("/proc/self/ns/net").st_dev


def in_netns(path: str, fn: Callable[[], T]) -> T:
    """Run `fn` in a helper thread that has joined the namespace at `path`."""

    def run() -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(fd, CLONE_NEWNET), f"setns {path}")
        finally:
            os.close(fd)
        return fn()

    return _in_thread(run)


def netns_socket(path: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket that lives in the namespace at `path`."""
    return in_netns(path, lambda: socket.socket(family, kind, proto))


def netlink_socket(path: str) -> socket.socket:
    """A NETLINK_ROUTE socket inside the namespace at `path` (for pyroute2's IPRoute)."""
    return netns_socket(path, socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
