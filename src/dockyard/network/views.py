"""Docker's JSON shapes for networks (`GET /networks/{id}`) and a container's
`NetworkSettings` (`GET /containers/{id}/json`), built from the service's records."""

from __future__ import annotations

from typing import Any


def network_view(record: dict, members: list[tuple[str, dict]]) -> dict[str, Any]:
    """A network record and its (container id, endpoint) members as Docker shows them."""
    config = []
    if record["Subnet"]:
        entry = {"Subnet": record["Subnet"], "Gateway": record["Gateway"]}
        if record.get("IPRange"):
            entry["IPRange"] = record["IPRange"]
        config.append(entry)
    containers = {
        cid: {
            "Name": ep["Name"],
            "EndpointID": ep["EndpointID"],
            "MacAddress": ep["MacAddress"],
            "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}" if ep["IPAddress"] else "",
            "IPv6Address": "",
        }
        for cid, ep in members
    }
    return {
        "Name": record["Name"],
        "Id": record["Id"],
        "Created": record["Created"],
        "Scope": "local",
        "Driver": record["Driver"],
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": None if record["Driver"] != "bridge" else {},
            "Config": config,
        },
        "Internal": record["Internal"],
        "Attachable": record["Attachable"],
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(record["Options"]),
        "Labels": dict(record["Labels"]),
    }


def endpoint_view(net_id: str, ep: dict) -> dict[str, Any]:
    """One entry of NetworkSettings.Networks."""
    return {
        "IPAMConfig": ep["IPAMConfig"],
        "Links": None,
        "Aliases": ep["Aliases"] or None,
        "MacAddress": ep["MacAddress"],
        "DriverOpts": None,
        "NetworkID": net_id,
        "EndpointID": ep["EndpointID"],
        "Gateway": ep["Gateway"],
        "IPAddress": ep["IPAddress"],
        "IPPrefixLen": ep["IPPrefixLen"],
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": ep["DNSNames"],
    }


def network_settings_view(sandbox: dict) -> dict[str, Any]:
    """A container's NetworkSettings; the top-level address fields are those of its endpoint
    on the default `bridge` network (Docker's legacy fields), empty otherwise."""
    networks = {}
    legacy: dict[str, Any] = {}
    for net_id, ep in sandbox["Endpoints"].items():
        networks[ep["NetworkName"]] = endpoint_view(net_id, ep)
        if ep["NetworkName"] == "bridge":
            legacy = ep
    ports: dict[str, Any] = {key: None for key in sandbox["Exposed"]}
    for p in sandbox["Ports"]:
        ports[p["Key"]] = (ports.get(p["Key"]) or []) + [
            {"HostIp": p["HostIp"], "HostPort": str(p["HostPort"])}
        ]
    return {
        "Bridge": "",
        "SandboxID": sandbox["SandboxID"] if sandbox["NetnsPath"] else "",
        "SandboxKey": sandbox["NetnsPath"],
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": legacy.get("EndpointID", ""),
        "Gateway": legacy.get("Gateway", ""),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": legacy.get("IPAddress", ""),
        "IPPrefixLen": legacy.get("IPPrefixLen", 0),
        "IPv6Gateway": "",
        "MacAddress": legacy.get("MacAddress", ""),
        "Networks": networks,
    }
