"""The compose file's short syntaxes, parsed to their long forms (plain dicts).

- ports: `[[host_ip:]published:]target[/protocol]` with port ranges, as Docker's
  nat.ParsePortSpec reads them; an integer is a target port.
- volumes: `[source:]target[:options]`; a source starting with `/`, `.` or `~` is a bind
  mount, any other source a named volume, no source an anonymous volume.
- environment, labels, build args, extra_hosts: a list of `KEY=VALUE` or a mapping.
"""

from __future__ import annotations

import ipaddress
import shlex

from dockyard.compose.errors import ComposeError

_PROTOCOLS = ("tcp", "udp", "sctp")
_PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
_CONSISTENCIES = ("consistent", "cached", "delegated")


def scalar_str(value: object) -> str:
    """A YAML scalar as the string compose uses (true -> "true", 1.0 -> "1")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _port_range(text: str, what: str, spec: str) -> tuple[int, int]:
    start_text, _, end_text = text.partition("-")
    try:
        start = int(start_text)
        end = int(end_text) if end_text else start
    except ValueError:
        raise ComposeError(f"invalid {what}: {text}") from None
    if not (0 <= start <= 65535 and 0 <= end <= 65535) or end < start:
        raise ComposeError(f"invalid {what}: {text}")
    return start, end


def parse_port(spec: str | int) -> list[dict]:
    """A short-syntax port as long-syntax dicts (a range gives one dict per port)."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        return [{"target": spec, "protocol": "tcp", "mode": "ingress"}]
    spec = str(spec)
    raw, slash, protocol = spec.rpartition("/")
    if not slash:
        raw, protocol = spec, "tcp"
    protocol = protocol.lower()
    if protocol not in _PROTOCOLS:
        raise ComposeError(f"invalid proto: {protocol}")
    parts = raw.split(":")
    container = parts[-1]
    host_ip, published = "", ""
    if len(parts) == 2:
        published = parts[0]
    elif len(parts) >= 3:
        host_ip, published = ":".join(parts[:-2]), parts[-2]
    if host_ip.startswith("[") and host_ip.endswith("]"):
        host_ip = host_ip[1:-1]
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise ComposeError(f"invalid IP address: {host_ip}") from None
    if not container:
        raise ComposeError(f"no port specified: {spec}<empty>")
    start, end = _port_range(container, "containerPort", spec)
    host_start = host_end = 0
    if published:
        host_start, host_end = _port_range(published, "hostPort", spec)
        if end - start != host_end - host_start and end != start:
            raise ComposeError(
                f"invalid ranges specified for container and host Ports: {container} and "
                f"{published}"
            )
    ports = []
    for offset in range(end - start + 1):
        port: dict = {"target": start + offset, "protocol": protocol, "mode": "ingress"}
        if published:
            if end == start and host_end != host_start:
                port["published"] = published
            else:
                port["published"] = str(host_start + offset)
        if host_ip:
            port["host_ip"] = host_ip
        ports.append(port)
    return ports


def long_port(entry: dict) -> dict:
    """A long-syntax port with compose's defaults filled in."""
    port = {k: v for k, v in entry.items() if not str(k).startswith("x-")}
    port.setdefault("protocol", "tcp")
    port.setdefault("mode", "ingress")
    if "published" in port and port["published"] is not None:
        port["published"] = scalar_str(port["published"])
    if isinstance(port.get("target"), str):
        port["target"] = int(port["target"])
    return port


def ports_of(entries: list) -> list[dict]:
    out: list[dict] = []
    for entry in entries:
        if isinstance(entry, dict):
            out.append(long_port(entry))
        else:
            out.extend(parse_port(entry))
    return out


def port_key(port: dict) -> tuple:
    return (port.get("host_ip"), port.get("target"), port.get("published"), port["protocol"])


def is_bind_source(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or source in (".", "..")


def parse_volume(spec: str) -> dict:
    """A short-syntax volume as a long-syntax dict."""
    parts = spec.split(":")
    if len(parts) > 3:
        raise ComposeError(f"invalid spec: {spec}: too many colons")
    if any(part == "" for part in parts):
        raise ComposeError(f"invalid spec: {spec}: empty section between colons")
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    source, target = parts[0], parts[1]
    volume: dict = {"type": "bind" if is_bind_source(source) else "volume"}
    volume["source"] = source
    volume["target"] = target
    if volume["type"] == "bind":
        volume["bind"] = {"create_host_path": True}
    if len(parts) == 3:
        for option in parts[2].split(","):
            if option == "ro":
                volume["read_only"] = True
            elif option == "rw":
                volume["read_only"] = False
            elif option in ("z", "Z"):
                volume.setdefault("bind", {})["selinux"] = option
            elif option in _PROPAGATIONS:
                volume.setdefault("bind", {})["propagation"] = option
            elif option == "nocopy":
                volume.setdefault("volume", {})["nocopy"] = True
            elif option in _CONSISTENCIES:
                volume["consistency"] = option
            else:
                raise ComposeError(f"invalid spec: {spec}: unknown option: {option}")
    return volume


def volume_target(entry: str | dict) -> str:
    if isinstance(entry, dict):
        return str(entry.get("target", ""))
    return parse_volume(entry)["target"]


def key_values(value: object, *, none_for_bare: bool) -> dict[str, str | None]:
    """A `KEY=VALUE` list or a mapping as a dict.

    A bare `KEY` (no `=`) or a null value is None when none_for_bare (environment, build
    args: taken from the environment later), else "" (labels).
    """
    out: dict[str, str | None] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                out[str(key)] = None if none_for_bare else ""
            else:
                out[str(key)] = scalar_str(item)
        return out
    for item in value or []:
        key, eq, rest = str(item).partition("=")
        out[key] = rest if eq else (None if none_for_bare else "")
    return out


def extra_hosts(value: object) -> list[str]:
    """extra_hosts as Docker's `host:ip` strings."""
    if isinstance(value, dict):
        hosts: list[str] = []
        for host, ips in value.items():
            for ip in ips if isinstance(ips, list) else [ips]:
                hosts.append(f"{host}:{scalar_str(ip)}")
        return hosts
    out = []
    for entry in value or []:
        entry = str(entry)
        if "=" in entry:
            host, _, ip = entry.partition("=")
        else:
            host, _, ip = entry.partition(":")
        out.append(f"{host}:{ip.strip('[]')}")
    return out


def command_list(value: object) -> list[str] | None:
    """command / entrypoint: a string is split as a shell would; a list is kept."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as err:
            raise ComposeError(f"invalid command line {value!r}: {err}") from None
    return [scalar_str(item) for item in value]  # type: ignore[union-attr]
