"""Which networks a container record is attached to, and Docker's rules for changing that.

The record keeps the wanted attachments in `NetworkingConfig.EndpointsConfig` (network name ->
Docker's EndpointSettings as the client sent them: Aliases, IPAMConfig, MacAddress, ...). Since
`NetworksRecorded` is set at create, the network of `HostConfig.NetworkMode` is one of them and
may be disconnected before the container starts, as in Docker; older records imply it.

While a container is not running its `NetworkSettings` is the offline view built here (an
entry per wanted network, no addresses); while it runs, what the network layer reports.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable
from typing import Any

from dockyard.errors import Forbidden, InvalidParameter, NotFound

PREDEFINED = ("bridge", "host", "none")

# Docker's runconfig errors (validation errors: 400)
CONFLICT_HOST_NETWORK = (
    "container cannot be disconnected from host network or connected to host network"
)
CONFLICT_SHARED_NETWORK = (
    "container sharing network namespace with another container or host cannot be connected "
    "to any other network"
)
CONFLICT_NO_NETWORK = (
    "container cannot be connected to multiple networks with one of the networks in private "
    "(none) mode"
)
ALIAS_ON_PREDEFINED = (
    "network-scoped alias is supported only for containers in user defined networks"
)
IP_ON_PREDEFINED = "user specified IP address is supported on user defined networks only"

NetworkLookup = Callable[[str], dict[str, Any]]


def network_mode(record: dict[str, Any]) -> str:
    mode = record["HostConfig"].get("NetworkMode") or "bridge"
    return "bridge" if mode == "default" else mode


def has_own_endpoints(mode: str) -> bool:
    """Bridge networks (the default one and user-defined ones) give a container endpoints."""
    return mode not in ("host", "none") and not mode.startswith("container:")


def wanted(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The networks the container is to be on, name -> EndpointSettings (a copy)."""
    endpoints = copy.deepcopy((record.get("NetworkingConfig") or {}).get("EndpointsConfig") or {})
    mode = network_mode(record)
    if not record.get("NetworksRecorded") and not mode.startswith("container:"):
        endpoints.setdefault(mode, {})
    return endpoints


def record_networks(record: dict[str, Any], endpoints: dict[str, dict[str, Any]]) -> None:
    """Store the wanted networks in the record (the caller saves it)."""
    networking = record.setdefault("NetworkingConfig", {})
    networking["EndpointsConfig"] = endpoints
    record["NetworksRecorded"] = True


def at_create(record: dict[str, Any], lookup: NetworkLookup | None) -> None:
    """Docker's create: the network mode's network joins EndpointsConfig and endpoint
    settings are checked. An unknown network is no error yet (Docker's start reports it: a 404
    here would make the docker CLI try to pull the image)."""
    mode = network_mode(record)
    endpoints = wanted(record)
    if mode.startswith("container:"):
        endpoints = {}
    if lookup is not None:
        named = {}
        for name, settings in endpoints.items():
            try:
                net = lookup(name)
            except NotFound:
                net = {"Name": name, "IPAM": {"Config": []}}
            try:
                check_endpoint_settings(net, settings or {})
            except InvalidParameter as e:
                raise InvalidParameter(f"invalid config for network {name}: {e}") from None
            named[net["Name"]] = settings or {}
        endpoints = named
    record_networks(record, endpoints)
    record["NetworkSettings"] = offline_settings(record, lookup)


def setup_record(
    record: dict[str, Any], lookup: NetworkLookup | None = None
) -> tuple[dict[str, Any], bool]:
    """The record to hand to the network layer at start, and whether the container is on no
    network at all (everything was disconnected before the start: a namespace with `lo`).

    The network layer attaches `HostConfig.NetworkMode` first (ports are published there) and
    then the other EndpointsConfig entries; the first wanted network stands in for a mode
    network that was disconnected."""
    mode = network_mode(record)
    if not has_own_endpoints(mode):
        return record, False
    endpoints = wanted(record)
    view = copy.deepcopy(record)
    view.setdefault("NetworkingConfig", {})["EndpointsConfig"] = endpoints
    name = mode if mode in endpoints else canonical(mode, lookup)
    if name in endpoints:
        view["HostConfig"]["NetworkMode"] = name
        return view, False
    if not endpoints:
        view["HostConfig"]["NetworkMode"] = "none"
        return view, True
    view["HostConfig"]["NetworkMode"] = next(iter(endpoints))
    return view, False


