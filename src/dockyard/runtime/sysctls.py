"""Which sysctls a container may set: runc's rule (libcontainer/configs/validate, `sysctl`).

/proc/sys is only partly namespaced; a write to any other key changes the host. Allowed:

- the IPC keys (kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall,
  kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced and fs.mqueue.*) with a private IPC
  namespace;
- net.* with a private network namespace (a namespace other than the one of the caller:
  `container:<id>` shares that container's private one);
- kernel.domainname with a private UTS namespace (kernel.hostname never: it conflicts with the
  OCI `hostname` field);
- user.* only with a user namespace (dockyard gives none, so never).

The daemon checks it at create (`check_host_config`, a 400) and the runtime again against the
spec's namespaces (`check_spec`), before anything is created.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from dockyard.errors import InvalidParameter

IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)
IPC_PREFIXES = ("fs.mqueue.",)
RULE = (
    "a container may set only namespaced sysctls: "
    + ", ".join(sorted(IPC_SYSCTLS))
    + " and fs.mqueue.* with a private IPC namespace; net.* with a private network "
    "namespace; kernel.domainname with a private UTS namespace"
)
_SEPARATORS = re.compile(r"[./]")


def dotted(key: str) -> str:
    """runc's convertSysctlVariableToDotsSeparator: "net/ipv4/conf/eno2.100/rp_filter" is
    "net.ipv4.conf.eno2/100.rp_filter" (a key whose first separator is '/' has '.' and '/'
    swapped)."""
    m = _SEPARATORS.search(key)
    if m is None or m.group() == ".":
        return key
    return key.translate(str.maketrans("./", "/."))


def check_key_syntax(key: object) -> str:
    """The key in dotted form; refuse a key that could name a file outside its directory
    under /proc/sys (empty, '.' or '..' components, NUL, white space)."""
    if not isinstance(key, str) or not key:
        raise InvalidParameter(f"invalid sysctl key {key!r}")
    parts = _SEPARATORS.split(key)
    if any(p in ("", ".", "..") for p in parts) or re.search(r"[\x00-\x20\x7f]", key):
        raise InvalidParameter(f'invalid sysctl key "{key}"')
    return dotted(key)


def check(
    key: str,
    *,
    ipc_private: bool,
    net_private: bool,
    uts_private: bool,
    user_ns: bool = False,
) -> None:
    """Raise InvalidParameter (runc's wording) unless `key` may be set with these namespaces."""
    s = check_key_syntax(key)
    if s in IPC_SYSCTLS or s.startswith(IPC_PREFIXES):
        if ipc_private:
            return
        raise InvalidParameter(f'sysctl "{s}" is not allowed in the hosts ipc namespace')
    if s.startswith("net."):
        if net_private:
            return
        raise InvalidParameter(f'sysctl "{s}" not allowed in host network namespace')
    if uts_private:
        if s == "kernel.domainname":
            return
        if s == "kernel.hostname":
            raise InvalidParameter(
                f'sysctl "{s}" is not allowed as it conflicts with the OCI "hostname" field'
            )
    if s.startswith("user."):
        if user_ns:
            return
        raise InvalidParameter(f"setting ucounts without a user namespace not allowed: {s}")
    raise InvalidParameter(f'sysctl "{s}" is not in a separate kernel namespace')


def check_all(sysctls: Iterable[str], **namespaces: bool) -> None:
    for key in sysctls:
        check(key, **namespaces)


def check_host_config(host_config: Mapping, config: Mapping | None = None) -> None:
    """The daemon's check at create: HostConfig.Sysctls against the namespaces the container
    will have (IpcMode, NetworkMode, UTSMode). The message names the key and the rule."""
    sysctls = host_config.get("Sysctls") or {}
    if not sysctls:
        return
    if not isinstance(sysctls, Mapping):
        raise InvalidParameter("HostConfig.Sysctls must be an object")
    network_mode = str(host_config.get("NetworkMode") or "default")
    net_private = network_mode != "host" or bool((config or {}).get("NetworkDisabled"))
    try:
        check_all(
            sysctls,
            ipc_private=(host_config.get("IpcMode") or "private") != "host",
            net_private=net_private,
            uts_private=(host_config.get("UTSMode") or "") != "host",
        )
    except InvalidParameter as e:
        raise InvalidParameter(f"invalid sysctl: {e.message} ({RULE})") from None


def _is_current_ns(path: str, kind: str) -> bool:
    """True when the namespace file `path` is the caller's own namespace of that kind (runc's
    isHostNetNS: "host" means "current")."""
    mine = os.stat(f"/proc/self/ns/{kind}")
    theirs = os.stat(path)
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def check_spec(linux: Mapping) -> None:
    """The runtime's check: linux.sysctl against linux.namespaces of an OCI spec. A namespace
    joined by path counts as private only when it is not the runtime's own."""
    sysctls = linux.get("sysctl") or {}
    if not sysctls:
        return
    if not isinstance(sysctls, Mapping):
        raise InvalidParameter("config.json: linux.sysctl must be an object")
    private: dict[str, bool] = {}
    for ns in linux.get("namespaces") or []:
        if not isinstance(ns, Mapping):
            continue
        kind, path = ns.get("type"), ns.get("path")
        files = {"ipc": "ipc", "network": "net", "uts": "uts", "user": "user"}
        if kind not in files:
            continue
        if not path:
            private[kind] = True
            continue
        try:
            private[kind] = not _is_current_ns(str(path), files[kind])
        except OSError as e:
            raise InvalidParameter(f"invalid {kind} namespace path {path}: {e.strerror}") from None
    for key, value in sysctls.items():
        if not isinstance(value, str):
            raise InvalidParameter(f"sysctl {key!r}: the value must be a string")
        check(
            key,
            ipc_private=private.get("ipc", False),
            net_private=private.get("network", False),
            uts_private=private.get("uts", False),
            user_ns=private.get("user", False),
        )
