"""`dockyard network create/ls/inspect/rm/prune/connect/disconnect`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockyard.cli import formatting as fmt
from dockyard.cli.common import inspect_objects
from dockyard.cli.system import confirm, parse_filter_args
from dockyard.client import APIClient, APIError

HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"


def register(cli: Any) -> None:
    net = cli.group("network", "Manage networks")
    p = cli.command(net, "create", cmd_create, "Create a network")
    p.add_argument("-d", "--driver", default="bridge", help="Driver to manage the Network")
    p.add_argument("--subnet", action="append", default=[], help="Subnet in CIDR format")
    p.add_argument("--gateway", action="append", default=[], help="IPv4 Gateway")
    p.add_argument("--ip-range", action="append", default=[], help="Allocate from a sub-range")
    p.add_argument("--internal", action="store_true", help="Restrict external access")
    p.add_argument("--attachable", action="store_true", help="Enable manual attachment")
    p.add_argument("--ipv6", action="store_true", help="Enable IPv6 networking")
    p.add_argument("--label", action="append", default=[], help="Set metadata on a network")
    p.add_argument("-o", "--opt", action="append", default=[], help="Driver specific options")
    p.add_argument("name")
    p = cli.command(net, "ls", cmd_ls, "List networks", aliases=("list",))
    p.add_argument("-f", "--filter", action="append", default=[], help="Provide filter values")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")
    p = cli.command(net, "inspect", cmd_inspect, "Display detailed information on networks")
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p.add_argument("-v", "--verbose", action="store_true", help="Verbose output for diagnostics")
    p.add_argument("networks", nargs="+")
    p = cli.command(net, "rm", cmd_rm, "Remove one or more networks", aliases=("remove",))
    p.add_argument("-f", "--force", action="store_true", help="Do not error if missing")
    p.add_argument("networks", nargs="+")
    p = cli.command(net, "prune", cmd_prune, "Remove all unused networks")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values")
    p = cli.command(net, "connect", cmd_connect, "Connect a container to a network")
    p.add_argument("--alias", action="append", default=[], help="Add network-scoped alias")
    p.add_argument("--ip", help="IPv4 address")
    p.add_argument("network")
    p.add_argument("container")
    p = cli.command(net, "disconnect", cmd_disconnect, "Disconnect a container from a network")
    p.add_argument("-f", "--force", action="store_true", help="Force the disconnection")
    p.add_argument("network")
    p.add_argument("container")


def _kv(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def cmd_create(client: APIClient, args: argparse.Namespace) -> int:
    configs = []
    for i, subnet in enumerate(args.subnet):
        c = {"Subnet": subnet}
        if i < len(args.gateway):
            c["Gateway"] = args.gateway[i]
        if i < len(args.ip_range):
            c["IPRange"] = args.ip_range[i]
        configs.append(c)
    body = {
        "Name": args.name,
        "Driver": args.driver,
        "Internal": args.internal,
        "Attachable": args.attachable,
        "EnableIPv6": args.ipv6,
        "IPAM": {"Driver": "default", "Config": configs},
        "Options": _kv(args.opt),
        "Labels": _kv(args.label),
    }
    print(client.networks.create(body)["Id"])
    return 0


def cmd_ls(client: APIClient, args: argparse.Namespace) -> int:
    nets = client.networks.list(parse_filter_args(args.filter))
    nets.sort(key=lambda n: n["Name"])
    rows = []
    for n in nets:
        labels = n.get("Labels") or {}
        rows.append(
            {
                "ID": n["Id"] if args.no_trunc else n["Id"][:12],
                "Name": n["Name"],
                "Driver": n.get("Driver", ""),
                "Scope": n.get("Scope", "local"),
                "IPv6": str(bool(n.get("EnableIPv6"))).lower(),
                "Internal": str(bool(n.get("Internal"))).lower(),
                "Labels": ",".join(f"{k}={labels[k]}" for k in sorted(labels)),
                "CreatedAt": n.get("Created", ""),
            }
        )
    sys.stdout.write(
        fmt.render_rows(rows, args.format, TABLE, HEADERS, quiet_field="ID", quiet=args.quiet)
    )
    return 0


def cmd_inspect(client: APIClient, args: argparse.Namespace) -> int:
    return inspect_objects(args.networks, client.networks.inspect, args.format)


def cmd_rm(client: APIClient, args: argparse.Namespace) -> int:
    status = 0
    for name in args.networks:
        try:
            client.networks.remove(name)
            print(name)
        except APIError as exc:
            if args.force and exc.status == 404:
                continue
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            status = 1
    return status


def cmd_prune(client: APIClient, args: argparse.Namespace) -> int:
    if not args.force and not confirm(
        "WARNING! This will remove all custom networks not used by at least one container."
    ):
        return 0
    report = client.networks.prune(parse_filter_args(args.filter))
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        print("Deleted Networks:")
        for n in deleted:
            print(n)
    return 0


def cmd_connect(client: APIClient, args: argparse.Namespace) -> int:
    ep: dict[str, Any] = {}
    if args.alias:
        ep["Aliases"] = args.alias
    if args.ip:
        ep["IPAMConfig"] = {"IPv4Address": args.ip}
    client.networks.connect(args.network, args.container, ep)
    return 0


def cmd_disconnect(client: APIClient, args: argparse.Namespace) -> int:
    client.networks.disconnect(args.network, args.container, args.force)
    return 0
