"""The /etc/hostname, /etc/hosts and /etc/resolv.conf a container gets when no network
driver writes them (Docker bind-mounts these three files from the container's directory).
A container on the host's network gets the host's hostname, /etc/hosts and resolv.conf (with
its --add-host, --dns, --dns-search and --dns-option applied), as with Docker."""

from __future__ import annotations

import os
import re
import socket
from typing import Any

from dockyard.containers.files import write_file as atomic_write

DEFAULT_DNS = ["8.8.8.8", "8.8.4.4"]


def hosts_content(hostname: str, extra_hosts: list[str], ip: str = "") -> str:
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
    ]
    for entry in extra_hosts:
        name, _, addr = entry.partition(":")
        lines.append(f"{addr}\t{name}")
    if ip:
        lines.append(f"{ip}\t{hostname}")
    return "\n".join(lines) + "\n"


def host_network(host_config: dict[str, Any]) -> bool:
    return host_config.get("NetworkMode") == "host"


def default_hostname(container_id: str, host_config: dict[str, Any]) -> str:
    """The hostname of a container created without one: the host's on the host's network."""
    return socket.gethostname() if host_network(host_config) else container_id[:12]


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def host_hosts_content(extra_hosts: list[str], host_hosts: str = "/etc/hosts") -> str:
    """The host's /etc/hosts and the container's extra hosts (on the host's network)."""
    text = _read(host_hosts)
    if text and not text.endswith("\n"):
        text += "\n"
    for entry in extra_hosts:
        name, _, addr = entry.partition(":")
        text += f"{addr}\t{name}\n"
    return text


def resolv_content(host_config: dict[str, Any], host_resolv: str = "/etc/resolv.conf") -> str:
    """Docker's rule: the host's resolv.conf without local nameservers, or Google's. On the
    host's network: the host's resolv.conf as it is, unless DNS options replace parts of it
    (its local nameservers then stay: they answer there)."""
    text = _read(host_resolv)
    on_host = host_network(host_config)
    overrides = any(host_config.get(k) for k in ("Dns", "DnsSearch", "DnsOptions"))
    if on_host and text and not overrides:
        return text if text.endswith("\n") else text + "\n"
    servers = [
        s
        for s in re.findall(r"^\s*nameserver\s+(\S+)", text, re.M)
        if on_host or (not s.startswith("127.") and s != "::1")
    ]
    search = re.findall(r"^\s*search\s+(.+)$", text, re.M)
    options = re.findall(r"^\s*options\s+(.+)$", text, re.M)
    if host_config.get("Dns"):
        servers = list(host_config["Dns"])
    if host_config.get("DnsSearch"):
        search = [" ".join(host_config["DnsSearch"])]
    if host_config.get("DnsOptions"):
        options = [" ".join(host_config["DnsOptions"])]
    out = [f"search {s.strip()}" for s in search[-1:]]
    out += [f"nameserver {s}" for s in (servers or DEFAULT_DNS)]
    out += [f"options {o.strip()}" for o in options[-1:]]
    return "\n".join(out) + "\n"


def write_etc_files(container_dir: str, hostname: str, host_config: dict[str, Any]) -> None:
    atomic_write(os.path.join(container_dir, "hostname"), (hostname + "\n").encode())
    extra_hosts = host_config.get("ExtraHosts") or []
    if host_network(host_config):
        hosts = host_hosts_content(extra_hosts)
    else:
        hosts = hosts_content(hostname, extra_hosts)
    atomic_write(os.path.join(container_dir, "hosts"), hosts.encode())
    atomic_write(os.path.join(container_dir, "resolv.conf"), resolv_content(host_config).encode())


def etc_mounts(container_dir: str, host_config: dict[str, Any]) -> list[dict[str, Any]]:
    ro = ["ro"] if host_config.get("ReadonlyRootfs") else ["rw"]
    return [
        {
            "destination": f"/etc/{name}",
            "type": "bind",
            "source": os.path.join(container_dir, name),
            "options": ["rbind", "rprivate", *ro],
        }
        for name in ("resolv.conf", "hostname", "hosts")
    ]
