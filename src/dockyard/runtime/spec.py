"""The OCI spec generator: an image config plus Docker's create options -> config.json.

`generate()` produces the config.json that Docker 28 (moby's oci defaults and
daemon/oci_linux.go) would hand to runc: its default mounts, masked and read-only paths,
capability set, seccomp profile (with the profile's cap/arch/kernel conditions applied),
namespaces, cgroup device rules and resources, environment, command, user and working
directory. HostConfig options we cannot enact raise InvalidParameter naming the field: the
engine never ignores an option silently.

Helpers the containers service can use at create time, as Docker does there:
`adapt_host_config` (Docker's defaults: ShmSize, IpcMode, CgroupnsMode, MemorySwap, ...) and
`verify_host_config` (Docker's checks and wording), both from hostconfig.py and re-exported
here; `merge_config` (image config + Config). The seccomp profile handling is
seccomp_profile.py's, the devices and device rules devices.py's.
"""

from __future__ import annotations

import copy
import errno
import json
import os
import posixpath
import re
from typing import Any

from dockyard.errors import InvalidParameter
from dockyard.linux import pathrs
from dockyard.runtime import capabilities as caps
from dockyard.runtime.devices import device_cgroup_rules as device_cgroup_rules
from dockyard.runtime.devices import devices_for
from dockyard.runtime.devices import devices_from_path as devices_from_path
from dockyard.runtime.devices import host_devices as host_devices
from dockyard.runtime.hostconfig import DEFAULT_SHM_SIZE as DEFAULT_SHM_SIZE
from dockyard.runtime.hostconfig import adapt_host_config as adapt_host_config
from dockyard.runtime.hostconfig import cgroup_unified as cgroup_unified
from dockyard.runtime.hostconfig import container_ref as _container_ref
from dockyard.runtime.hostconfig import verify_host_config as verify_host_config
from dockyard.runtime.seccomp_profile import default_seccomp_profile as default_seccomp_profile
from dockyard.runtime.seccomp_profile import profile_for
from dockyard.runtime.seccomp_profile import seccomp_from_profile as seccomp_from_profile
from dockyard.runtime.user import group_ids, resolve_user

OCI_VERSION = "1.2.0"
DEFAULT_PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INIT_PATH_IN_CONTAINER = "/sbin/docker-init"

MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
READONLY_PATHS = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
]


def _default_mounts() -> list[dict[str, Any]]:
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777"],
        },
    ]


# --- host facts ------------------------------------------------------------------------------


