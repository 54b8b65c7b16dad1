"""`dockyard version`, `info`, `events` and `system info/df/events/prune`."""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import sys
import time
from typing import Any

from dockyard import __version__
from dockyard.cli import formatting as fmt
from dockyard.client import APIClient, APIError, DaemonUnreachable


def register(cli: Any) -> None:
    top = cli.top
    system = cli.group("system", "Manage dockyard")
    p = cli.command(top, "version", cmd_version, "Show the dockyard version information")
    p.add_argument("-f", "--format", help="Format output using a custom template")
    for sub, prog in ((top, "dockyard info"), (system, "dockyard system info")):
        p = cli.command(sub, "info", cmd_info, "Display system-wide information", prog=prog)
        p.add_argument("-f", "--format", help="Format output using a custom template")
    for sub, prog in ((top, "dockyard events"), (system, "dockyard system events")):
        p = cli.command(
            sub, "events", cmd_events, "Get real time events from the server", prog=prog
        )
        p.add_argument("-f", "--filter", action="append", default=[], help="Filter output")
        p.add_argument("--format", help="Format output using a custom template")
        p.add_argument("--since", help="Show all events created since timestamp")
        p.add_argument("--until", help="Stream events until this timestamp")
    p = cli.command(system, "df", cmd_df, "Show dockyard disk usage")
    p.add_argument("-v", "--verbose", action="store_true", help="Show detailed information")
    p.add_argument("--format", help="Format output using a custom template")
    p = cli.command(system, "prune", cmd_prune, "Remove unused data")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--volumes", action="store_true", help="Prune anonymous volumes")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values")


# ----------------------------------------------------------------------------- version


class GoVersion(dict):
    """A version document that templates may also address by docker's Go field names
    (`{{.Server.APIVersion}}` for the JSON key "ApiVersion"); JSON output is unchanged."""

    GO_NAMES = {"APIVersion": "ApiVersion"}

    def get(self, key: Any, default: Any = None) -> Any:
        if key not in self and key in self.GO_NAMES:
            key = self.GO_NAMES[key]
        return super().get(key, default)


def client_version(client: APIClient) -> dict[str, Any]:
    return GoVersion(
        {
            "Platform": {"Name": ""},
            "Version": __version__,
            "ApiVersion": client.transport.version,
            "DefaultAPIVersion": "1.47",
            "GitCommit": "dockyard",
            "GoVersion": f"python{platform.python_version()}",
            "Os": "linux",
            "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                platform.machine(), platform.machine()
            ),
            "BuildTime": "",
            "Context": "default",
        }
    )


def cmd_version(client: APIClient, args: argparse.Namespace) -> int:
    cv = client_version(client)
    try:
        sv: dict[str, Any] | None = client.system.version()
        err = None
    except (APIError, DaemonUnreachable) as exc:
        sv, err = None, exc
    if args.format:
        server = GoVersion(sv) if sv is not None else None
        sys.stdout.write(fmt.render_each([{"Client": cv, "Server": server}], args.format))
    else:
        lines = [
            "Client:",
            f" Version:\t{cv['Version']}",
            f" API version:\t{cv['ApiVersion']}",
            f" Python version:\t{platform.python_version()}",
            f" Git commit:\t{cv['GitCommit']}",
            f" OS/Arch:\t{cv['Os']}/{cv['Arch']}",
            f" Context:\t{cv['Context']}",
        ]
        print(fmt.tabwrite_plain(lines), end="")
        if sv is not None:
            print()
            name = (sv.get("Platform") or {}).get("Name", "")
            lines = [f"Server: {name}".rstrip()]
            for comp in sv.get("Components") or []:
                d = comp.get("Details") or {}
                lines.append(f" {comp['Name']}:")
                lines.append(f"  Version:\t{comp.get('Version', '')}")
                if comp["Name"] == "Engine":
                    lines += [
                        f"  API version:\t{d.get('ApiVersion', '')} (minimum version "
                        f"{d.get('MinAPIVersion', '')})",
                        f"  Go version:\t{d.get('GoVersion', '')}",
                        f"  Git commit:\t{d.get('GitCommit', '')}",
                        f"  Built:\t{_built(d.get('BuildTime', ''))}",
                        f"  OS/Arch:\t{d.get('Os', '')}/{d.get('Arch', '')}",
                        f"  Experimental:\t{d.get('Experimental', 'false')}",
                    ]
                else:
                    lines.append(f"  GitCommit:\t{d.get('GitCommit', '')}")
            print(fmt.tabwrite_plain(lines), end="")
    if err is not None:
        raise err
    return 0


