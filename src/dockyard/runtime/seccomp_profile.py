"""Docker's seccomp profiles -> the OCI `linux.seccomp` of a container.

The packaged default profile (moby profiles/seccomp/default.json), a custom JSON profile from
`--security-opt seccomp=...`, or none ("unconfined", or a privileged container without a
profile). A profile's rules are kept or dropped by their `includes`/`excludes` conditions on
the container's bounding capabilities, the machine's architecture and the kernel version, as
moby's setupSeccomp does.
"""

from __future__ import annotations

import copy
import json
import os
import re
from functools import cache
from importlib import resources
from typing import Any

from dockyard.errors import InvalidParameter

# Go's GOARCH name of this machine, as the seccomp profile's "arches" conditions spell it.
_GOARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "i386": "x86",
    "i686": "x86",
    "armv7l": "arm",
    "armv6l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loong64",
}
_NATIVE_TO_SECCOMP = {
    "x86": "SCMP_ARCH_X86",
    "amd64": "SCMP_ARCH_X86_64",
    "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "riscv64": "SCMP_ARCH_RISCV64",
    "s390x": "SCMP_ARCH_S390X",
}


def _native_arch() -> str:
    machine = os.uname().machine
    return _GOARCH.get(machine, machine)


def _kernel_version() -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


@cache
def _default_profile() -> dict[str, Any]:
    """The packaged profile, parsed once; never mutated (seccomp_from_profile copies)."""
    text = resources.files("dockyard").joinpath("data/seccomp-default.json").read_text()
    return json.loads(text)


def default_seccomp_profile() -> dict[str, Any]:
    """Docker's default seccomp profile (moby profiles/seccomp/default.json), unfiltered."""
    return copy.deepcopy(_default_profile())


def _parse_min_kernel(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)\.(\d+)", str(text))
    if not m:
        raise InvalidParameter(f"invalid kernel version: {text!r}")
    return int(m.group(1)), int(m.group(2))


def seccomp_from_profile(
    profile: dict[str, Any],
    bounding: list[str],
    *,
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any] | None:
    """The OCI `linux.seccomp` of a Docker seccomp profile (moby's setupSeccomp).

    Architectures come from the profile's archMap entry for this machine; a rule with
    `includes`/`excludes` is kept or dropped by the container's bounding capabilities, the
    machine's architecture and the kernel version. Returns None for an empty profile.
    """
    arch = arch or _native_arch()
    kernel = kernel or _kernel_version()
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidParameter(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction", "")}
    for key in ("defaultErrnoRet", "flags", "listenerPath", "listenerMetadata"):
        if profile.get(key) not in (None, "", []):
            out[key] = copy.deepcopy(profile[key])
    architectures = list(profile.get("architectures") or [])
    native = _NATIVE_TO_SECCOMP.get(arch)
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            architectures.append(entry["architecture"])
            architectures.extend(entry.get("subArchitectures") or [])
            break
    if architectures:
        out["architectures"] = architectures

    syscalls = []
    for call in profile.get("syscalls") or []:
        names = call.get("names") or []
        if call.get("name"):
            if names:
                raise InvalidParameter(
                    "both 'name' and 'names' are specified in the seccomp profile, "
                    "use either 'name' or 'names'"
                )
            names = [call["name"]]
        if not _rule_applies(call, bounding, arch, kernel):
            continue
        rule: dict[str, Any] = {"names": list(names), "action": call.get("action", "")}
        if call.get("errnoRet") is not None:
            rule["errnoRet"] = call["errnoRet"]
        if call.get("args"):
            rule["args"] = copy.deepcopy(call["args"])
        syscalls.append(rule)
    out["syscalls"] = syscalls
    return out


def _rule_applies(
    call: dict[str, Any], bounding: list[str], arch: str, kernel: tuple[int, int]
) -> bool:
    excludes = call.get("excludes") or {}
    if arch in (excludes.get("arches") or []):
        return False
    if any(c in bounding for c in excludes.get("caps") or []):
        return False
    if excludes.get("minKernel") and kernel >= _parse_min_kernel(excludes["minKernel"]):
        return False
    includes = call.get("includes") or {}
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if any(c not in bounding for c in includes.get("caps") or []):
        return False
    if includes.get("minKernel") and kernel < _parse_min_kernel(includes["minKernel"]):
        return False
    return True


def profile_for(profile: str, privileged: bool, bounding: list[str]) -> dict[str, Any] | None:
    """The OCI seccomp of a container: `profile` is "", "builtin", "unconfined" or JSON."""
    if profile == "unconfined":
        return None
    if privileged and profile in ("", "builtin"):
        return None
    if profile in ("", "builtin"):
        return seccomp_from_profile(_default_profile(), bounding)
    try:
        custom = json.loads(profile)
    except ValueError as e:
        raise InvalidParameter(f"Decoding seccomp profile failed: {e}") from None
    if not isinstance(custom, dict):
        raise InvalidParameter("Decoding seccomp profile failed: not a JSON object")
    return seccomp_from_profile(custom, bounding)
