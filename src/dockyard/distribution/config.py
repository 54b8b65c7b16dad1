"""Registry configuration from daemon.json: `insecure-registries` and `registry-mirrors`.

As in Docker, 127.0.0.0/8 (and so `localhost`) is insecure by default: dockyard speaks plain
HTTP to it (after HTTPS without verification fails). Entries are hosts (`host:port`) or CIDRs.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
DEFAULT_INSECURE_CIDRS = ("127.0.0.0/8", "::1/128")


@dataclass
class RegistryConfig:
    """Which registries are insecure and which mirrors front Docker Hub."""

    insecure_registries: list[str] = field(default_factory=list)
    mirrors: list[str] = field(default_factory=list)

    @classmethod
    def from_daemon_json(cls, conf: dict) -> RegistryConfig:
        insecure = list(conf.get("insecure-registries") or [])
        mirrors = [m.rstrip("/") for m in conf.get("registry-mirrors") or []]
        for entry in insecure:
            if "://" in entry:
                raise ValueError(f"insecure registry {entry} should not contain '://'")
        for m in mirrors:
            if not m.startswith(("http://", "https://")):
                raise ValueError(f"invalid mirror: unsupported scheme in {m!r}")
        return cls(insecure, mirrors)

    def _networks(self) -> list[ipaddress._BaseNetwork]:
        nets = []
        for entry in list(self.insecure_registries) + list(DEFAULT_INSECURE_CIDRS):
            if "/" in entry:
                try:
                    nets.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    pass
        return nets

    def is_insecure(self, host: str) -> bool:
        """True when `host` (`name[:port]`) may be reached over plain HTTP or unverified TLS."""
        if host in self.insecure_registries:
            return True
        hostname = _hostname(host)
        if hostname in self.insecure_registries:
            return True
        nets = self._networks()
        for address in _addresses(hostname):
            if any(address in net for net in nets):
                return True
        return False


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]")[0]
    if host.count(":") == 1:
        return host.split(":")[0]
    return host


def _addresses(hostname: str) -> list[ipaddress._BaseAddress]:
    try:
        return [ipaddress.ip_address(hostname)]
    except ValueError:
        pass
    if hostname == "localhost":
        return [ipaddress.ip_address("127.0.0.1")]
    try:
        infos = socket.getaddrinfo(hostname, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):  # UnicodeError: not a name IDNA can encode
        return []
    out = []
    for info in infos:
        try:
            out.append(ipaddress.ip_address(info[4][0]))
        except ValueError:
            pass
    return out