def _built(value: str) -> str:
    t = fmt.parse_time(value)
    if t is None:
        return value
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))


# ----------------------------------------------------------------------------- info


def cmd_info(client: APIClient, args: argparse.Namespace) -> int:
    if args.format:
        info = client.system.info()
        sys.stdout.write(fmt.render_each([info], args.format))
        return 0
    print("Client:")
    print(f" Version:    {__version__}")
    print(" Context:    default")
    print(f" Debug Mode: {str(bool(args.debug)).lower()}")
    print()
    info = client.system.info()
    print("Server:")
    for line in info_lines(info):
        print(line)
    for w in info.get("Warnings") or []:
        print(w, file=sys.stderr)
    return 0


def info_lines(i: dict[str, Any]) -> list[str]:
    """docker info's server section."""
    out = [
        f" Containers: {i.get('Containers', 0)}",
        f"  Running: {i.get('ContainersRunning', 0)}",
        f"  Paused: {i.get('ContainersPaused', 0)}",
        f"  Stopped: {i.get('ContainersStopped', 0)}",
        f" Images: {i.get('Images', 0)}",
        f" Server Version: {i.get('ServerVersion', '')}",
        f" Storage Driver: {i.get('Driver', '')}",
    ]
    out += [f"  {k}: {v}" for k, v in i.get("DriverStatus") or []]
    out += [
        f" Logging Driver: {i.get('LoggingDriver', '')}",
        f" Cgroup Driver: {i.get('CgroupDriver', '')}",
        f" Cgroup Version: {i.get('CgroupVersion', '')}",
        " Plugins:",
    ]
    plugins = i.get("Plugins") or {}
    for kind in ("Volume", "Network", "Log"):
        out.append(f"  {kind}: {' '.join(plugins.get(kind) or [])}")
    swarm = (i.get("Swarm") or {}).get("LocalNodeState", "inactive")
    out += [
        f" Swarm: {swarm}",
        f" Runtimes: {' '.join(sorted(i.get('Runtimes') or {}))}",
        f" Default Runtime: {i.get('DefaultRuntime', '')}",
        f" Init Binary: {i.get('InitBinary', '')}",
        " Security Options:",
    ]
    for opt in i.get("SecurityOptions") or []:
        parts = dict(kv.split("=", 1) for kv in opt.split(",") if "=" in kv)
        out.append(f"  {parts.get('name', opt)}")
        for k, v in parts.items():
            if k != "name":
                out.append(f"   {k.capitalize()}: {v}")
    out += [
        f" Kernel Version: {i.get('KernelVersion', '')}",
        f" Operating System: {i.get('OperatingSystem', '')}",
        f" OSType: {i.get('OSType', '')}",
        f" Architecture: {i.get('Architecture', '')}",
        f" CPUs: {i.get('NCPU', 0)}",
        f" Total Memory: {fmt.bytes_size(i.get('MemTotal', 0))}",
        f" Name: {i.get('Name', '')}",
        f" ID: {i.get('ID', '')}",
        f" Docker Root Dir: {i.get('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(i.get('Debug'))).lower()}",
    ]
    for key, label in (
        ("HttpProxy", "HTTP Proxy"),
        ("HttpsProxy", "HTTPS Proxy"),
        ("NoProxy", "No Proxy"),
    ):
        if i.get(key):
            out.append(f" {label}: {i[key]}")
    if i.get("Labels"):
        out.append(" Labels:")
        out += [f"  {lab}" for lab in i["Labels"]]
    out.append(f" Experimental: {str(bool(i.get('ExperimentalBuild'))).lower()}")
    reg = i.get("RegistryConfig") or {}
    insecure = [n for n, c in (reg.get("IndexConfigs") or {}).items() if not c.get("Secure")]
    insecure += reg.get("InsecureRegistryCIDRs") or []
    if insecure:
        out.append(" Insecure Registries:")
        out += [f"  {r}" for r in insecure]
    if reg.get("Mirrors"):
        out.append(" Registry Mirrors:")
        out += [f"  {m}" for m in reg["Mirrors"]]
    out.append(f" Live Restore Enabled: {str(bool(i.get('LiveRestoreEnabled'))).lower()}")
    return out


