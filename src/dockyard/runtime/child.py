"""What runs in the forked child: the container's init (create) and a process entering a
running container (exec), in runc's order of set-up steps.

The child talks to the caller over two pipes: newline-delimited JSON messages up ("hooks": run
prestart/createRuntime now; "ready": set-up is done; "error": set-up failed) and single bytes
down ("g": go on). Every fd the runtime holds is close-on-exec, so a successful execve closes
the message pipe, which an exec's caller reads as success.

The caller must have no other threads when it forks (the engine's monitor process is
single-threaded): only the forking thread exists in the child.
"""

from __future__ import annotations

import json
import os
import signal
from typing import Any, NoReturn

from dockyard.errors import InvalidParameter, describe
from dockyard.linux import execfd
from dockyard.linux.pathrs import UnsafeRoot
from dockyard.runtime import config as cfg
from dockyard.runtime import hooks, process, rootfs
from dockyard.runtime import syscalls as sc
from dockyard.runtime.cgroups import CgroupSet


class Plan:
    """Everything the child needs, prepared and validated by the caller before fork.

    state: the OCI state for hooks run in the child; seccomp: a compiled
    dockyard.runtime.seccomp.Filter or None; enter (exec only): namespace files to enter,
    mount last."""

    def __init__(
        self,
        *,
        config: dict[str, Any],
        bundle: str,
        cgroups: CgroupSet,
        state: dict[str, Any],
        process: dict[str, Any],
        caps: process.CapabilityPlan | None,
        seccomp: Any,
        msg_w: int,
        go_r: int,
        stdio: tuple[int | None, int | None, int | None] = (None, None, None),
        extra_fds: list[int] | None = None,
        fifo_fd: int | None = None,
        console_fd: int | None = None,
        enter: list[tuple[str, int]] | None = None,
    ) -> None:
        self.config = config
        self.bundle = bundle
        self.cgroups = cgroups
        self.state = state
        self.process = process
        self.caps = caps
        self.seccomp = seccomp
        self.msg_w = msg_w
        self.go_r = go_r
        self.stdio = stdio
        self.extra_fds = extra_fds or []
        self.fifo_fd = fifo_fd
        self.console_fd = console_fd
        self.enter = enter or []


class _Channel:
    def __init__(self, msg_w: int, go_r: int) -> None:
        self.msg_w = msg_w
        self.go_r = go_r

    def send(self, kind: str, **data: Any) -> None:
        line = json.dumps({"t": kind, **data}).encode() + b"\n"
        while line:
            line = line[os.write(self.msg_w, line) :]

    def wait_go(self) -> None:
        if os.read(self.go_r, 1) != b"g":
            raise RuntimeError("the runtime went away during set-up")


def _run(plan: Plan, body: Any) -> NoReturn:
    """Run `body` in the child; report any failure to the caller; never return."""
    chan: _Channel | None = None
    code = 1
    try:
        sc.prctl(sc.PR_SET_DUMPABLE, 0)  # CVE-2019-5736: nothing may open us via /proc
        process.reset_signals()
        os.setsid()
        moved = process.arrange_fds(
            plan.stdio, plan.extra_fds, [plan.msg_w, plan.go_r, plan.fifo_fd, plan.console_fd]
        )
        plan.msg_w, plan.go_r, plan.fifo_fd, plan.console_fd = moved  # type: ignore[assignment]
        chan = _Channel(plan.msg_w, plan.go_r)
        body(plan, chan)
    except BaseException as e:  # noqa: BLE001 - report everything, then leave
        message = describe(e)  # Go's words for an OSError, never "[Errno N]"
        # a refusal of what the container asked for or its image holds, not a failure
        refused = isinstance(e, InvalidParameter | UnsafeRoot)
        try:
            if chan is not None:
                chan.send("error", message=message, refused=refused)
            else:
                line = {"t": "error", "message": message, "refused": refused}
                os.write(plan.msg_w, json.dumps(line).encode() + b"\n")
        except OSError:
            try:
                os.write(2, f"dockyard-runtime: {message}\n".encode())
            except OSError:
                pass
    os._exit(code)


