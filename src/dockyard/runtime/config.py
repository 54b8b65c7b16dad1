"""Reading and validating an OCI bundle: config.json and its root filesystem.

Validation happens in the calling process, before anything is created, so bad input fails with a
clear InvalidParameter/NotFound and leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from dockyard.errors import InvalidParameter, NotFound
from dockyard.runtime import mountdest, syscalls, sysctls

NAMESPACE_FLAGS: dict[str, int] = {
    "pid": syscalls.CLONE_NEWPID,
    "network": syscalls.CLONE_NEWNET,
    "mount": syscalls.CLONE_NEWNS,
    "ipc": syscalls.CLONE_NEWIPC,
    "uts": syscalls.CLONE_NEWUTS,
    "cgroup": syscalls.CLONE_NEWCGROUP,
    "user": syscalls.CLONE_NEWUSER,
    "time": syscalls.CLONE_NEWTIME,
}
# Names of the namespace files under /proc/PID/ns/.
NAMESPACE_FILES: dict[str, str] = {
    "pid": "pid",
    "network": "net",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "cgroup": "cgroup",
    "user": "user",
    "time": "time",
}
SUPPORTED_NAMESPACES = ("pid", "network", "mount", "ipc", "uts", "cgroup")

RLIMITS: dict[str, int] = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

_ID_RE = re.compile(r"^[\w+\-.]+\Z", re.ASCII)


def validate_id(container_id: str) -> None:
    """Container ids are path components: letters, digits, _ + - . (as runc accepts)."""
    if not container_id or not _ID_RE.match(container_id) or container_id in (".", ".."):
        raise InvalidParameter(f"invalid container id format: {container_id!r}")


def load_bundle(bundle: str) -> dict[str, Any]:
    """Read `bundle`/config.json, validate it and return it with root.path made absolute."""
    if not os.path.isdir(bundle):
        raise NotFound(f"bundle {bundle}: no such directory")
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise NotFound(f"{path}: config.json not found in the bundle") from None
    try:
        config = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidParameter(f"{path}: malformed config.json: {e}") from None
    if not isinstance(config, dict):
        raise InvalidParameter(f"{path}: malformed config.json: the top level is not an object")
    validate(config, os.path.abspath(bundle))
    return config


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise InvalidParameter(message)


def validate(config: dict[str, Any], bundle: str) -> None:
    """Check the parts of the spec the executor relies on; resolve root.path against bundle."""
    _require(isinstance(config.get("ociVersion"), str), "config.json: ociVersion is missing")
    root = config.get("root")
    _require(
        isinstance(root, dict) and isinstance(root.get("path"), str) and root["path"] != "",
        "config.json: root.path is missing",
    )
    rootfs = os.path.join(bundle, root["path"])
    if not os.path.isdir(rootfs):
        raise NotFound(f"rootfs ({rootfs}) does not exist")
    root["path"] = os.path.realpath(rootfs)

    process = config.get("process")
    _require(isinstance(process, dict), "config.json: process is missing")
    validate_process(process, root["path"])

    linux = config.setdefault("linux", {})
    _require(isinstance(linux, dict), "config.json: linux must be an object")
    seen: set[str] = set()
    for ns in linux.get("namespaces") or []:
        _require(isinstance(ns, dict), "config.json: linux.namespaces entries must be objects")
        kind = ns.get("type")
        if kind not in NAMESPACE_FLAGS:
            raise InvalidParameter(f"namespace type {kind!r} is not known")
        if kind not in SUPPORTED_NAMESPACES:
            raise InvalidParameter(f"namespace type {kind!r} is not supported by dockyard-runtime")
        _require(kind not in seen, f"namespace type {kind!r} is given twice")
        seen.add(kind)
        if ns.get("path"):
            _require(os.path.exists(ns["path"]), f"namespace path {ns['path']}: does not exist")
    if config.get("hostname"):
        _require(
            "uts" in seen and not _ns_path(linux, "uts"),
            "unable to set hostname without a private UTS namespace",
        )
    if config.get("domainname"):
        _require(
            "uts" in seen and not _ns_path(linux, "uts"),
            "unable to set domainname without a private UTS namespace",
        )
    sysctls.check_spec(linux)
    for m in config.get("mounts") or []:
        validate_mount(m)
    if "mount" not in seen and config.get("mounts"):
        raise InvalidParameter("mounts need a private mount namespace")


def validate_mount(m: Any) -> None:
    """One entry of config.json's `mounts`: an absolute destination that is not the root and
    not inside /proc (runc's checkProcMount; rootfs.py repeats it on the resolved path)."""
    _require(isinstance(m, dict), f"config.json: mount {m!r} must be an object")
    dest = m.get("destination")
    _require(isinstance(dest, str) and dest != "", f"mount {m!r}: destination is missing")
    _require(dest.startswith("/"), f"mount destination {dest} must be an absolute path")
    options = m.get("options") or []
    _require(
        isinstance(options, list) and all(isinstance(o, str) for o in options),
        f"mount {dest}: options must be a list of strings",
    )
    kind = m.get("type") or ""
    if kind == "bind" or "bind" in options or "rbind" in options:
        kind = "bind"
    source = m.get("source")
    if mountdest.normalise(dest) == "/":
        raise InvalidParameter(f"mountpoint {dest!r} is on the top of the rootfs")
    try:
        mountdest.check_proc(dest, kind, source if isinstance(source, str) else None)
    except InvalidParameter as e:
        raise InvalidParameter(f"check proc-safety of {dest} mount: {e.message}") from None


def _ns_path(linux: dict[str, Any], kind: str) -> str | None:
    for ns in linux.get("namespaces") or []:
        if ns.get("type") == kind:
            return ns.get("path") or None
    return None


def validate_process(process: dict[str, Any], rootfs: str | None = None) -> None:
    """Check a `process` object (of config.json or of an exec); a user.username is looked up in
    the rootfs's /etc/passwd (an extension: the OCI spec has it for Windows only)."""
    args = process.get("args")
    _require(
        isinstance(args, list) and len(args) > 0 and all(isinstance(a, str) for a in args),
        "process.args must be a non-empty list of strings",
    )
    _require(
        isinstance(process.get("cwd", "/"), str) and process.get("cwd", "/").startswith("/"),
        "process.cwd must be an absolute path",
    )
    user = process.setdefault("user", {"uid": 0, "gid": 0})
    _require(isinstance(user, dict), "process.user must be an object")
    for key in ("uid", "gid"):
        _require(
            isinstance(user.get(key, 0), int) and user.get(key, 0) >= 0,
            f"process.user.{key} must be a non-negative integer",
        )
    if user.get("username") is not None:
        resolve_username(user, rootfs)
    for rl in process.get("rlimits") or []:
        _require(
            isinstance(rl, dict) and rl.get("type") in RLIMITS,
            f"rlimit type {rl.get('type') if isinstance(rl, dict) else rl!r} is not known",
        )
        _require(
            isinstance(rl.get("soft"), int) and isinstance(rl.get("hard"), int),
            f"rlimit {rl['type']}: soft and hard must be integers",
        )
        _require(
            rl["soft"] <= rl["hard"] or rl["hard"] < 0,
            f"rlimit {rl['type']}: soft limit {rl['soft']} exceeds hard limit {rl['hard']}",
        )
    env = process.get("env") or []
    _require(
        isinstance(env, list) and all(isinstance(e, str) for e in env),
        "process.env must be a list of strings",
    )


def resolve_username(user: dict[str, Any], rootfs: str | None) -> None:
    """Set user.uid and user.gid from the passwd entry of user.username in `rootfs`."""
    name = str(user.pop("username"))
    from dockyard.linux import pathrs

    try:
        root = pathrs.open_root(rootfs or "/nonexistent")
        try:
            fd = pathrs.open_in_root(root, "/etc/passwd", os.O_RDONLY | os.O_NONBLOCK)
        finally:
            os.close(root)
        with open(fd, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 4 and fields[0] == name:
                    user["uid"], user["gid"] = int(fields[2]), int(fields[3])
                    return
    except (OSError, ValueError):
        pass
    raise InvalidParameter(f"unable to find user {name}: no matching entries in passwd file")


def namespace_list(config: dict[str, Any]) -> list[dict[str, Any]]:
    return list(config.get("linux", {}).get("namespaces") or [])