# ----------------------------------------------------------------------------- events

_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+\Z", re.ASCII)
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def docker_timestamp(value: str, now: float | None = None) -> str:
    """docker's timetypes.GetTimestamp: a Go duration (relative to now), an RFC 3339 date or
    a unix timestamp, as "seconds.nanoseconds"."""
    now = time.time() if now is None else now
    v = value.strip()
    if _DURATION_RE.match(v):
        total = sum(
            float(n) * _UNIT_SECONDS[u]
            for n, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", v)
        )
        t = now - total
        return f"{int(t)}.{int(round((t - int(t)) * 1e9)):09d}"
    if re.fullmatch(r"\d+(\.\d+)?", v):
        return v
    t = fmt.parse_time(v if "T" in v or len(v) <= 10 else v.replace(" ", "T", 1))
    if t is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        t = fmt.parse_time(v + "T00:00:00")
    if t is None:
        raise ValueError(f'failed to parse value as time or duration: "{value}"')
    return f"{int(t)}.{int(round((t - int(t)) * 1e9)):09d}"


def event_line(ev: dict[str, Any]) -> str:
    ns = ev.get("timeNano") or ev.get("time", 0) * 1_000_000_000
    dt = datetime.datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    stamp = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}"
    off = dt.strftime("%z")
    stamp += "Z" if off in ("+0000", "") else f"{off[:3]}:{off[3:]}"
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    line = f"{stamp} {ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}"
    if attrs:
        line += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return line


