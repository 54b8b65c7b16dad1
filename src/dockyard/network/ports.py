"""Port specs: `docker run -p` parsing and the PortBinding model (stdlib only, cheap to import).

`parse_port_specs(["127.0.0.1:8080:80/tcp", "53/udp"])` returns Docker's `PortBindings` map
(`{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], ...}`), the shape the CLI sends in
`HostConfig.PortBindings`; its keys are the `ExposedPorts`. Errors carry Docker's words
(go-connections' nat.ParsePortSpec).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dockyard.errors import InvalidParameter

PortBindings = dict[str, list[dict[str, str]]]

PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class PortBinding:
    """One container port to publish on the host.

    `host_port_lo == 0` means "any free port"; `host_port_lo < host_port_hi` is a range to pick
    one port from (Docker's `-p 8000-8010:80`).
    """

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port_lo: int = 0
    host_port_hi: int = 0

    @property
    def key(self) -> str:
        """The port key as Docker writes it: `80/tcp`."""
        return f"{self.container_port}/{self.proto}"


def _parse_range(text: str) -> tuple[int, int]:
    """`80` -> (80, 80); `8000-8010` -> (8000, 8010); ValueError when not a valid range."""
    if not text:
        raise ValueError("empty port")
    lo_text, sep, hi_text = text.partition("-")
    lo = _parse_port_number(lo_text)
    hi = _parse_port_number(hi_text) if sep else lo
    if hi < lo:
        raise ValueError("invalid range")
    return lo, hi


def _host_range(host_port: str) -> tuple[int, int]:
    """A host port or range; (0, 0) when empty (any free port)."""
    if not host_port:
        return 0, 0
    try:
        return _parse_range(host_port)
    except ValueError:
        raise InvalidParameter(f"invalid hostPort: {host_port}") from None


def _parse_port_number(text: str) -> int:
    if not text.isdigit():
        raise ValueError(text)
    value = int(text)
    if value > 65535:
        raise ValueError(text)
    return value


def _split_spec(raw: str) -> tuple[str, str, str]:
    """Split `ip:host:container` (ip may be `[v6]`) into its three parts."""
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise InvalidParameter(f"invalid IP address: {raw}")
        ip = raw[1:end]
        rest = raw[end + 1 :].lstrip(":")
        host, _, container = rest.rpartition(":")
        return ip, host, container
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    # an unbracketed IPv6 address: everything but the last two parts
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_port_spec(raw: str) -> PortBindings:
    """Parse one `-p` value into its bindings (several for a range)."""
    spec, _, proto = raw.partition("/")
    proto = proto.lower() if proto else "tcp"
    if proto not in PROTOCOLS:
        raise InvalidParameter(f"invalid proto: {proto}")
    ip, host_port, container_port = _split_spec(spec)
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidParameter(f"invalid IP address: {ip}") from None
    if not container_port:
        raise InvalidParameter(f"no port specified: {raw}<empty>")
    try:
        start, end = _parse_range(container_port)
    except ValueError:
        raise InvalidParameter(f"invalid containerPort: {container_port}") from None
    host_start, host_end = _host_range(host_port)
    if host_port and end - start != host_end - host_start and end != start:
        raise InvalidParameter(
            "invalid ranges specified for container and host Ports: "
            f"{container_port} and {host_port}"
        )
    result: PortBindings = {}
    for offset, port in enumerate(range(start, end + 1)):
        if not host_port:
            hp = ""
        elif end == start and host_end != host_start:
            hp = f"{host_start}-{host_end}"
        else:
            hp = str(host_start + offset)
        result.setdefault(f"{port}/{proto}", []).append({"HostIp": ip, "HostPort": hp})
    return result


def parse_port_specs(specs: Iterable[str]) -> PortBindings:
    """Parse every `-p` value; bindings of the same container port accumulate."""
    result: PortBindings = {}
    for raw in specs:
        for key, bindings in parse_port_spec(raw).items():
            result.setdefault(key, []).extend(bindings)
    return result


def parse_port_key(key: str) -> tuple[int, str]:
    """`80/tcp` -> (80, "tcp"); `80` -> (80, "tcp")."""
    port, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    try:
        number = _parse_port_number(port)
    except ValueError:
        raise InvalidParameter(f"invalid containerPort: {port}") from None
    if proto not in PROTOCOLS:
        raise InvalidParameter(f"invalid proto: {proto}")
    return number, proto


def bindings_from_api(
    port_bindings: Mapping[str, list[Mapping[str, str]] | None],
) -> list[PortBinding]:
    """Turn `HostConfig.PortBindings` into PortBinding objects (validating host ports)."""
    result: list[PortBinding] = []
    for key, entries in (port_bindings or {}).items():
        port, proto = parse_port_key(key)
        for entry in entries or [{}]:
            host_ip = entry.get("HostIp") or ""
            host_port = entry.get("HostPort") or ""
            lo, hi = _host_range(host_port)
            result.append(PortBinding(port, proto, host_ip, lo, hi))
    return result


def exposed_bindings(exposed: Iterable[str], already: Iterable[PortBinding]) -> list[PortBinding]:
    """`-P`: a binding to a free host port for each exposed port that has none yet."""
    bound = {b.key for b in already}
    result = []
    for key in exposed:
        port, proto = parse_port_key(key)
        if f"{port}/{proto}" not in bound:
            result.append(PortBinding(port, proto))
    return result
