"""Devices of a container: Docker's cgroup device rules, `--device` and privileged mode.

`devices_for(HostConfig, privileged)` gives the OCI `linux.devices` and the cgroup device
rules, as moby's WithDevices does: Docker's default rules, each `--device` mapping (a device
node or a directory of them) and `--device-cgroup-rule`; a privileged container gets every
host device and an allow-all rule.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from typing import Any

from dockyard.errors import InvalidParameter


def default_device_rules() -> list[dict[str, Any]]:
    """Docker's cgroup device rules: deny all; allow null, zero, full, urandom, tty and
    console/ptmx (1:3, 1:5, 1:7-9, 5:0, 5:1); deny 10:229 (fuse) explicitly."""

    def allow(major: int, minor: int) -> dict[str, Any]:
        return {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}

    return [
        {"allow": False, "access": "rwm"},
        allow(1, 5),
        allow(1, 3),
        allow(1, 9),
        allow(1, 8),
        allow(5, 0),
        allow(5, 1),
        {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
    ]


_CGROUP_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})\Z", re.ASCII)


def _device_from_path(path: str, path_in_container: str, perms: str) -> tuple[dict, dict]:
    st = os.lstat(path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise ValueError("not a device node")
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    device = {
        "path": path_in_container,
        "type": kind,
        "major": major,
        "minor": minor,
        "fileMode": stat.S_IMODE(st.st_mode) | stat.S_IFMT(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }
    rule = {"allow": True, "type": kind, "major": major, "minor": minor, "access": perms}
    return device, rule


def devices_from_path(
    path_on_host: str, path_in_container: str, perms: str
) -> tuple[list[dict], list[dict]]:
    """The linux.devices entries and cgroup rules for a `--device` mapping (a node, or a
    directory of nodes), as moby's DevicesFromPath."""
    if not path_in_container:
        path_in_container = path_on_host
    perms = perms or "rwm"
    if not re.fullmatch(r"[rwm]{1,3}", perms):
        raise InvalidParameter(f"invalid device mode: {perms}")
    try:
        device, rule = _device_from_path(path_on_host, path_in_container, perms)
        return [device], [rule]
    except ValueError:
        pass
    except OSError as e:
        raise InvalidParameter(
            f"error gathering device information while adding custom device "
            f'"{path_on_host}": {e.strerror.lower() if e.strerror else e}'
        ) from None
    if not os.path.isdir(path_on_host):
        raise InvalidParameter(
            f"error gathering device information while adding custom device "
            f'"{path_on_host}": not a device node'
        )
    devices, rules = [], []
    for root, _dirs, files in os.walk(path_on_host):
        for name in sorted(files):
            host = os.path.join(root, name)
            inside = posixpath.join(path_in_container, os.path.relpath(host, path_on_host))
            try:
                device, rule = _device_from_path(host, inside, perms)
            except (ValueError, OSError):
                continue
            devices.append(device)
            rules.append(rule)
    return devices, rules


def host_devices() -> list[dict[str, Any]]:
    """Every device node under the host's /dev, for a privileged container (containerd's
    HostDevices: /dev/pts, shm, fd, mqueue and /dev/console are left out)."""
    skip_dirs = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}
    devices = []
    for root, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if d not in skip_dirs]
        for name in sorted(files):
            path = os.path.join(root, name)
            if path == "/dev/console":
                continue
            try:
                device, _ = _device_from_path(path, path, "rwm")
            except (ValueError, OSError):
                continue
            devices.append(device)
    return devices


def device_cgroup_rules(rules: list[str]) -> list[dict[str, Any]]:
    """HostConfig.DeviceCgroupRules ("c 1:3 mr", "a *:* rwm") as OCI device cgroup rules."""
    out = []
    for text in rules:
        m = _CGROUP_RULE.match(text)
        if not m:
            raise InvalidParameter(f"invalid device cgroup format '{text}'")
        rule: dict[str, Any] = {"allow": True, "type": m.group(1), "access": m.group(4)}
        if m.group(2) != "*":
            rule["major"] = int(m.group(2))
        if m.group(3) != "*":
            rule["minor"] = int(m.group(3))
        out.append(rule)
    return out


def devices_for(hc: dict[str, Any], privileged: bool) -> tuple[list[dict], list[dict]]:
    """linux.devices and the cgroup device rules (moby's WithDevices)."""
    devices: list[dict[str, Any]] = []
    if privileged:
        devices.extend(host_devices())
        for mapping in hc.get("Devices") or []:
            if mapping.get("PathOnHost") == mapping.get("PathInContainer"):
                continue  # already there with every host device
            found, _ = devices_from_path(
                mapping.get("PathOnHost", ""), mapping.get("PathInContainer", ""), "rwm"
            )
            devices.extend(found)
        return devices, [{"allow": True, "access": "rwm"}]
    rules = default_device_rules()
    for mapping in hc.get("Devices") or []:
        found, allowed = devices_from_path(
            mapping.get("PathOnHost", ""),
            mapping.get("PathInContainer", ""),
            mapping.get("CgroupPermissions", "rwm"),
        )
        devices.extend(found)
        rules.extend(allowed)
    rules.extend(device_cgroup_rules(list(hc.get("DeviceCgroupRules") or [])))
    return devices, rules