def parse_filter_args(values: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for f in values:
        key, sep, value = f.partition("=")
        if not sep:
            raise ValueError("bad format of filter (expected name=value)")
        filters.setdefault(key.strip().lower() if key != "label!" else key, []).append(value)
    return filters


def cmd_events(client: APIClient, args: argparse.Namespace) -> int:
    try:
        since = docker_timestamp(args.since) if args.since else None
        until = docker_timestamp(args.until) if args.until else None
        filters = parse_filter_args(args.filter)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    out = sys.stdout
    for ev in client.system.events(since, until, filters):
        if args.format:
            out.write(fmt.render_each([ev], args.format))
        else:
            out.write(event_line(ev) + "\n")
        out.flush()
    return 0


# ----------------------------------------------------------------------------- df, prune


def cmd_df(client: APIClient, args: argparse.Namespace) -> int:
    if args.verbose:
        print("dockyard: system df --verbose is not supported", file=sys.stderr)
        return 1
    df = client.system.df()
    images = df.get("Images") or []
    containers = df.get("Containers") or []
    volumes = df.get("Volumes") or []
    cache = df.get("BuildCache") or []
    img_active = sum(1 for i in images if (i.get("Containers") or 0) > 0)
    img_size = df.get("LayersSize") or sum(i.get("Size", 0) for i in images)
    img_recl = sum(
        i.get("Size", 0) - i.get("SharedSize", 0)
        if i.get("SharedSize", -1) >= 0
        else i.get("Size", 0)
        for i in images
        if not i.get("Containers")
    )
    c_active = sum(1 for c in containers if c.get("State") in ("running", "paused", "restarting"))
    c_size = sum(c.get("SizeRw", 0) or 0 for c in containers)
    c_recl = sum(c.get("SizeRw", 0) or 0 for c in containers if c.get("State") != "running")
    v_active = sum(1 for v in volumes if (v.get("UsageData") or {}).get("RefCount", 0) > 0)
    v_size = sum(max(0, (v.get("UsageData") or {}).get("Size", 0)) for v in volumes)
    v_recl = sum(
        max(0, (v.get("UsageData") or {}).get("Size", 0))
        for v in volumes
        if (v.get("UsageData") or {}).get("RefCount", 0) == 0
    )
    b_size = sum(b.get("Size", 0) for b in cache)
    b_recl = sum(b.get("Size", 0) for b in cache if not b.get("InUse"))

    def pct(r: int, total: int) -> str:
        return f"{fmt.human_size(r)} ({int(r * 100 / total)}%)" if total else fmt.human_size(r)

    rows = [
        {
            "Type": "Images",
            "TotalCount": str(len(images)),
            "Active": str(img_active),
            "Size": fmt.human_size(img_size),
            "Reclaimable": pct(img_recl, img_size),
        },
        {
            "Type": "Containers",
            "TotalCount": str(len(containers)),
            "Active": str(c_active),
            "Size": fmt.human_size(c_size),
            "Reclaimable": pct(c_recl, c_size),
        },
        {
            "Type": "Local Volumes",
            "TotalCount": str(len(volumes)),
            "Active": str(v_active),
            "Size": fmt.human_size(v_size),
            "Reclaimable": pct(v_recl, v_size),
        },
        {
            "Type": "Build Cache",
            "TotalCount": str(len(cache)),
            "Active": "0",
            "Size": fmt.human_size(b_size),
            "Reclaimable": fmt.human_size(b_recl),
        },
    ]
    headers = {
        "Type": "TYPE",
        "TotalCount": "TOTAL",
        "Active": "ACTIVE",
        "Size": "SIZE",
        "Reclaimable": "RECLAIMABLE",
    }
    sys.stdout.write(
        fmt.render_rows(
            rows,
            args.format,
            "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
            headers,
        )
    )
    return 0


def confirm(message: str) -> bool:
    sys.stdout.write(message + "\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def cmd_prune(client: APIClient, args: argparse.Namespace) -> int:
    items = ["all stopped containers", "all networks not used by at least one container"]
    if args.volumes:
        items.append("all anonymous volumes not used by at least one container")
    items += [
        "all images without at least one container associated to them"
        if args.all
        else "all dangling images",
        "unused build cache",
    ]
    warning = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
    if not args.force and not confirm(warning):
        return 0
    try:
        filters = parse_filter_args(args.filter)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    total = 0
    steps: list[tuple[str, str, str, dict[str, list[str]]]] = [
        ("/containers/prune", "ContainersDeleted", "Deleted Containers:", filters),
        ("/networks/prune", "NetworksDeleted", "Deleted Networks:", filters),
    ]
    if args.volumes:
        steps.append(("/volumes/prune", "VolumesDeleted", "Deleted Volumes:", filters))
    img_filters = dict(filters)
    img_filters["dangling"] = ["false" if args.all else "true"]
    steps.append(("/images/prune", "ImagesDeleted", "Deleted Images:", img_filters))
    steps.append(
        (
            "/build/prune",
            "CachesDeleted",
            "Deleted build cache objects:",
            {**filters, **({"all": ["true"]} if args.all else {})},
        )
    )
    for path, key, title, f in steps:
        try:
            report = client.transport.request("POST", path, {"filters": f or None})
        except APIError as exc:
            if exc.status == 404 and exc.message == "page not found":
                continue  # this daemon has no such objects yet
            raise
        deleted = (report or {}).get(key) or []
        if deleted:
            print(title)
            for d in deleted:
                if isinstance(d, dict):
                    for k, v in d.items():
                        print(f"{k}: {v}")
                else:
                    print(d)
            print()
        total += (report or {}).get("SpaceReclaimed", 0) or 0
    print(f"Total reclaimed space: {fmt.human_size(total)}")
    return 0
