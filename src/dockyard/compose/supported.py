"""The part of the compose specification dockyard compose implements.

A key valid in the spec but missing here is an error naming it, never silently dropped.
Extension keys (`x-...`) are allowed everywhere the spec allows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.compose.errors import ComposeError
from dockyard.compose.interpolation import format_path


@dataclass(frozen=True)
class Keys:
    """A mapping with these keys; each maps to its own spec (None: any value)."""

    keys: dict


@dataclass(frozen=True)
class Each:
    """Every item of a list, or every value of a mapping, follows spec."""

    spec: object


_ULIMIT = Each(Keys({"soft": None, "hard": None}))
_IPAM = Keys(
    {
        "driver": None,
        "config": Each(
            Keys({"subnet": None, "gateway": None, "ip_range": None, "aux_addresses": None})
        ),
        "options": None,
    }
)

SERVICE = Keys(
    {
        "image": None,
        "build": Keys(
            {"context": None, "dockerfile": None, "args": None, "target": None, "labels": None}
        ),
        "command": None,
        "entrypoint": None,
        "environment": None,
        "env_file": Each(Keys({"path": None, "required": None})),
        "ports": Each(
            Keys(
                {
                    "target": None,
                    "published": None,
                    "host_ip": None,
                    "protocol": None,
                    "mode": None,
                    "name": None,
                    "app_protocol": None,
                }
            )
        ),
        "expose": None,
        "volumes": Each(
            Keys(
                {
                    "type": None,
                    "source": None,
                    "target": None,
                    "read_only": None,
                    "consistency": None,
                    "bind": Keys({"propagation": None, "create_host_path": None, "selinux": None}),
                    "volume": Keys({"nocopy": None, "subpath": None}),
                    "tmpfs": Keys({"size": None, "mode": None}),
                }
            )
        ),
        "networks": Each(Keys({"aliases": None, "ipv4_address": None, "ipv6_address": None})),
        "depends_on": Each(Keys({"condition": None, "restart": None, "required": None})),
        "links": None,
        "healthcheck": Keys(
            {
                "test": None,
                "interval": None,
                "timeout": None,
                "retries": None,
                "start_period": None,
                "start_interval": None,
                "disable": None,
            }
        ),
        "restart": None,
        "deploy": Keys({"replicas": None}),
        "scale": None,
        "labels": None,
        "user": None,
        "working_dir": None,
        "hostname": None,
        "container_name": None,
        "stop_signal": None,
        "stop_grace_period": None,
        "init": None,
        "tty": None,
        "stdin_open": None,
        "read_only": None,
        "cap_add": None,
        "cap_drop": None,
        "ulimits": _ULIMIT,
        "mem_limit": None,
        "cpus": None,
        "extra_hosts": None,
        "dns": None,
        "logging": Keys({"driver": None, "options": None}),
        "profiles": None,
    }
)

PROJECT = Keys(
    {
        "version": None,
        "name": None,
        "services": Each(SERVICE),
        "networks": Each(
            Keys(
                {
                    "name": None,
                    "driver": None,
                    "driver_opts": None,
                    "ipam": _IPAM,
                    "external": None,
                    "internal": None,
                    "attachable": None,
                    "enable_ipv6": None,
                    "labels": None,
                }
            )
        ),
        "volumes": Each(
            Keys(
                {
                    "name": None,
                    "driver": None,
                    "driver_opts": None,
                    "external": None,
                    "labels": None,
                }
            )
        ),
    }
)

VOLUME_TYPES = ("bind", "volume", "tmpfs")


def check_supported(data: dict, source: str) -> None:
    """Raise ComposeError for the first key of data dockyard does not implement."""
    _check(data, PROJECT, (), source)
    for name, service in (data.get("services") or {}).items():
        for index, volume in enumerate((service or {}).get("volumes") or []):
            if isinstance(volume, dict) and volume.get("type") not in VOLUME_TYPES:
                path = format_path(("services", name, "volumes", index, "type"))
                raise ComposeError(
                    f'{source}: {path}: volume type "{volume.get("type")}" '
                    "unsupported by dockyard compose"
                )


def _check(value: object, spec: object, path: tuple, source: str) -> None:
    if spec is None:
        return
    if isinstance(spec, Each):
        if isinstance(value, dict):
            for key, item in value.items():
                _check(item, spec.spec, (*path, key), source)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                _check(item, spec.spec, (*path, index), source)
        return
    if isinstance(spec, Keys) and isinstance(value, dict):
        for key, item in value.items():
            if str(key).startswith("x-"):
                continue
            if key not in spec.keys:
                raise ComposeError(
                    f"{source}: {format_path((*path, key))}: unsupported by dockyard compose"
                )
            _check(item, spec.keys[key], (*path, key), source)
