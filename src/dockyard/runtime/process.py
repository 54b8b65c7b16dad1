"""Setting up the container's process just before exec: descriptors, signals, rlimits, user,
capabilities, environment, console, and the exec itself.

These functions run in a forked child of the caller (the container's init or an exec'd
process). They use only the standard library, ctypes and already-imported modules.
"""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import signal
import socket
import stat
from typing import Any

from dockyard.errors import InvalidParameter
from dockyard.linux import execfd, pathrs
from dockyard.linux import syscalls as lsc
from dockyard.runtime import capabilities, config, syscalls

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class CapabilityPlan:
    """The five capability sets of process.capabilities as bit masks."""

    __slots__ = ("bounding", "effective", "permitted", "inheritable", "ambient")

    def __init__(
        self, bounding: int, effective: int, permitted: int, inheritable: int, ambient: int
    ) -> None:
        self.bounding = bounding
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable
        self.ambient = ambient

    @classmethod
    def from_spec(cls, caps: dict[str, Any] | None) -> CapabilityPlan | None:
        """None when the spec gives no capabilities (the process keeps root's, as in runc)."""
        if caps is None:
            return None
        if not isinstance(caps, dict):
            raise InvalidParameter("process.capabilities must be an object")
        masks = {}
        for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            names = caps.get(kind) or []
            try:
                masks[kind] = capabilities.caps_mask(list(names))
            except (KeyError, ValueError) as e:
                raise InvalidParameter(f"process.capabilities.{kind}: {e}") from None
        return cls(**masks)


def reset_signals() -> None:
    """Default dispositions and an empty mask, so the user's program starts clean (Python
    ignores SIGPIPE and SIGXFSZ, and the caller may have handlers)."""
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def arrange_fds(
    stdio: tuple[int | None, int | None, int | None], extra: list[int], internal: list[int | None]
) -> list[int | None]:
    """Put stdio on 0-2 and `extra` on 3.. (inheritable), move the runtime's own descriptors
    above them (close-on-exec), and mark every other descriptor close-on-exec."""
    count = 3 + len(extra)
    sources = [fd if fd is not None else i for i, fd in enumerate(stdio)] + list(extra)
    floor = max([count] + sources + [fd for fd in internal if fd is not None]) + 1
    moved_internal = [
        fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) if fd is not None else None for fd in internal
    ]
    moved_sources = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in sources]
    for target, src in enumerate(moved_sources):
        os.dup2(src, target, inheritable=True)
        os.close(src)
    # Close everything else now, not only at exec: a descriptor of the caller pointing at a
    # host directory must not be reachable through /proc/self/fd while we set up (the class
    # of runc's CVE-2024-21626).
    keep = set(range(count)) | {fd for fd in moved_internal if fd is not None}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    syscalls.close_range_cloexec(count)
    return moved_internal


def set_rlimits(rlimits: list[dict[str, Any]]) -> None:
    for rl in rlimits or []:
        kind = config.RLIMITS[rl["type"]]
        soft = resource.RLIM_INFINITY if rl["soft"] < 0 else rl["soft"]
        hard = resource.RLIM_INFINITY if rl["hard"] < 0 else rl["hard"]
        try:
            resource.setrlimit(kind, (soft, hard))
        except (OSError, ValueError) as e:
            current = resource.getrlimit(kind)
            raise OSError(
                getattr(e, "errno", errno.EPERM) or errno.EPERM,
                f"error setting rlimit {rl['type']} to soft {rl['soft']} hard {rl['hard']}: "
                f"{e.strerror if isinstance(e, OSError) else e} (the current hard limit is "
                f"{_limit(current[1])}; raising it needs CAP_SYS_RESOURCE)",
            ) from None


def _limit(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


def env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def lookup_home(uid: int) -> str:
    """HOME of `uid` from the container's /etc/passwd (opened inside its root)."""
    try:
        root = pathrs.open_root("/")
        try:
            fd = pathrs.open_in_root(root, "/etc/passwd", os.O_RDONLY | os.O_NONBLOCK)
        finally:
            os.close(root)
        with open(fd, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def find_executable(arg0: str, env: dict[str, str]) -> str:
    """Resolve args[0] in the container, as runc does before it reports the container ready."""
    if "/" in arg0:
        candidates = [arg0]
    else:
        candidates = [
            os.path.join(d or ".", arg0) for d in env.get("PATH", DEFAULT_PATH).split(":")
        ]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            if path.startswith("/"):
                _refuse_magic_link(arg0, path)
            return path
    if "/" in arg0:
        raise OSError(errno.ENOENT, f"exec: {arg0!r}: no such file or directory")
    raise OSError(errno.ENOENT, f'exec: "{arg0}": executable file not found in $PATH')


def _refuse_magic_link(arg0: str, path: str) -> None:
    """A program reached through a /proc magic link (/proc/self/exe is the runtime's own
    interpreter until the exec) is not a program of the container: refused."""
    root = pathrs.open_root("/")
    try:
        os.close(pathrs.open_in_root(root, path, os.O_PATH))
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError(
                errno.ELOOP, f"exec: {arg0!r}: a /proc magic link is not a program"
            ) from None
    finally:
        os.close(root)


def apply_user_and_caps(process: dict[str, Any], caps: CapabilityPlan | None) -> None:
    """runc's finalizeNamespace: bounding set, keep-caps across the uid switch, groups, gid,
    uid, then the effective/permitted/inheritable and ambient sets."""
    user = process.get("user") or {}
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    if caps is not None:
        capabilities.drop_bounding(caps.bounding)
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)
    os.setgroups(list(user.get("additionalGids") or []))
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 0)
    if caps is not None:
        capabilities.set_caps(caps.effective, caps.permitted, caps.inheritable)
        try:
            capabilities.set_ambient(caps.ambient)
        except OSError:
            pass  # runc ignores ambient capabilities that are not also inheritable


