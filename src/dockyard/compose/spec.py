"""A service's container as the Engine API's create body (`POST /containers/create`).

Every service field maps to Config, HostConfig or NetworkingConfig the way Docker Compose
maps it: environment as `K=V`, ports as ExposedPorts + PortBindings, volumes as Mounts (a
short-syntax bind, whose host path compose creates, as Binds), stop_grace_period as
StopTimeout, cpus as NanoCpus, and an endpoint on each network with the service name as an
alias (so every replica answers DNS for the service); all endpoints go in the create body,
as API 1.44+ allows, so no `network connect` is needed.
"""

from __future__ import annotations

from typing import Any

from dockyard.compose.labels import container_labels, image_name
from dockyard.compose.model import Mount, Project, Service

_SECOND = 1_000_000_000


def create_body(
    project: Project,
    service: Service,
    number: int,
    *,
    oneoff: bool = False,
    image_id: str | None = None,
    command: list[str] | None = None,
    environment: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The body to create container `number` of service (a `run` container when oneoff)."""
    all_labels = container_labels(project, service, number, oneoff=oneoff)
    if image_id:
        all_labels["com.docker.compose.image"] = image_id
    all_labels.update(labels or {})
    env = {k: v for k, v in service.environment.items() if v is not None}
    env.update(environment or {})
    config: dict[str, Any] = {
        "Image": image_name(project, service),
        "Labels": all_labels,
        "Env": [f"{k}={v}" for k, v in env.items()],
        "Tty": service.tty,
        "OpenStdin": service.stdin_open,
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
    }
    cmd = command if command is not None else service.command
    if cmd is not None:
        config["Cmd"] = cmd
    if service.entrypoint is not None:
        config["Entrypoint"] = service.entrypoint
    for key, attr in (
        ("Hostname", "hostname"),
        ("User", "user"),
        ("WorkingDir", "working_dir"),
        ("StopSignal", "stop_signal"),
    ):
        value = getattr(service, attr)
        if value:
            config[key] = value
    if service.stop_grace_period is not None:
        config["StopTimeout"] = service.stop_grace_period // _SECOND
    if service.healthcheck is not None:
        config["Healthcheck"] = _healthcheck(service)
    exposed = {_port_key(p) for p in (service.expose or [])}
    exposed |= {f"{port.target}/{port.protocol}" for port in service.ports}
    if exposed:
        config["ExposedPorts"] = {key: {} for key in sorted(exposed)}
    config["HostConfig"] = _host_config(project, service, oneoff)
    config["NetworkingConfig"] = {"EndpointsConfig": endpoints(project, service)}
    return config


def network_mode(project: Project, service: Service) -> str:
    """The engine name of the service's first network (by priority, then name)."""
    return project.networks[primary_networks(service)[0]].name


def primary_networks(service: Service) -> list[str]:
    """The service's network keys, the one to create the container on first."""
    return sorted(service.networks)


def endpoints(project: Project, service: Service) -> dict[str, dict[str, Any]]:
    """EndpointsConfig per engine network name: aliases (the service name first), addresses."""
    out: dict[str, dict[str, Any]] = {}
    keys = primary_networks(service)
    for key in keys:
        spec = service.networks[key]
        aliases = [service.name]
        endpoint: dict[str, Any] = {}
        if spec is not None:
            aliases += [a for a in spec.aliases if a not in aliases]
            ipam = {}
            if spec.ipv4_address:
                ipam["IPv4Address"] = spec.ipv4_address
            if spec.ipv6_address:
                ipam["IPv6Address"] = spec.ipv6_address
            if ipam:
                endpoint["IPAMConfig"] = ipam
        endpoint["Aliases"] = aliases
        out[project.networks[key].name] = endpoint
    return out


def _host_config(project: Project, service: Service, oneoff: bool) -> dict[str, Any]:
    host: dict[str, Any] = {"NetworkMode": network_mode(project, service)}
    binds, mounts = _mounts(project, service.volumes)
    if binds:
        host["Binds"] = binds
    if mounts:
        host["Mounts"] = mounts
    bindings: dict[str, list[dict[str, str]]] = {}
    if not oneoff:
        for port in service.ports:
            bindings.setdefault(f"{port.target}/{port.protocol}", []).append(
                {"HostIp": port.host_ip or "", "HostPort": port.published or ""}
            )
    if bindings:
        host["PortBindings"] = bindings
    if service.restart and not oneoff:
        name, _, count = service.restart.partition(":")
        policy: dict[str, Any] = {"Name": name}
        if count:
            policy["MaximumRetryCount"] = int(count)
        host["RestartPolicy"] = policy
    if service.init is not None:
        host["Init"] = service.init
    if service.read_only:
        host["ReadonlyRootfs"] = True
    if service.cap_add:
        host["CapAdd"] = list(service.cap_add)
    if service.cap_drop:
        host["CapDrop"] = list(service.cap_drop)
    if service.ulimits:
        host["Ulimits"] = [
            {"Name": name, "Soft": lim.soft, "Hard": lim.hard}
            for name, lim in sorted(service.ulimits.items())
        ]
    if service.mem_limit is not None:
        host["Memory"] = service.mem_limit
    if service.cpus is not None:
        host["NanoCpus"] = int(service.cpus * _SECOND)
    if service.extra_hosts:
        host["ExtraHosts"] = list(service.extra_hosts)
    if service.dns:
        host["Dns"] = list(service.dns)
    if service.logging is not None and (service.logging.driver or service.logging.options):
        host["LogConfig"] = {
            "Type": service.logging.driver or "json-file",
            "Config": dict(service.logging.options),
        }
    if service.links:
        host["Links"] = [_link(project, link) for link in service.links]
    return host


def _link(project: Project, link: str) -> str:
    name, _, alias = link.partition(":")
    return f"{project.name}-{name}-1:{alias or name}"


def _mounts(project: Project, volumes: list[Mount]) -> tuple[list[str], list[dict[str, Any]]]:
    binds: list[str] = []
    mounts: list[dict[str, Any]] = []
    for m in volumes:
        if m.type == "bind" and m.bind is not None and m.bind.create_host_path:
            options = ["ro" if m.read_only else "rw"]
            if m.bind.propagation:
                options.append(m.bind.propagation)
            if m.bind.selinux:
                options.append(m.bind.selinux)
            binds.append(f"{m.source}:{m.target}:{','.join(options)}")
            continue
        mount: dict[str, Any] = {"Type": m.type, "Target": m.target, "ReadOnly": m.read_only}
        if m.type == "volume":
            if m.source:
                mount["Source"] = project.volumes[m.source].name
            if m.volume is not None:
                options = {}
                if m.volume.nocopy is not None:
                    options["NoCopy"] = m.volume.nocopy
                if m.volume.subpath:
                    options["Subpath"] = m.volume.subpath
                if options:
                    mount["VolumeOptions"] = options
        elif m.type == "bind":
            mount["Source"] = m.source
            if m.bind is not None and m.bind.propagation:
                mount["BindOptions"] = {"Propagation": m.bind.propagation}
        elif m.type == "tmpfs" and m.tmpfs is not None:
            options = {}
            if m.tmpfs.size is not None:
                options["SizeBytes"] = m.tmpfs.size
            if m.tmpfs.mode is not None:
                options["Mode"] = m.tmpfs.mode
            if options:
                mount["TmpfsOptions"] = options
        mounts.append(mount)
    return binds, mounts


def _healthcheck(service: Service) -> dict[str, Any]:
    check = service.healthcheck
    assert check is not None
    out: dict[str, Any] = {}
    if check.test is not None:
        out["Test"] = list(check.test)
    for key, attr in (
        ("Interval", "interval"),
        ("Timeout", "timeout"),
        ("StartPeriod", "start_period"),
        ("StartInterval", "start_interval"),
        ("Retries", "retries"),
    ):
        value = getattr(check, attr)
        if value is not None:
            out[key] = value
    return out


def _port_key(expose: str) -> str:
    return expose if "/" in expose else f"{expose}/tcp"
