"""`dockyard volume create/ls/inspect/rm/prune`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockyard.cli import formatting as fmt
from dockyard.cli.common import inspect_objects
from dockyard.cli.system import confirm, parse_filter_args
from dockyard.client import APIClient, APIError

HEADERS = {
    "Driver": "DRIVER",
    "Name": "VOLUME NAME",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
}
DEFAULT_TABLE = "table {{.Driver}}\t{{.Name}}"


def register(cli: Any) -> None:
    vol = cli.group("volume", "Manage volumes")
    p = cli.command(vol, "create", cmd_create, "Create a volume")
    p.add_argument("name", nargs="?", default="")
    p.add_argument("-d", "--driver", default="local", help="Specify volume driver name")
    p.add_argument("--label", action="append", default=[], help="Set metadata for a volume")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")
    p.add_argument("--name", dest="name_opt", help=argparse.SUPPRESS)
    p = cli.command(vol, "ls", cmd_ls, "List volumes", aliases=("list",))
    p.add_argument("-f", "--filter", action="append", default=[], help="Provide filter values")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")
    p = cli.command(vol, "inspect", cmd_inspect, "Display detailed information on volumes")
    p.add_argument("volumes", nargs="+")
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p = cli.command(vol, "rm", cmd_rm, "Remove one or more volumes", aliases=("remove",))
    p.add_argument("volumes", nargs="+")
    p.add_argument("-f", "--force", action="store_true", help="Force the removal")
    p = cli.command(vol, "prune", cmd_prune, "Remove unused local volumes")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused volumes")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values")


def _kv(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if what == "opt" and not sep:
            raise ValueError("invalid key/value pair format in driver options")
        out[k] = v
    return out


def cmd_create(client: APIClient, args: argparse.Namespace) -> int:
    name = args.name or args.name_opt or ""
    if args.name and args.name_opt and args.name != args.name_opt:
        print(
            "Error: conflicting options: either specify --name or provide positional arg, not both",
            file=sys.stderr,
        )
        return 1
    try:
        opts = _kv(args.opt, "opt")
    except ValueError as exc:
        print(f'invalid argument "{args.opt}" for "-o, --opt" flag: {exc}', file=sys.stderr)
        return 125
    vol = client.volumes.create(name or None, args.driver, opts, _kv(args.label, "label"))
    print(vol["Name"])
    return 0


def volume_row(v: dict[str, Any]) -> dict[str, Any]:
    labels = v.get("Labels") or {}
    usage = v.get("UsageData") or {}
    size = usage.get("Size", -1)
    return {
        "Driver": v.get("Driver", ""),
        "Name": v.get("Name", ""),
        "Scope": v.get("Scope", "local"),
        "Mountpoint": v.get("Mountpoint", ""),
        "Labels": ",".join(f"{k}={labels[k]}" for k in sorted(labels)),
        "Label": lambda key: labels.get(key, ""),
        "Links": str(usage.get("RefCount", "N/A")) if usage else "N/A",
        "Size": fmt.human_size(size) if size >= 0 else "N/A",
    }


def cmd_ls(client: APIClient, args: argparse.Namespace) -> int:
    filters = parse_filter_args(args.filter)
    vols = client.volumes.list(filters).get("Volumes") or []
    vols.sort(key=lambda v: v["Name"])
    rows = [volume_row(v) for v in vols]
    if args.format and ("json" in args.format):
        rows = [{k: v for k, v in r.items() if k != "Label"} for r in rows]
    sys.stdout.write(
        fmt.render_rows(
            rows, args.format, DEFAULT_TABLE, HEADERS, quiet_field="Name", quiet=args.quiet
        )
    )
    return 0


def cmd_inspect(client: APIClient, args: argparse.Namespace) -> int:
    return inspect_objects(args.volumes, client.volumes.inspect, args.format)


def cmd_rm(client: APIClient, args: argparse.Namespace) -> int:
    status = 0
    for name in args.volumes:
        try:
            client.volumes.remove(name, args.force)
            print(name)
        except APIError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            status = 1
    return status


def cmd_prune(client: APIClient, args: argparse.Namespace) -> int:
    filters = parse_filter_args(args.filter)
    if args.all:
        filters["all"] = ["true"]
    warning = (
        "WARNING! This will remove all local volumes not used by at least one container."
        if args.all
        else "WARNING! This will remove anonymous local volumes not used by at least one container."
    )
    if not args.force and not confirm(warning):
        return 0
    report = client.volumes.prune(filters)
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        print("Deleted Volumes:")
        for name in deleted:
            print(name)
        print()
    print(f"Total reclaimed space: {fmt.human_size(report.get('SpaceReclaimed', 0))}")
    return 0
