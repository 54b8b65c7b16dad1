"""The normalised compose project: what the planner creates containers, networks and
volumes from. Every field is in its long form, paths are absolute, sizes are bytes and
durations nanoseconds. `to_dict()` gives the document `docker compose config` prints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import yaml

from dockyard.compose.errors import ComposeError
from dockyard.units import format_duration

# Durations are kept in nanoseconds and printed as Go durations ("1m30s").
# False is the default of every boolean but these, so it is printed only for them.
_KEEP_FALSE = {"required"}
_DURATION_FIELDS = {"interval", "timeout", "start_period", "start_interval", "stop_grace_period"}


@dataclass
class Build:
    context: str
    dockerfile: str = "Dockerfile"
    args: dict[str, str | None] = field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Port:
    target: int
    published: str | None = None  # a port or a range "8000-8010"; None: any free port
    host_ip: str | None = None
    protocol: str = "tcp"
    mode: str = "ingress"
    name: str | None = None
    app_protocol: str | None = None


@dataclass
class BindOptions:
    propagation: str | None = None
    create_host_path: bool | None = None
    selinux: str | None = None


@dataclass
class VolumeOptions:
    nocopy: bool | None = None
    subpath: str | None = None


@dataclass
class TmpfsOptions:
    size: int | None = None  # bytes
    mode: int | None = None


@dataclass
class Mount:
    """A service's volume: type "volume" (named or anonymous), "bind" or "tmpfs"."""

    type: str
    target: str
    source: str | None = None  # volume key, absolute host path, or None
    read_only: bool = False
    consistency: str | None = None
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None


@dataclass
class ServiceNetwork:
    aliases: list[str] = field(default_factory=list)
    ipv4_address: str | None = None
    ipv6_address: str | None = None


@dataclass
class Dependency:
    condition: str = "service_started"
    restart: bool = False
    required: bool = True


@dataclass
class Healthcheck:
    test: list[str] | None = None  # ["CMD", ...], ["CMD-SHELL", cmd] or ["NONE"]
    interval: int | None = None
    timeout: int | None = None
    start_period: int | None = None
    start_interval: int | None = None
    retries: int | None = None
    disable: bool = False


@dataclass
class Ulimit:
    soft: int
    hard: int


@dataclass
class Logging:
    driver: str | None = None
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Service:
    name: str
    image: str | None = None
    build: Build | None = None
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str | None] = field(default_factory=dict)
    env_file: list[str] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    expose: list[str] = field(default_factory=list)
    volumes: list[Mount] = field(default_factory=list)
    networks: dict[str, ServiceNetwork | None] = field(default_factory=dict)
    depends_on: dict[str, Dependency] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    healthcheck: Healthcheck | None = None
    restart: str | None = None
    scale: int = 1  # deploy.replicas or scale
    labels: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    working_dir: str | None = None
    hostname: str | None = None
    container_name: str | None = None
    stop_signal: str | None = None
    stop_grace_period: int | None = None
    init: bool | None = None
    tty: bool = False
    stdin_open: bool = False
    read_only: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    ulimits: dict[str, Ulimit] = field(default_factory=dict)
    mem_limit: int | None = None
    cpus: float | None = None
    extra_hosts: list[str] = field(default_factory=list)  # "host:ip"
    dns: list[str] = field(default_factory=list)
    logging: Logging | None = None
    profiles: list[str] = field(default_factory=list)

    def dependencies(self) -> list[str]:
        """Services this one needs started first: depends_on and links."""
        names = list(self.depends_on)
        for link in self.links:
            name = link.split(":", 1)[0]
            if name not in names:
                names.append(name)
        return names

    def to_dict(self) -> dict:
        data = _plain(self)
        data.pop("name", None)
        if data.get("scale") == 1:
            del data["scale"]
        return data


@dataclass
class IpamPool:
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: dict[str, str] = field(default_factory=dict)


@dataclass
class Ipam:
    driver: str | None = None
    config: list[IpamPool] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Network:
    name: str  # the engine's name: PROJECT_KEY, or `name:`, or the external name
    driver: str | None = None
    driver_opts: dict[str, str] = field(default_factory=dict)
    ipam: Ipam | None = None
    external: bool = False
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Volume:
    name: str  # the engine's name: PROJECT_KEY, or `name:`, or the external name
    driver: str | None = None
    driver_opts: dict[str, str] = field(default_factory=dict)
    external: bool = False
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Project:
    name: str
    working_dir: str
    config_files: list[str]
    services: dict[str, Service] = field(default_factory=dict)
    networks: dict[str, Network] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)
    disabled_services: dict[str, Service] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)  # for interpolation
    env_files: list[str] = field(default_factory=list)  # .env or --env-file files read
    profiles: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The model as `docker compose config` shows it."""
        data: dict = {"name": self.name}
        data["services"] = {name: self.services[name].to_dict() for name in sorted(self.services)}
        if self.networks:
            data["networks"] = {key: _plain(net) for key, net in sorted(self.networks.items())}
        if self.volumes:
            data["volumes"] = {key: _plain(vol) for key, vol in sorted(self.volumes.items())}
        return data

    def to_yaml(self) -> str:
        return yaml.dump(
            self.to_dict(), Dumper=_ConfigDumper, default_flow_style=False, sort_keys=False
        )

    def service_order(self, names: list[str] | None = None) -> list[str]:
        """Services (all, or names and what they depend on) with dependencies first."""
        from dockyard.compose.graph import dependency_order  # graph imports this module

        return dependency_order(self.services, names)

    def select(self, names: list[str] | None = None, *, with_deps: bool = True) -> list[str]:
        """The services a command acts on, dependencies first: all of them when names is
        empty; else names, with what they depend on unless with_deps is false (--no-deps).
        Raises ComposeError("no such service: x") for an unknown name.
        """
        for name in names or []:
            if name not in self.services:
                raise ComposeError(f"no such service: {name}")
        if not names:
            return self.service_order()
        order = self.service_order(names)
        return order if with_deps else [name for name in order if name in names]


class _ConfigDumper(yaml.SafeDumper):
    """Strings that YAML would read as something else are quoted, as compose prints them."""


def _plain(obj: object) -> object:
    """Dataclasses as dicts without empty values; durations as Go durations."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if value is None or value == [] or value == {}:
                continue
            if value is False and f.name not in _KEEP_FALSE:
                continue
            if f.name in _DURATION_FIELDS and isinstance(value, int):
                out[f.name] = format_duration(value)
            else:
                out[f.name] = _plain(value)
        return out
    if isinstance(obj, dict):
        return {key: _plain(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_plain(item) for item in obj]
    return obj