# ---------------------------------------------------------------- container init
def run_init(plan: Plan) -> NoReturn:
    _run(plan, _init)


def _init(plan: Plan, chan: _Channel) -> None:
    """The container's init, in runc's order: cgroups, namespaces, root filesystem (with the
    prestart/createRuntime/createContainer hooks before pivot_root), console, read-only root,
    hostname, sysctls, read-only and masked paths, the process; then wait for `start`."""
    conf = plan.config
    linux = conf.get("linux") or {}
    _oom_score_adj(plan.process)
    plan.cgroups.add(0)
    joined = _enter_namespaces(conf)
    if (conf.get("hooks") or {}).get("startContainer"):
        import subprocess  # noqa: F401 - the hooks need it after pivot_root hides the host
    if "mount" not in joined:
        _build_rootfs(plan, chan)
    else:
        _creation_hooks(plan, chan)
    if plan.process.get("terminal"):
        if plan.console_fd is None:
            raise ValueError("process.terminal is true but no console socket was given")
        process.open_console(plan.console_fd, plan.process, make_console=True)
        plan.console_fd = None
    if conf.get("root", {}).get("readonly") and "mount" not in joined:
        rootfs.remount_readonly("/")
    if conf.get("hostname"):
        sc.sethostname(conf["hostname"])
    if conf.get("domainname"):
        sc.setdomainname(conf["domainname"])
    for key, value in (linux.get("sysctl") or {}).items():
        rootfs.write_sysctl(key, str(value))
    rootfs.readonly_paths(list(linux.get("readonlyPaths") or []))
    rootfs.mask_paths(list(linux.get("maskedPaths") or []))
    path, env, trampoline = _prepare_process(plan)
    _wait_for_start(plan, chan)
    hooks.run_hooks(conf.get("hooks"), "startContainer", plan.state)
    _exec(plan, path, env, trampoline)


def _enter_namespaces(conf: dict[str, Any]) -> set[str]:
    """Join the namespaces given by path, then unshare the new ones (pid is the caller's
    business: it was set for this child before the fork). Returns the joined types."""
    namespaces = [ns for ns in cfg.namespace_list(conf) if ns["type"] != "pid"]
    joined = {ns["type"] for ns in namespaces if ns.get("path")}
    fds = [
        (os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC), cfg.NAMESPACE_FLAGS[ns["type"]])
        for ns in namespaces
        if ns.get("path")
    ]
    for fd, flag in fds:
        sc.setns(fd, flag)
        os.close(fd)
    new_flags = 0
    for ns in namespaces:
        if not ns.get("path"):
            new_flags |= cfg.NAMESPACE_FLAGS[ns["type"]]
    if new_flags:
        sc.unshare(new_flags)
    if new_flags & sc.CLONE_NEWNET:
        sc.link_up("lo")
    return joined


def _build_rootfs(plan: Plan, chan: _Channel) -> None:
    """Mounts, /dev, the creation hooks, then pivot_root into the container's root."""
    conf = plan.config
    linux = conf.get("linux") or {}
    mounts = conf.get("mounts") or []
    # every path of the container is resolved inside this descriptor of its root
    root_fd = rootfs.prepare_root(conf["root"]["path"], linux.get("rootfsPropagation"))
    cgroup_dirs = _cgroup_binds(plan.cgroups)
    for m in mounts:
        rootfs.mount_entry(root_fd, plan.bundle, m, cgroup_dirs, plan.cgroups.unified)
    if rootfs.dev_is_tmpfs(mounts):
        rootfs.create_devices(root_fd, list(linux.get("devices") or []), defaults=True)
        rootfs.create_dev_symlinks(root_fd)
    _creation_hooks(plan, chan)
    rootfs.pivot_root(root_fd)