def _possible_cpus() -> list[int]:
    """The CPUs of /sys/devices/system/cpu/possible ("0-3,6")."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
    except OSError:
        return []
    cpus: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def _masked_paths() -> list[str]:
    """Docker's masked paths, with each possible CPU's thermal_throttle directory."""
    paths = list(MASKED_PATHS)
    for cpu in _possible_cpus():
        throttle = f"/sys/devices/system/cpu/cpu{cpu}/thermal_throttle"
        if os.path.exists(throttle):
            paths.append(throttle)
    return paths


def _sysctl_exists(name: str) -> bool:
    return os.path.exists("/proc/sys/" + name.replace(".", "/"))


def _apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def _selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


# --- Config: merge, environment, command -----------------------------------------------------


def merge_config(image_config: dict[str, Any] | None, config: dict[str, Any]) -> dict[str, Any]:
    """Docker's merge of the image's config into the create body's Config (a copy).

    User and WorkingDir fall back to the image's; Env gets the image's variables the user
    did not set; Cmd and Entrypoint come from the image only when Config has no Entrypoint
    (an Entrypoint given in Config drops the image's Cmd). `Entrypoint: [""]` means none.
    """
    img = image_config or {}
    out = dict(config or {})
    if not out.get("User"):
        out["User"] = img.get("User") or ""
    user_env = list(out.get("Env") or [])
    if not user_env:
        out["Env"] = list(img.get("Env") or [])
    else:
        keys = {e.split("=", 1)[0] for e in user_env}
        out["Env"] = user_env + [e for e in img.get("Env") or [] if e.split("=", 1)[0] not in keys]
    if not out.get("Entrypoint"):
        if not out.get("Cmd"):
            out["Cmd"] = img.get("Cmd")
        if out.get("Entrypoint") is None:
            out["Entrypoint"] = img.get("Entrypoint")
    if not out.get("WorkingDir"):
        out["WorkingDir"] = img.get("WorkingDir") or ""
    entrypoint = out.get("Entrypoint")
    if entrypoint is not None and len(entrypoint) == 1 and entrypoint[0] == "":
        out["Entrypoint"] = None
    return out


def process_args(config: dict[str, Any]) -> list[str]:
    """The argv of a merged Config: Entrypoint + Cmd; Docker's error when both are empty."""
    entrypoint = list(config.get("Entrypoint") or [])
    if entrypoint == [""]:
        entrypoint = []  # `--entrypoint ""`: no entrypoint
    cmd = list(config.get("Cmd") or [])
    if not entrypoint and not cmd:
        raise InvalidParameter("no command specified")
    return entrypoint + cmd


def replace_or_append_env(defaults: list[str], overrides: list[str]) -> list[str]:
    """Docker's ReplaceOrAppendEnvValues: an override replaces the default with the same key
    or is appended; a bare "KEY" (no "=") removes KEY."""
    env: list[str | None] = list(defaults)
    index = {e.split("=", 1)[0]: i for i, e in enumerate(defaults)}
    for value in overrides:
        key, sep, _ = value.partition("=")
        if not sep:
            if value in index:
                env[index[value]] = None
            continue
        if key in index:
            env[index[key]] = value
        else:
            env.append(value)
    return [e for e in env if e]


def container_env(
    config: dict[str, Any], hostname: str, linked_env: list[str] | tuple = ()
) -> list[str]:
    """PATH, HOSTNAME, (with a TTY) TERM and the legacy links' variables, overridden by the
    merged Config's Env (Docker's CreateDaemonEnvironment)."""
    base = ["PATH=" + DEFAULT_PATH_ENV, "HOSTNAME=" + hostname]
    if config.get("Tty"):
        base.append("TERM=xterm")
    base.extend(linked_env)
    return replace_or_append_env(base, list(config.get("Env") or []))


# --- mounts ---------------------------------------------------------------------------------

_PROPAGATION = {
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
}
_FLAG_KEYS = {
    "ro": "rdonly",
    "rw": "rdonly",
    "suid": "nosuid",
    "nosuid": "nosuid",
    "dev": "nodev",
    "nodev": "nodev",
    "exec": "noexec",
    "noexec": "noexec",
    "sync": "sync",
    "async": "sync",
    "dirsync": "dirsync",
    "remount": "remount",
    "mand": "mand",
    "nomand": "mand",
    "atime": "noatime",
    "noatime": "noatime",
    "diratime": "nodiratime",
    "nodiratime": "nodiratime",
    "bind": "bind",
    "rbind": "rbind",
    "relatime": "relatime",
    "norelatime": "relatime",
    "strictatime": "strictatime",
    "nostrictatime": "strictatime",
}
_TMPFS_DATA = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"}


def merge_tmpfs_options(options: list[str]) -> list[str]:
    """moby's MergeTmpfsOptions: the last of conflicting flags or data options wins."""
    merged: list[str] = []
    seen: set[str] = set()
    for option in reversed(options):
        if option == "defaults":
            continue
        if option in _PROPAGATION:
            key = "propagation"
        elif option in _FLAG_KEYS:
            key = _FLAG_KEYS[option]
        else:
            name, sep, _ = option.partition("=")
            if not sep or name not in _TMPFS_DATA:
                raise InvalidParameter(f'invalid tmpfs option ["{option}"]')
            key = "data:" + name
        if key not in seen:
            seen.add(key)
            merged.insert(0, option)
    return merged


def _tmpfs_mounts(tmpfs: dict[str, str]) -> list[dict[str, Any]]:
    mounts = []
    for dest, data in tmpfs.items():
        options = ["noexec", "nosuid", "nodev", "rprivate"]
        if data:
            options += data.split(",")
        mounts.append(
            {
                "destination": dest,
                "type": "tmpfs",
                "source": "tmpfs",
                "options": merge_tmpfs_options(options),
            }
        )
    return mounts


def _depth(path: str) -> int:
    return len([p for p in posixpath.normpath(path).split("/") if p])


def _without(options: list[str], unwanted: str) -> list[str]:
    return [o for o in options if o != unwanted]


def _ipc_shm_mount(
    ipc_mode: str, shm_source: str | None, ipc_ns_path: str | None
) -> dict[str, Any] | None:
    """The /dev/shm a container shares (Docker's IpcMounts): the host's for "host"; for
    "container:<id>" the other container's, given as `shm_source` or, failing that, reached
    through the /proc/<pid> of `ipc_ns_path`."""
    if ipc_mode == "host":
        source = shm_source or "/dev/shm"
    elif _container_ref(ipc_mode):
        source = shm_source
        m = re.fullmatch(r"/proc/(\d+)/ns/ipc", ipc_ns_path or "")
        if source is None and m:
            source = f"/proc/{m.group(1)}/root/dev/shm"
        if source is None:
            raise InvalidParameter(f"IPC mode {ipc_mode}: the /dev/shm of that container is needed")
    else:
        return None
    return {
        "destination": "/dev/shm",
        "type": "bind",
        "source": source,
        "options": ["rbind", "rprivate"],
    }


def _mounts(
    hc: dict[str, Any],
    user_mounts: list[dict[str, Any]],
    *,
    readonly_root: bool,
    privileged: bool,
    writable_cgroups: bool,
) -> list[dict[str, Any]]:
    user_mounts = sorted(user_mounts, key=lambda m: _depth(m["destination"]))
    user_dests = {posixpath.normpath(m["destination"]) for m in user_mounts}
    dev_mounted = "/dev" in user_dests
    ipc_mode = hc.get("IpcMode") or "private"
    mounts = []
    for m in _default_mounts():
        if m["destination"] in user_dests:
            continue
        if dev_mounted and m["destination"].startswith("/dev/"):
            continue
        if m["destination"] == "/dev/shm":
            if ipc_mode in ("none", "host") or _container_ref(ipc_mode):
                continue  # none: no /dev/shm; host/container: a shared one, given by the caller
            m["options"].append(f"size={hc['ShmSize']}")
        mounts.append(m)
    mounts.extend(copy.deepcopy(user_mounts))
    if readonly_root:
        for m in mounts:
            if m["destination"] in ("/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"):
                continue
            if posixpath.normpath(m["destination"]) in user_dests:
                continue
            if "ro" not in m["options"]:
                m["options"].append("ro")
    if privileged:
        for m in mounts:
            if m["destination"] == "/sys":
                m["options"] = _without(m["options"], "ro")
    if writable_cgroups:
        for m in mounts:
            if m["type"] == "cgroup":
                m["options"] = _without(m["options"], "ro")
    return mounts


# --- resources, rlimits, security options ----------------------------------------------------

_RLIMITS = {
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
}


def _rlimits(ulimits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for ul in ulimits:
        name = str(ul.get("Name") or "")
        if name not in _RLIMITS:
            raise InvalidParameter(f"invalid ulimit type: {name}")
        soft, hard = int(ul.get("Soft") or 0), int(ul.get("Hard") or 0)
        if soft > hard:
            raise InvalidParameter(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )
        out.append(
            {
                "type": "RLIMIT_" + name.upper(),
                "soft": soft & 0xFFFFFFFFFFFFFFFF,
                "hard": hard & 0xFFFFFFFFFFFFFFFF,
            }
        )
    return out


def _resources(hc: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    if (hc.get("Memory") or 0) > 0:
        memory["limit"] = hc["Memory"]
    if (hc.get("MemoryReservation") or 0) > 0:
        memory["reservation"] = hc["MemoryReservation"]
    if (hc.get("MemorySwap") or 0) > 0:
        memory["swap"] = hc["MemorySwap"]
    if hc.get("MemorySwappiness") is not None and hc["MemorySwappiness"] != -1:
        memory["swappiness"] = hc["MemorySwappiness"]
    if hc.get("OomKillDisable") is not None:
        memory["disableOOMKiller"] = bool(hc["OomKillDisable"])
    if memory:
        res["memory"] = memory

    cpu: dict[str, Any] = {}
    if hc.get("CpuShares"):
        cpu["shares"] = hc["CpuShares"]
    if hc.get("CpusetCpus"):
        cpu["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        cpu["mems"] = hc["CpusetMems"]
    if (hc.get("NanoCpus") or 0) > 0:
        period = 100000
        cpu["period"] = period
        cpu["quota"] = hc["NanoCpus"] * period // 10**9
    if hc.get("CpuPeriod"):
        cpu["period"] = hc["CpuPeriod"]
    if hc.get("CpuQuota"):
        cpu["quota"] = hc["CpuQuota"]
    if hc.get("CpuRealtimePeriod"):
        cpu["realtimePeriod"] = hc["CpuRealtimePeriod"]
    if hc.get("CpuRealtimeRuntime"):
        cpu["realtimeRuntime"] = hc["CpuRealtimeRuntime"]
    if cpu:
        res["cpu"] = cpu

    res["blockIO"] = {"weight": hc["BlkioWeight"]} if hc.get("BlkioWeight") else {}
    pids = hc.get("PidsLimit")
    if pids is not None:
        res["pids"] = {"limit": pids if pids > 0 else -1}
    return res


def _parse_bool(text: str) -> bool | None:
    """Go's strconv.ParseBool."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


class SecurityOptions:
    """HostConfig.SecurityOpt parsed as Docker's parseSecurityOpt does."""

    def __init__(self, opts: list[str]) -> None:
        self.no_new_privileges = False
        self.writable_cgroups: bool | None = None
        self.seccomp_profile = ""  # "", "unconfined", "builtin" or a JSON profile
        for opt in opts:
            self._parse(opt)

    def _parse(self, opt: str) -> None:
        quoted = json.dumps(opt)
        if opt == "no-new-privileges":
            self.no_new_privileges = True
            return
        if opt == "writable-cgroups":
            self.writable_cgroups = True
            return
        if opt == "disable":
            return  # label=disable: nothing to do without SELinux
        if "=" in opt:
            key, value = opt.split("=", 1)
        elif ":" in opt:
            key, value = opt.split(":", 1)
        else:
            raise InvalidParameter(f"invalid --security-opt 1: {quoted}")
        if key == "seccomp":
            self.seccomp_profile = value
        elif key in ("no-new-privileges", "writable-cgroups"):
            flag = _parse_bool(value)
            if flag is None:
                raise InvalidParameter(f"invalid --security-opt 2: {quoted}")
            if key == "no-new-privileges":
                self.no_new_privileges = flag
            else:
                self.writable_cgroups = flag
        elif key == "apparmor":
            # Docker applies AppArmor only where the host has it; we never confine with it.
            if value != "unconfined" and _apparmor_enabled():
                raise InvalidParameter(
                    f"HostConfig.SecurityOpt {quoted}: AppArmor profiles are not supported"
                )
        elif key == "label":
            if value != "disable" and _selinux_enabled():
                raise InvalidParameter(
                    f"HostConfig.SecurityOpt {quoted}: SELinux labels are not supported"
                )
        else:
            raise InvalidParameter(f"invalid --security-opt 2: {quoted}")


def capability_list(host_config: dict[str, Any]) -> list[str]:
    """moby's TweakCapabilities: Docker's defaults adjusted by CapAdd/CapDrop/Privileged."""
    if host_config.get("Privileged"):
        return caps.supported_caps()
    adds = host_config.get("CapAdd") or []
    drops = host_config.get("CapDrop") or []
    if not adds and not drops:
        return list(caps.DOCKER_DEFAULT_CAPS)
    cap_drop = [caps.normalize(c) for c in drops]
    cap_add = [caps.normalize(c) for c in adds]
    if "ALL" in cap_add:
        result = [c for c in caps.supported_caps() if c not in cap_drop]
    elif "ALL" in cap_drop:
        result = list(cap_add)
    else:
        result = [c for c in caps.DOCKER_DEFAULT_CAPS if c not in cap_drop] + cap_add
    unique: list[str] = []
    for c in result:
        if c not in unique:
            unique.append(c)
    return unique


# --- the generator --------------------------------------------------------------------------


def _namespaces(
    hc: dict[str, Any],
    config: dict[str, Any],
    netns_path: str | None,
    ipc_ns_path: str | None,
    pid_ns_path: str | None,
) -> list[dict[str, Any]]:
    namespaces: list[dict[str, Any]] = [{"type": "mount"}]
    network_mode = hc.get("NetworkMode") or "default"
    if config.get("NetworkDisabled"):
        namespaces.append({"type": "network"})  # a new, empty one
    elif network_mode == "host":
        pass
    elif netns_path:
        namespaces.append({"type": "network", "path": netns_path})
    elif _container_ref(network_mode):
        raise InvalidParameter(
            f"network mode {network_mode}: the namespace path of that container is needed"
        )
    else:
        namespaces.append({"type": "network"})
    if (hc.get("UTSMode") or "") != "host":
        namespaces.append({"type": "uts"})
    pid_mode = hc.get("PidMode") or ""
    if pid_mode != "host":
        if _container_ref(pid_mode):
            if not pid_ns_path:
                raise InvalidParameter("failed to join PID namespace: no namespace path given")
            namespaces.append({"type": "pid", "path": pid_ns_path})
        else:
            namespaces.append({"type": "pid"})
    ipc_mode = hc.get("IpcMode") or "private"
    if ipc_mode != "host":
        if _container_ref(ipc_mode):
            if not ipc_ns_path:
                raise InvalidParameter("failed to join IPC namespace: no namespace path given")
            namespaces.append({"type": "ipc", "path": ipc_ns_path})
        else:
            namespaces.append({"type": "ipc"})
    if hc.get("CgroupnsMode") == "private":
        namespaces.append({"type": "cgroup"})
    return namespaces


def _setup_working_dir(rootfs: str, cwd: str) -> None:
    """Create the working directory inside the rootfs, as Docker does before start (made
    by descriptor inside the root: a symlink on the way resolves within it)."""
    root = pathrs.open_root(rootfs)
    try:
        os.close(pathrs.mkdir_all_in_root(root, cwd))
    except (FileExistsError, NotADirectoryError):
        raise InvalidParameter(f"Cannot mkdir: {cwd} is not a directory") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InvalidParameter(f"{cwd}: too many levels of symbolic links") from None
        raise
    finally:
        os.close(root)


def _sysctls(hc: dict[str, Any], cfg: dict[str, Any]) -> dict[str, str]:
    """Docker's default sysctls (for a network namespace of its own), the domain name, then
    HostConfig.Sysctls, which win."""
    sysctl: dict[str, str] = {}
    network_mode = hc.get("NetworkMode") or "default"
    if network_mode != "host" and not _container_ref(network_mode):
        if _sysctl_exists("net.ipv4.ping_group_range"):
            sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
        if _sysctl_exists("net.ipv4.ip_unprivileged_port_start"):
            sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
    if cfg.get("Domainname") and (hc.get("UTSMode") or "") != "host":
        sysctl["kernel.domainname"] = cfg["Domainname"]
    sysctl.update({str(k): str(v) for k, v in (hc.get("Sysctls") or {}).items()})
    return sysctl


def _process(
    hc: dict[str, Any],
    cfg: dict[str, Any],
    *,
    rootfs: str,
    hostname: str,
    args: list[str],
    cwd: str,
    cap_list: list[str],
    no_new_privileges: bool,
    linked_env: list[str] | tuple,
) -> dict[str, Any]:
    uid, gid, sgids = resolve_user(rootfs, cfg.get("User") or "")
    additional = [gid, *sgids, *group_ids(rootfs, list(hc.get("GroupAdd") or []))]
    process: dict[str, Any] = {
        "terminal": bool(cfg.get("Tty")),
        "user": {"uid": uid, "gid": gid, "additionalGids": additional},
        "args": args,
        "env": container_env(cfg, hostname, linked_env),
        "cwd": cwd,
        "capabilities": {
            "bounding": list(cap_list),
            "effective": list(cap_list),
            "permitted": list(cap_list),
        },
        "oomScoreAdj": int(hc.get("OomScoreAdj") or 0),
    }
    rlimits = _rlimits(list(hc.get("Ulimits") or []))
    if rlimits:
        process["rlimits"] = rlimits
    if no_new_privileges:
        process["noNewPrivileges"] = True
    console = hc.get("ConsoleSize") or [0, 0]
    if cfg.get("Tty") and (console[0] or console[1]):
        process["consoleSize"] = {"height": int(console[0]), "width": int(console[1])}
    return process


def _working_dir(cfg: dict[str, Any]) -> str:
    cwd = posixpath.normpath(cfg.get("WorkingDir") or "/")
    if not cwd.startswith("/"):
        raise InvalidParameter(
            f"the working directory '{cfg.get('WorkingDir')}' is invalid, "
            "it needs to be an absolute path"
        )
    return cwd


def generate(
    image_config: dict[str, Any] | None,
    config: dict[str, Any],
    host_config: dict[str, Any],
    *,
    rootfs: str,
    container_id: str,
    hostname: str,
    cgroups_path: str,
    extra_mounts: list[dict[str, Any]] | tuple = (),
    netns_path: str | None = None,
    ipc_ns_path: str | None = None,
    pid_ns_path: str | None = None,
    init_path: str | None = None,
    shm_source: str | None = None,
    linked_env: list[str] | tuple = (),
) -> dict[str, Any]:
    """The OCI config.json Docker would produce for this container.

    `image_config` is the image config's "config" object; `config` is the create body's
    Config as the client sent it (pass image_config=None when `config` is already merged with
    the image's); `host_config` is Docker's HostConfig. `extra_mounts` are OCI mounts made by
    the engine (volumes, binds, /etc/hosts, /etc/resolv.conf, ...); `netns_path`,
    `ipc_ns_path` and `pid_ns_path` are namespaces to join (for `container:` modes and the
    engine's network namespace); `init_path` is the host binary bound at /sbin/docker-init
    when HostConfig.Init is set; `shm_source` is the /dev/shm to share with IpcMode
    "container:<id>" (by default the one under /proc/<pid>/root of `ipc_ns_path`) or "host";
    `linked_env` holds the variables of legacy --link options. `cgroups_path` defaults to
    /dockyard/<container_id>. The working directory is created in `rootfs` if missing.
    """
    hc = adapt_host_config(host_config)
    cfg = merge_config(image_config, config) if image_config is not None else dict(config)
    verify_host_config(hc, cfg)
    privileged = bool(hc.get("Privileged"))
    security = SecurityOptions(list(hc.get("SecurityOpt") or []))
    args = process_args(cfg)
    cwd = _working_dir(cfg)

    user_mounts = [dict(m, options=list(m.get("options") or [])) for m in extra_mounts]
    user_mounts += _tmpfs_mounts(hc.get("Tmpfs") or {})
    shared_shm = _ipc_shm_mount(hc.get("IpcMode") or "private", shm_source, ipc_ns_path)
    if shared_shm and all(posixpath.normpath(m["destination"]) != "/dev/shm" for m in user_mounts):
        user_mounts.append(shared_shm)
    pid_mode = hc.get("PidMode") or ""
    if hc.get("Init") and pid_mode != "host" and not _container_ref(pid_mode):
        if not init_path:
            raise InvalidParameter("HostConfig.Init is not supported: no init binary configured")
        args = [INIT_PATH_IN_CONTAINER, "--", *args]
        user_mounts.append(
            {
                "destination": INIT_PATH_IN_CONTAINER,
                "type": "bind",
                "source": init_path,
                "options": ["bind", "ro"],
            }
        )

    cap_list = capability_list(hc)
    devices, device_rules = devices_for(hc, privileged)
    linux: dict[str, Any] = {
        "sysctl": _sysctls(hc, cfg),
        "resources": {"devices": device_rules, **_resources(hc)},
        "cgroupsPath": cgroups_path or f"/dockyard/{container_id}",
        "namespaces": _namespaces(hc, cfg, netns_path, ipc_ns_path, pid_ns_path),
        "devices": devices,
    }
    seccomp_spec = profile_for(security.seccomp_profile, privileged, cap_list)
    if seccomp_spec is not None:
        linux["seccomp"] = seccomp_spec
    if not privileged:
        linux["maskedPaths"] = _masked_paths()
        linux["readonlyPaths"] = list(READONLY_PATHS)
    if hc.get("MaskedPaths") is not None:
        linux["maskedPaths"] = list(hc["MaskedPaths"])
    if hc.get("ReadonlyPaths") is not None:
        linux["readonlyPaths"] = list(hc["ReadonlyPaths"])

    writable_cgroups = privileged
    if security.writable_cgroups is not None:
        writable_cgroups = security.writable_cgroups
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": _process(
            hc,
            cfg,
            rootfs=rootfs,
            hostname=hostname,
            args=args,
            cwd=cwd,
            cap_list=cap_list,
            no_new_privileges=security.no_new_privileges,
            linked_env=linked_env,
        ),
        "root": {"path": rootfs, "readonly": bool(hc.get("ReadonlyRootfs"))},
        "hostname": "" if (hc.get("UTSMode") or "") == "host" else hostname,
        "mounts": _mounts(
            hc,
            user_mounts,
            readonly_root=bool(hc.get("ReadonlyRootfs")),
            privileged=privileged,
            writable_cgroups=writable_cgroups,
        ),
        "linux": linux,
    }
    if hc.get("Annotations"):
        spec["annotations"] = dict(hc["Annotations"])
    _setup_working_dir(rootfs, cwd)
    return spec