def canonical(network: str, lookup: NetworkLookup | None) -> str:
    """A network's name, given its name, id or id prefix (itself when unknown)."""
    if lookup is None:
        return network
    try:
        return lookup(network)["Name"]
    except NotFound:
        return network


def offline_settings(record: dict[str, Any], lookup: NetworkLookup | None) -> dict[str, Any]:
    """NetworkSettings of a container that is not running: one entry per wanted network with
    its settings and NetworkID but no address, as `docker inspect` shows a created or stopped
    container."""
    previous = (record.get("NetworkSettings") or {}).get("Networks") or {}
    networks = {}
    for name, settings in wanted(record).items():
        settings = settings or {}
        net_id = settings.get("NetworkID") or (previous.get(name) or {}).get("NetworkID") or ""
        if not net_id and lookup is not None:
            try:
                net_id = lookup(name)["Id"]
            except NotFound:
                net_id = ""
        networks[name] = {
            "IPAMConfig": settings.get("IPAMConfig") or None,
            "Links": settings.get("Links") or None,
            "Aliases": settings.get("Aliases") or None,
            "MacAddress": settings.get("MacAddress") or "",
            "DriverOpts": settings.get("DriverOpts") or None,
            "NetworkID": net_id,
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DNSNames": (previous.get(name) or {}).get("DNSNames") or None,
        }
    return {"Networks": networks}


def check_endpoint_settings(net: dict[str, Any], settings: dict[str, Any]) -> None:
    """Docker's validateEndpointSettings: aliases and fixed addresses only on user-defined
    networks, and a fixed address inside the network's subnet."""
    errors = []
    ipam = settings.get("IPAMConfig") or {}
    address = ipam.get("IPv4Address") or ""
    if net["Name"] in PREDEFINED:
        if address or ipam.get("IPv6Address"):
            errors.append(IP_ON_PREDEFINED)
        if settings.get("Aliases"):
            errors.append(ALIAS_ON_PREDEFINED)
    if address:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            errors.append(f"invalid IPv4 address: {address}")
        else:
            subnets = [ipaddress.ip_network(c["Subnet"]) for c in net["IPAM"]["Config"] or []]
            if subnets and not any(ip in s for s in subnets):
                errors.append(f"no configured subnet or ip-range contain the IP address {ip}")
    if errors:
        raise InvalidParameter("invalid endpoint settings:\n" + "\n".join(errors))


def check_connect(record: dict[str, Any], net: dict[str, Any], running: bool) -> bool:
    """Docker's checks before `network connect`; False when there is nothing to do (a
    container that is not running and already has the network)."""
    mode = network_mode(record)
    if mode.startswith("container:"):
        raise InvalidParameter(CONFLICT_SHARED_NETWORK)
    if mode != "host" and net["Driver"] == "host":
        raise InvalidParameter(CONFLICT_HOST_NETWORK)
    current = wanted(record)
    if net["Name"] in current:
        if running:
            name = record["Name"].lstrip("/")
            raise Forbidden(f"endpoint with name {name} already exists in network {net['Name']}")
        return False
    for other in current:
        if mode == "host" or other == "host":
            raise InvalidParameter(CONFLICT_SHARED_NETWORK)
        if other == "none" or net["Name"] == "none":
            raise InvalidParameter(CONFLICT_NO_NETWORK)
    return True


def endpoint_settings_to_keep(settings: dict[str, Any] | None) -> dict[str, Any]:
    """What of a connect request's EndpointSettings the record keeps for the next start."""
    settings = dict(settings or {})
    ipam = {k: v for k, v in (settings.get("IPAMConfig") or {}).items() if v}
    settings["IPAMConfig"] = ipam or None  # the CLI may send empty addresses
    keep = {}
    for key in ("IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts", "NetworkID"):
        if settings.get(key):
            keep[key] = settings[key]
    return keep
