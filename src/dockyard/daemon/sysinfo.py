"""Facts about this host and this engine for `/version` and `/info`."""

from __future__ import annotations

import os
import platform
import socket
import sys
import uuid
from typing import Any

from dockyard import __version__
from dockyard.api import versions

GIT_COMMIT = "dockyard"
_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def build_time() -> str:
    """When this dockyard was installed (the package's mtime), RFC 3339 as Docker shows it."""
    import datetime

    stamp = os.stat(os.path.dirname(__file__)).st_mtime
    return datetime.datetime.fromtimestamp(stamp, datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000000000+00:00"
    )


def go_arch() -> str:
    return _ARCH.get(platform.machine(), platform.machine())


def kernel_version() -> str:
    return platform.release()


def operating_system() -> tuple[str, str]:
    """(PRETTY_NAME, VERSION_ID) from os-release."""
    values: dict[str, str] = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path) as f:
                for line in f:
                    k, sep, v = line.strip().partition("=")
                    if sep:
                        values[k] = v.strip().strip('"')
            break
        except OSError:
            continue
    return values.get("PRETTY_NAME", "Linux"), values.get("VERSION_ID", "")


def mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cgroup_version() -> str:
    """'2' on a pure cgroup2 mount at /sys/fs/cgroup, else '1' (legacy and hybrid)."""
    try:
        st = os.statvfs("/sys/fs/cgroup")
        del st
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and fields[4] == "/sys/fs/cgroup":
                    sep = fields.index("-")
                    return "2" if fields[sep + 1] == "cgroup2" else "1"
    except (OSError, ValueError):
        pass
    return "1"


def engine_id(data_root: str) -> str:
    """A persistent identifier of this engine (Docker shows a UUID since 23.0)."""
    path = os.path.join(data_root, "engine-id")
    try:
        with open(path) as f:
            value = f.read().strip()
            if value:
                return value
    except OSError:
        pass
    value = str(uuid.uuid4())
    from dockyard.fsutil import atomic_write

    atomic_write(path, value.encode() + b"\n", 0o600)
    return value


def version_info() -> dict[str, Any]:
    """The `/version` document: the Server component says dockyard."""
    details = {
        "ApiVersion": versions.API_VERSION,
        "Arch": go_arch(),
        "BuildTime": build_time(),
        "Experimental": "false",
        "GitCommit": GIT_COMMIT,
        "GoVersion": f"python{platform.python_version()}",
        "KernelVersion": kernel_version(),
        "MinAPIVersion": versions.MIN_API_VERSION,
        "Os": "linux",
    }
    return {
        "Platform": {"Name": "dockyard"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
        "Version": __version__,
        "ApiVersion": versions.API_VERSION,
        "MinAPIVersion": versions.MIN_API_VERSION,
        "GitCommit": GIT_COMMIT,
        "GoVersion": details["GoVersion"],
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel_version(),
        "BuildTime": build_time(),
    }


def base_info(data_root: str, settings: dict[str, Any]) -> dict[str, Any]:
    """`/info` fields that do not depend on services (counts are filled in by the caller)."""
    os_name, os_version = operating_system()
    cgv = cgroup_version()
    mirrors = list(settings.get("registry-mirrors") or [])
    insecure = list(settings.get("insecure-registries") or [])
    index_configs = {
        "docker.io": {"Name": "docker.io", "Mirrors": mirrors, "Secure": True, "Official": True}
    }
    for reg in insecure:
        if "/" not in reg:
            index_configs[reg] = {"Name": reg, "Mirrors": [], "Secure": False, "Official": False}
    cidrs = [r for r in insecure if "/" in r] + ["::1/128", "127.0.0.0/8"]
    security = ["name=seccomp,profile=builtin"]
    if cgv == "2":
        security.append("name=cgroupns")
    return {
        "ID": engine_id(data_root),
        "Containers": 0,
        "ContainersRunning": 0,
        "ContainersPaused": 0,
        "ContainersStopped": 0,
        "Images": 0,
        "Driver": "overlay2",
        "DriverStatus": [
            ["Backing Filesystem", _backing_fs(data_root)],
            ["Supports d_type", "true"],
            ["Using metacopy", "false"],
            ["Native Overlay Diff", "true"],
            ["userxattr", "false"],
        ],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Authorization": None,
            "Log": ["json-file"],
        },
        "MemoryLimit": True,
        "SwapLimit": os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
        or cgv == "2",
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": _read("/proc/sys/net/ipv4/ip_forward") == "1",
        "BridgeNfIptables": _read("/proc/sys/net/bridge/bridge-nf-call-iptables") == "1",
        "BridgeNfIp6tables": _read("/proc/sys/net/bridge/bridge-nf-call-ip6tables") == "1",
        "Debug": settings.get("log-level") == "debug" or bool(settings.get("debug")),
        "NFd": len(os.listdir("/proc/self/fd")),
        "OomKillDisable": cgv == "1",
        "NGoroutines": 0,
        "SystemTime": "",
        "LoggingDriver": settings.get("log-driver") or "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgv,
        "NEventsListener": 0,
        "KernelVersion": kernel_version(),
        "OperatingSystem": os_name,
        "OSVersion": os_version,
        "OSType": "linux",
        "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": None,
            "AllowNondistributableArtifactsHostnames": None,
            "InsecureRegistryCIDRs": cidrs,
            "IndexConfigs": index_configs,
            "Mirrors": mirrors,
        },
        "NCPU": os.cpu_count() or 1,
        "MemTotal": mem_total(),
        "GenericResources": None,
        "DockerRootDir": data_root,
        # The registry client connects directly (trust_env=False): no proxy is applied, so
        # none is reported, whatever the daemon's environment says.
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": socket.gethostname(),
        "Labels": list(settings.get("labels") or []),
        "ExperimentalBuild": False,
        "ServerVersion": __version__,
        "Runtimes": {"runc": {"path": "dockyard-runtime"}},
        "DefaultRuntime": "runc",
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "dockyard-init",
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": GIT_COMMIT},
        "InitCommit": {"ID": GIT_COMMIT},
        "SecurityOptions": security,
        "DefaultAddressPools": settings.get("default-address-pools") or [],
        "CDISpecDirs": [],
        "Warnings": None,
        "ProductLicense": f"Community Engine (dockyard, Python {sys.version.split()[0]})",
    }


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _backing_fs(path: str) -> str:
    best = ("", "")
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                mp = fields[4]
                if (real == mp or real.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(
                    best[0]
                ):
                    best = (mp, fields[fields.index("-") + 1])
    except (OSError, ValueError):
        pass
    return {"ext4": "extfs", "ext3": "extfs", "ext2": "extfs"}.get(best[1], best[1] or "unknown")
