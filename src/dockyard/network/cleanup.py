"""Remove everything a NetworkService made for one state root, without starting one.

For test fixtures and uninstalls, after the daemon is gone: the bridges of every recorded
network, their iptables rules and the published-port rules of every sandbox record, the
containers' veths and the namespace files under exec_root/netns.
"""

from __future__ import annotations

import os

from pyroute2 import IPRoute

from dockyard.fsutil import read_json
from dockyard.network import firewall, links, netns


def _records(directory: str) -> list[dict]:
    if not os.path.isdir(directory):
        return []
    result = []
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(".json"):
            try:
                result.append(read_json(os.path.join(directory, entry)))
            except (OSError, ValueError):
                continue
    return result


def remove_network_state(root: str, exec_root: str) -> None:
    """Tear down the kernel objects recorded under `root` (the service's state directory)."""
    networks = {n["Id"]: n for n in _records(os.path.join(root, "networks"))}
    with IPRoute() as ipr:
        for sandbox in _records(os.path.join(root, "sandboxes")):
            for port in sandbox.get("Ports", []):
                record = networks.get(port["NetworkID"])
                if record:
                    firewall.delete_rules(firewall.published_port_rules(record["Bridge"], port))
            for endpoint in sandbox.get("Endpoints", {}).values():
                if endpoint.get("HostIfName"):
                    links.delete_link(ipr, endpoint["HostIfName"])
        for record in networks.values():
            if record.get("Driver") == "bridge" and record.get("Bridge"):
                firewall.delete_rules(
                    firewall.network_rules(record["Bridge"], record["Subnet"], record["Internal"])
                )
                if not record.get("Adopted"):
                    links.delete_link(ipr, record["Bridge"])
    netns_dir = os.path.join(exec_root, "netns")
    if os.path.isdir(netns_dir):
        for entry in os.listdir(netns_dir):
            netns.remove_netns(os.path.join(netns_dir, entry))