def chdir_cwd(cwd: str) -> None:
    """chdir into the container's cwd (after pivot_root or setns: nothing of the host),
    resolved inside the container's root by descriptor, made when missing. A magic link
    (/proc/self/fd/N, the door of CVE-2024-21626) is refused, and a cwd that still ended
    outside the root is refused after the fact."""
    root = pathrs.open_root("/")
    try:
        try:
            try:
                fd = pathrs.open_in_root(root, cwd, os.O_PATH | os.O_DIRECTORY)
            except FileNotFoundError:
                fd = pathrs.mkdir_all_in_root(root, cwd)
            try:
                os.fchdir(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise OSError(e.errno, f"process.cwd {cwd}: {e.strerror}") from None
    finally:
        os.close(root)
    try:
        here = os.getcwd()
    except OSError:
        here = ""
    if not here.startswith("/"):
        raise OSError(f"process.cwd {cwd!r} is outside the container's root filesystem")


_PTMX = (5, 2)
_PTY_SLAVE_MAJORS = range(136, 144)


def open_console(socket_fd: int, process: dict[str, Any], make_console: bool) -> int:
    """Open a pty in the container's devpts, send its master over the console socket
    (SCM_RIGHTS, as runc does) and make the slave our controlling terminal.

    Nothing is opened or mounted by a path that could have been swapped (CVE-2025-52565):
    /dev/ptmx is resolved inside the root and must be the 5:2 multiplexer, the slave is
    opened from the master (TIOCGPTPEER) and must be a pty, and /dev/console is a file made
    at the descriptor of /dev and bound from the slave's descriptor."""
    root = pathrs.open_root("/")
    try:
        master = pathrs.open_in_root(root, "/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
        try:
            if not pathrs.is_char_device(master, *_PTMX):
                raise OSError(errno.EPERM, "the container's /dev/ptmx is not the pty multiplexer")
            slave_path = "/dev/pts/" + syscalls.pty_unlock_and_name(master)
            slave = lsc.pty_peer(master)
            st = os.fstat(slave)
            if not stat.S_ISCHR(st.st_mode) or os.major(st.st_rdev) not in _PTY_SLAVE_MAJORS:
                os.close(slave)
                raise OSError(errno.EPERM, "the pty peer is not a pty slave")
            if make_console:
                _bind_console(root, slave)
            user = process.get("user") or {}
            os.fchown(slave, user.get("uid", 0), -1)
            size = process.get("consoleSize") or {}
            if size.get("height") and size.get("width"):
                syscalls.set_winsize(slave, size["height"], size["width"])
            sock = socket.socket(fileno=socket_fd)
            try:
                socket.send_fds(sock, [slave_path.encode()], [master])
            finally:
                sock.close()
        finally:
            os.close(master)
    finally:
        os.close(root)
    syscalls.set_controlling_tty(slave)
    for target in (0, 1, 2):
        os.dup2(slave, target, inheritable=True)
    os.close(slave)
    return 0


def _bind_console(root: int, slave: int) -> None:
    """Bind the pty slave (by its descriptor) onto /dev/console, a regular file made at the
    descriptor of the container's /dev (which must be a real directory)."""
    dev = pathrs.require_directory_entry(root, "dev")
    try:
        try:
            os.close(
                os.open(
                    "console",
                    os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o666,
                    dir_fd=dev,
                )
            )
        except FileExistsError:
            pass
        target = os.open("console", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dev)
        try:
            mode = os.fstat(target).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
                raise OSError(
                    errno.EPERM, "the container's /dev/console is not a file: refusing to mount"
                )
            os.close(pathrs.bind_fd(slave, target, "/dev/console"))
        finally:
            os.close(target)
    finally:
        os.close(dev)


def execute(
    path: str,
    args: list[str],
    env: dict[str, str],
    trampoline: int | None = None,
    report_fd: int | None = None,
) -> None:
    """Execute the program: through the sealed trampoline when there is one (so that no
    exec of the container sees the host's Python as /proc/self/exe), else directly. A
    seccomp profile that forbids execveat leaves the direct exec."""
    if trampoline is not None and report_fd is not None and 0 < report_fd < 256:
        try:
            execfd.execute(trampoline, report_fd, path, args, env)
        except PermissionError:
            os.set_inheritable(report_fd, False)
    os.execve(path, args, env)