def _creation_hooks(plan: Plan, chan: _Channel) -> None:
    """prestart and createRuntime run in the caller (runtime namespace) while we wait;
    createContainer runs here, in the container's namespaces, before pivot_root."""
    conf_hooks = plan.config.get("hooks") or {}
    if conf_hooks.get("prestart") or conf_hooks.get("createRuntime"):
        chan.send("hooks")
        chan.wait_go()
    hooks.run_hooks(conf_hooks, "createContainer", plan.state)


def _wait_for_start(plan: Plan, chan: _Channel) -> None:
    """Report ready, then block opening the exec fifo for writing until `start` opens it for
    reading (through /proc/self/fd: the fifo's directory is not reachable any more)."""
    fifo_path = f"/proc/self/fd/{plan.fifo_fd}"
    if not os.path.exists(fifo_path):
        raise OSError("the container has no /proc mounted: cannot wait for start")
    chan.send("ready")
    fifo = os.open(fifo_path, os.O_WRONLY | os.O_CLOEXEC)
    os.write(fifo, b"0")
    os.close(fifo)
    os.close(plan.fifo_fd)  # type: ignore[arg-type]


def _cgroup_binds(cgroups: CgroupSet) -> list[tuple[str, str]]:
    """(name under /sys/fs/cgroup, host directory) for each v1 hierarchy of the container."""
    out = []
    for key, directory in cgroups.v1.items():
        name = key[len("name=") :] if key.startswith("name=") else key
        out.append((name, directory))
    return out


def _oom_score_adj(proc: dict[str, Any]) -> None:
    if proc.get("oomScoreAdj") is None:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(proc["oomScoreAdj"]))
    except OSError as e:
        raise OSError(
            e.errno, f"setting oom_score_adj to {proc['oomScoreAdj']}: {e.strerror}"
        ) from None


def _prepare_process(plan: Plan) -> tuple[str, dict[str, str], int | None]:
    """Everything that can fail before the program runs: the exec trampoline (before any
    seccomp filter), umask, rlimits, no_new_privs, the executable, seccomp (without
    no_new_privs it must load while privileged), user and caps, cwd. Returns the
    executable, the environment and the trampoline's descriptor."""
    trampoline = execfd.sealed_trampoline()  # CVE-2019-5736: see dockyard.linux.execfd
    proc = plan.process
    user = proc.get("user") or {}
    os.umask(user.get("umask", 0o022) if user.get("umask") is not None else 0o022)
    process.set_rlimits(proc.get("rlimits") or [])
    if proc.get("noNewPrivileges"):
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    env = process.env_dict(proc.get("env") or [])
    if "HOME" not in env:
        env["HOME"] = process.lookup_home(user.get("uid", 0))
    path = process.find_executable(proc["args"][0], env)
    if plan.seccomp is not None and not proc.get("noNewPrivileges"):
        plan.seccomp.load()
    process.apply_user_and_caps(proc, plan.caps)
    process.chdir_cwd(proc.get("cwd") or "/")
    if trampoline is not None:
        execfd.check_format(path)
    return path, env, trampoline


def _exec(plan: Plan, path: str, env: dict[str, str], trampoline: int | None) -> None:
    if plan.seccomp is not None and plan.process.get("noNewPrivileges"):
        plan.seccomp.load()  # last, right before exec, as runc does
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    process.execute(path, plan.process["args"], env, trampoline, plan.msg_w)


# ---------------------------------------------------------------- exec in a container
def run_exec(plan: Plan) -> NoReturn:
    _run(plan, _enter)


def _enter(plan: Plan, chan: _Channel) -> None:
    _oom_score_adj(plan.process)
    plan.cgroups.add(0)
    fds = [(os.open(path, os.O_RDONLY | os.O_CLOEXEC), flag) for path, flag in plan.enter]
    for fd, flag in fds:
        sc.setns(fd, flag)
        os.close(fd)
    if plan.process.get("terminal"):
        if plan.console_fd is None:
            raise ValueError("process.terminal is true but no console socket was given")
        process.open_console(plan.console_fd, plan.process, make_console=False)
        plan.console_fd = None
    path, env, trampoline = _prepare_process(plan)
    _exec(plan, path, env, trampoline)
