"""Container commands: run, create, start, stop, restart, kill, rm, ps, logs, inspect, exec,
attach, top, stats, cp, rename, pause, unpause, wait, port, export, diff, update, prune."""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import time
from typing import Any

from dockyard.cli import formatting as fmt
from dockyard.cli import runopts, stdio
from dockyard.cli.common import write_stream
from dockyard.cli.system import confirm, parse_filter_args
from dockyard.client import APIClient, APIError

PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "Ports": "PORTS",
    "Names": "NAMES",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "State": "STATE",
    "LocalVolumes": "LOCAL VOLUMES",
}
PS_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)


def register(cli: Any) -> None:
    top = cli.top
    grp = cli.group("container", "Manage containers")
    both = ((top, "dockyard"), (grp, "dockyard container"))

    def cmd(
        name: str,
        func: Any,
        help: str,
        aliases: tuple[str, ...] = (),
        mgmt_only: str | None = None,
        add_help: bool = True,
    ) -> list[argparse.ArgumentParser]:
        parsers = []
        for sub, prefix in both:
            n = mgmt_only if (mgmt_only and sub is grp) else name
            if sub is top and mgmt_only and name == mgmt_only:
                continue
            p = sub.add_parser(
                n,
                help=help,
                aliases=list(aliases) if sub is grp else [],
                prog=f"{prefix} {n}",
                add_help=add_help,
            )
            if not add_help:
                p.add_argument("--help", action="help", help="Print usage")
            p.set_defaults(func=func)
            parsers.append(p)
        return parsers

    for p in cmd("run", cmd_run, "Create and run a new container from an image", add_help=False):
        runopts.add_run_flags(p, run=True)
    for p in cmd("create", cmd_create, "Create a new container", add_help=False):
        runopts.add_run_flags(p, run=False)
    for p in cmd("ps", cmd_ps, "List containers", aliases=("ls", "list"), mgmt_only="ls"):
        p.add_argument("-a", "--all", action="store_true", help="Show all containers")
        p.add_argument("-f", "--filter", action="append", default=[], help="Filter output")
        p.add_argument("--format", help="Format output using a custom template")
        p.add_argument("-n", "--last", type=int, default=-1, help="Show n last created")
        p.add_argument("-l", "--latest", action="store_true", help="Show the latest created")
        p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
        p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
        p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    for p in cmd("start", cmd_start, "Start one or more stopped containers"):
        p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR")
        p.add_argument("-i", "--interactive", action="store_true", help="Attach STDIN")
        p.add_argument("--detach-keys", help="Override the key sequence for detaching")
        p.add_argument("containers", nargs="+")
    for name, func, help_ in (
        ("stop", cmd_stop, "Stop one or more running containers"),
        ("restart", cmd_restart, "Restart one or more containers"),
    ):
        for p in cmd(name, func, help_):
            p.add_argument(
                "-t",
                "--time",
                "--timeout",
                dest="time",
                type=int,
                help="Seconds to wait before killing the container",
            )
            p.add_argument("-s", "--signal", help="Signal to send to the container")
            p.add_argument("containers", nargs="+")
    for p in cmd("kill", cmd_kill, "Kill one or more running containers"):
        p.add_argument("-s", "--signal", help="Signal to send to the container")
        p.add_argument("containers", nargs="+")
    for p in cmd("rm", cmd_rm, "Remove one or more containers", aliases=("remove",)):
        p.add_argument("-f", "--force", action="store_true", help="Force the removal")
        p.add_argument("-v", "--volumes", action="store_true", help="Remove anonymous volumes")
        p.add_argument("-l", "--link", action="store_true", help="Remove the specified link")
        p.add_argument("containers", nargs="+")
    for p in cmd("logs", cmd_logs, "Fetch the logs of a container"):
        p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
        p.add_argument("-n", "--tail", default="all", help="Number of lines to show")
        p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
        p.add_argument("--since", help="Show logs since timestamp or relative")
        p.add_argument("--until", help="Show logs before a timestamp or relative")
        p.add_argument("--details", action="store_true", help="Show extra details")
        p.add_argument("container")
    p = cli.command(top, "inspect", cmd_inspect, "Return low-level information on objects")
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    p.add_argument("--type", help="Return JSON for specified type")
    p.add_argument("names", nargs="+")
    p = cli.command(grp, "inspect", cmd_inspect, "Display detailed information on containers")
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    p.set_defaults(type="container")
    p.add_argument("names", nargs="+")
    for p in cmd("exec", cmd_exec, "Execute a command in a running container"):
        p.add_argument("-d", "--detach", action="store_true", help="Detached mode")
        p.add_argument("--detach-keys", help="Override the key sequence for detaching")
        p.add_argument("-e", "--env", action="append", default=[], help="Set environment")
        p.add_argument("--env-file", action="append", default=[], help="Read in env files")
        p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open")
        p.add_argument("--privileged", action="store_true", help="Extended privileges")
        p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
        p.add_argument("-u", "--user", help="Username or UID")
        p.add_argument("-w", "--workdir", help="Working directory inside the container")
        p.add_argument("container")
        p.add_argument("command", nargs=argparse.REMAINDER)
    for p in cmd("attach", cmd_attach, "Attach to a running container"):
        p.add_argument("--detach-keys", help="Override the key sequence for detaching")
        p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
        p.add_argument(
            "--sig-proxy", type=runopts.parse_bool, default=True, help="Proxy all received signals"
        )
        p.add_argument("container")
    for p in cmd("top", cmd_top, "Display the running processes of a container"):
        p.add_argument("container")
        p.add_argument("ps_args", nargs=argparse.REMAINDER)
    for p in cmd("stats", cmd_stats, "Display a live stream of resource usage statistics"):
        p.add_argument("-a", "--all", action="store_true", help="Show all containers")
        p.add_argument("--format", help="Format output using a custom template")
        p.add_argument("--no-stream", action="store_true", help="Disable streaming stats")
        p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
        p.add_argument("containers", nargs="*")
    for p in cmd("cp", cmd_cp, "Copy files/folders between a container and the local fs"):
        p.add_argument("-a", "--archive", action="store_true", help="Archive mode (uid/gid)")
        p.add_argument("-L", "--follow-link", action="store_true", help="Follow symlinks")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output")
        p.add_argument("src")
        p.add_argument("dest")
    for p in cmd("rename", cmd_rename, "Rename a container"):
        p.add_argument("container")
        p.add_argument("new_name")
    for name, func, help_ in (
        ("pause", cmd_pause, "Pause all processes within containers"),
        ("unpause", cmd_unpause, "Unpause all processes"),
    ):
        for p in cmd(name, func, help_):
            p.add_argument("containers", nargs="+")
    for p in cmd("wait", cmd_wait, "Block until containers stop, then print exit codes"):
        p.add_argument("containers", nargs="+")
    for p in cmd("port", cmd_port, "List port mappings for the container"):
        p.add_argument("container")
        p.add_argument("private_port", nargs="?")
    for p in cmd("export", cmd_export, "Export a container's filesystem as a tar archive"):
        p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
        p.add_argument("container")
    for p in cmd("diff", cmd_diff, "Inspect changes to files on a container's filesystem"):
        p.add_argument("container")
    for p in cmd("update", cmd_update, "Update configuration of one or more containers"):
        p.add_argument("-m", "--memory", help="Memory limit")
        p.add_argument("--memory-swap", help="Swap limit")
        p.add_argument("--cpus", help="Number of CPUs")
        p.add_argument("-c", "--cpu-shares", type=int, help="CPU shares")
        p.add_argument("--pids-limit", type=int, help="Tune container pids limit")
        p.add_argument("--restart", help="Restart policy")
        p.add_argument("containers", nargs="+")
    for p in cmd("commit", cmd_commit, "Create a new image from a container's changes"):
        p.add_argument("-a", "--author", help="Author")
        p.add_argument(
            "-c",
            "--change",
            action="append",
            default=[],
            help="Apply Dockerfile instruction to the created image",
        )
        p.add_argument("-m", "--message", help="Commit message")
        p.add_argument(
            "-p",
            "--pause",
            type=lambda v: v.lower() != "false",
            default=True,
            help="Pause container during commit",
        )
        p.add_argument("container")
        p.add_argument("repository", nargs="?")
    p = cli.command(grp, "prune", cmd_prune, "Remove all stopped containers")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values")


# ----------------------------------------------------------------------------- run, create


def _create(client: APIClient, args: argparse.Namespace) -> str:
    try:
        config, host, networking = runopts.build_config(args)
    except (runopts.OptionError, ValueError) as exc:
        raise UsageErr(str(exc)) from None
    body = dict(config, HostConfig=host, NetworkingConfig=networking)
    try:
        result = client.containers.create(body, args.name, args.platform)
    except APIError as exc:
        if exc.status != 404 or "No such image" not in exc.message or args.pull == "never":
            raise
        _pull_for_create(client, args.image)
        result = client.containers.create(body, args.name, args.platform)
    for w in result.get("Warnings") or []:
        print(f"WARNING: {w}", file=sys.stderr)
    return result["Id"]


class UsageErr(Exception):
    pass


def _pull_for_create(client: APIClient, image: str) -> None:
    from dockyard.cli.image import pull_with_progress

    print(f"Unable to find image '{image}' locally", file=sys.stderr)
    pull_with_progress(client, image, out=sys.stderr)


def cmd_create(client: APIClient, args: argparse.Namespace) -> int:
    try:
        print(_create(client, args))
    except UsageErr as exc:
        print(f"dockyard: {exc}", file=sys.stderr)
        return 125
    return 0


def cmd_run(client: APIClient, args: argparse.Namespace) -> int:
    try:
        cid = _create(client, args)
    except UsageErr as exc:
        print(f"dockyard: {exc}\n\nRun 'dockyard run --help' for more information", file=sys.stderr)
        return 125
    except APIError as exc:
        print(f"dockyard: Error response from daemon: {exc.message}", file=sys.stderr)
        return 125
    if args.detach:
        try:
            client.containers.start(cid)
        except APIError as exc:
            print(f"dockyard: Error response from daemon: {exc.message}", file=sys.stderr)
            return 125
        print(cid)
        return 0
    attach_stdin = args.interactive
    sock = client.containers.attach(
        cid, stdin=attach_stdin, stdout=True, stderr=True, stream=True, detach_keys=args.detach_keys
    )
    waiter = client.containers.wait_begin(cid, "removed" if args.rm else "next-exit")
    try:
        client.containers.start(cid)
    except APIError as exc:
        sock.close()
        print(f"dockyard: Error response from daemon: {exc.message}", file=sys.stderr)
        if args.rm:
            try:
                client.containers.remove(cid, force=True)
            except APIError:
                pass
        return 127 if "not found" in exc.message or "no such file" in exc.message else 126
    with (
        stdio.raw_terminal(args.tty and attach_stdin),
        stdio.resize_on_winch(lambda h, w: client.containers.resize(cid, h, w), args.tty),
        stdio.forward_signals(
            lambda sig: client.containers.kill(cid, sig), args.sig_proxy and not args.tty
        ),
    ):
        stdio.pump(sock, args.tty, attach_stdin)
    sock.close()
    try:
        result = waiter.result()
    except APIError as exc:
        if exc.status == 404:
            return 0
        raise
    if (result.get("Error") or {}).get("Message"):
        print(f"dockyard: {result['Error']['Message']}", file=sys.stderr)
    return int(result.get("StatusCode", 0))


# ----------------------------------------------------------------------------- ps


def _ports(ports: list[dict[str, Any]]) -> str:
    out = []
    for p in sorted(ports or [], key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""))):
        if p.get("PublicPort"):
            out.append(
                f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->{p['PrivatePort']}/"
                f"{p.get('Type', 'tcp')}"
            )
        else:
            out.append(f"{p['PrivatePort']}/{p.get('Type', 'tcp')}")
    return ", ".join(dict.fromkeys(out))


def _ellipsis(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def container_row(c: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    labels = c.get("Labels") or {}
    command = c.get("Command", "")
    names = [n.lstrip("/") for n in c.get("Names") or []]
    image = c.get("Image", "")
    if not no_trunc and image.startswith("sha256:"):
        image = image[7:19]
    size = ""
    if c.get("SizeRw") is not None or c.get("SizeRootFs") is not None:
        size = (
            f"{fmt.human_size(c.get('SizeRw') or 0)} (virtual "
            f"{fmt.human_size(c.get('SizeRootFs') or 0)})"
        )
    return {
        "ID": c["Id"] if no_trunc else c["Id"][:12],
        "Image": image,
        "Command": f'"{command if no_trunc else _ellipsis(command, 20)}"',
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(c.get("Created", 0))),
        "RunningFor": fmt.time_ago(c.get("Created", 0)),
        "Status": c.get("Status", ""),
        "State": c.get("State", ""),
        "Ports": _ports(c.get("Ports") or []),
        "Names": ",".join(names),
        "Labels": ",".join(f"{k}={labels[k]}" for k in sorted(labels)),
        "Label": lambda k: labels.get(k, ""),
        "Size": size,
        "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or []),
        "Networks": ",".join(sorted((c.get("NetworkSettings") or {}).get("Networks") or {})),
    }


def cmd_ps(client: APIClient, args: argparse.Namespace) -> int:
    filters = parse_filter_args(args.filter)
    limit = 1 if args.latest else args.last
    show_all = args.all or limit > 0
    cs = client.containers.list(
        all=show_all, filters=filters, size=args.size, limit=limit if limit > 0 else None
    )
    rows = [container_row(c, args.no_trunc) for c in cs]
    table = PS_TABLE + ("\t{{.Size}}" if args.size else "")
    if args.format and "json" in args.format:
        rows = [{k: v for k, v in r.items() if k != "Label"} for r in rows]
    sys.stdout.write(
        fmt.render_rows(rows, args.format, table, PS_HEADERS, quiet_field="ID", quiet=args.quiet)
    )
    return 0


# ----------------------------------------------------------------------------- lifecycle


def _each(refs: list[str], fn: Any, echo: bool = True) -> int:
    status = 0
    for ref in refs:
        try:
            fn(ref)
            if echo:
                print(ref)
        except APIError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            status = 1
    return status


def cmd_start(client: APIClient, args: argparse.Namespace) -> int:
    if args.attach or args.interactive:
        ref = args.containers[0]
        info = client.containers.inspect(ref)
        tty = bool(info["Config"].get("Tty"))
        sock = client.containers.attach(ref, stdin=args.interactive, detach_keys=args.detach_keys)
        client.containers.start(ref)
        with (
            stdio.raw_terminal(tty and args.interactive),
            # docker start -a proxies signals too (it has no flag to turn that off)
            stdio.forward_signals(lambda sig: client.containers.kill(ref, sig), not tty),
        ):
            stdio.pump(sock, tty, args.interactive)
        sock.close()
        return int(client.containers.wait(ref).get("StatusCode", 0))
    return _each(args.containers, client.containers.start)


def cmd_stop(client: APIClient, args: argparse.Namespace) -> int:
    return _each(args.containers, lambda r: client.containers.stop(r, args.time, args.signal))


def cmd_restart(client: APIClient, args: argparse.Namespace) -> int:
    return _each(args.containers, lambda r: client.containers.restart(r, args.time, args.signal))


def cmd_kill(client: APIClient, args: argparse.Namespace) -> int:
    return _each(args.containers, lambda r: client.containers.kill(r, args.signal))


def cmd_rm(client: APIClient, args: argparse.Namespace) -> int:
    return _each(
        args.containers, lambda r: client.containers.remove(r, args.force, args.volumes, args.link)
    )


def cmd_pause(client: APIClient, args: argparse.Namespace) -> int:
    return _each(args.containers, client.containers.pause)


def cmd_unpause(client: APIClient, args: argparse.Namespace) -> int:
    return _each(args.containers, client.containers.unpause)


def cmd_rename(client: APIClient, args: argparse.Namespace) -> int:
    client.containers.rename(args.container, args.new_name)
    return 0


def cmd_wait(client: APIClient, args: argparse.Namespace) -> int:
    status = 0
    for ref in args.containers:
        try:
            print(client.containers.wait(ref).get("StatusCode", 0))
        except APIError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            status = 1
    return status


def cmd_update(client: APIClient, args: argparse.Namespace) -> int:
    from dockyard.units import parse_bytes

    body: dict[str, Any] = {}
    if args.memory:
        body["Memory"] = parse_bytes(args.memory)
    if args.memory_swap:
        body["MemorySwap"] = -1 if args.memory_swap == "-1" else parse_bytes(args.memory_swap)
    if args.cpus:
        body["NanoCpus"] = int(round(float(args.cpus) * 1e9))
    if args.cpu_shares is not None:
        body["CpuShares"] = args.cpu_shares
    if args.pids_limit is not None:
        body["PidsLimit"] = args.pids_limit
    if args.restart:
        body["RestartPolicy"] = runopts._restart(args.restart)
    status = 0
    for ref in args.containers:
        try:
            result = client.containers.update(ref, body) or {}
            for w in result.get("Warnings") or []:
                print(f"WARNING: {w}", file=sys.stderr)
            print(ref)
        except APIError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            status = 1
    return status


def cmd_commit(client: APIClient, args: argparse.Namespace) -> int:
    repo = tag = None
    if args.repository:
        repo, _, tag = (
            args.repository.rpartition(":")
            if ":" in args.repository.rsplit("/", 1)[-1]
            else (args.repository, "", "")
        )
    result = client.transport.request(
        "POST",
        "/commit",
        {
            "container": args.container,
            "repo": repo,
            "tag": tag or None,
            "comment": args.message,
            "author": args.author,
            "changes": args.change or None,
            "pause": args.pause,
        },
        body={},
    )
    print(result["Id"])
    return 0


def cmd_prune(client: APIClient, args: argparse.Namespace) -> int:
    if not args.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    report = client.containers.prune(parse_filter_args(args.filter))
    deleted = report.get("ContainersDeleted") or []
    if deleted:
        print("Deleted Containers:")
        for cid in deleted:
            print(cid)
        print()
    print(f"Total reclaimed space: {fmt.human_size(report.get('SpaceReclaimed', 0))}")
    return 0


# ----------------------------------------------------------------------------- logs


def cmd_logs(client: APIClient, args: argparse.Namespace) -> int:
    from dockyard.cli.system import docker_timestamp
    from dockyard.client.stdcopy import Demuxer

    info = client.containers.inspect(args.container)
    tty = bool(info["Config"].get("Tty"))
    params = {
        "stdout": True,
        "stderr": True,
        "follow": args.follow or None,
        "timestamps": args.timestamps or None,
        "details": args.details or None,
        "tail": args.tail,
        "since": docker_timestamp(args.since) if args.since else None,
        "until": docker_timestamp(args.until) if args.until else None,
    }
    demux = Demuxer()
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for chunk in client.containers.logs(args.container, **params):
        if tty:
            out.write(chunk)
            out.flush()
            continue
        for stream, data in demux.feed(chunk):
            target = err if stream == 2 else out
            target.write(data)
            target.flush()
    return 0


# ----------------------------------------------------------------------------- inspect


def cmd_inspect(client: APIClient, args: argparse.Namespace) -> int:
    found: list[Any] = []
    status = 0
    kinds = [args.type] if args.type else ["container", "image", "volume", "network"]
    for name in args.names:
        for kind in kinds:
            try:
                if kind == "container":
                    found.append(client.containers.inspect(name, size=args.size))
                elif kind == "image":
                    found.append(client.images.inspect(name))
                elif kind == "volume":
                    found.append(client.volumes.inspect(name))
                elif kind == "network":
                    found.append(client.networks.inspect(name))
                break
            except APIError as exc:
                if exc.status not in (404, 400):
                    raise
        else:
            if args.type == "container":
                print(f"Error response from daemon: No such container: {name}", file=sys.stderr)
            else:
                print(f"Error: No such object: {name}", file=sys.stderr)
            status = 1
    if args.format:
        sys.stdout.write(fmt.render_each(found, args.format))
    else:
        sys.stdout.write(fmt.indent_json(found))
    return status


# ----------------------------------------------------------------------------- exec, attach


def cmd_exec(client: APIClient, args: argparse.Namespace) -> int:
    if not args.command:
        print("dockyard: 'exec' requires at least 2 arguments.", file=sys.stderr)
        return 1
    env = []
    for path in args.env_file:
        env += runopts._read_env_file(path)
    env += runopts._env(args.env)
    config = {
        "User": args.user or "",
        "Privileged": args.privileged,
        "Tty": args.tty,
        "AttachStdin": args.interactive and not args.detach,
        "AttachStdout": not args.detach,
        "AttachStderr": not args.detach,
        "Cmd": args.command,
        "Env": env or None,
        "WorkingDir": args.workdir or "",
        "DetachKeys": args.detach_keys or "",
    }
    exec_id = client.exec.create(args.container, config)
    if args.detach:
        client.exec.start_detached(exec_id)
        return 0
    size = stdio.terminal_size() if args.tty else None
    sock = client.exec.start(exec_id, args.tty, list(size) if size else None)
    with (
        stdio.raw_terminal(args.tty and args.interactive),
        stdio.resize_on_winch(lambda h, w: client.exec.resize(exec_id, h, w), args.tty),
    ):
        stdio.pump(sock, args.tty, args.interactive)
    sock.close()
    for _ in range(100):
        info = client.exec.inspect(exec_id)
        if not info.get("Running"):
            return int(info.get("ExitCode") or 0)
        time.sleep(0.02)
    return 0


def cmd_attach(client: APIClient, args: argparse.Namespace) -> int:
    info = client.containers.inspect(args.container)
    tty = bool(info["Config"].get("Tty"))
    stdin = not args.no_stdin and bool(info["Config"].get("OpenStdin"))
    sock = client.containers.attach(args.container, stdin=stdin, detach_keys=args.detach_keys)
    with (
        stdio.raw_terminal(tty and stdin),
        stdio.resize_on_winch(lambda h, w: client.containers.resize(args.container, h, w), tty),
        stdio.forward_signals(
            lambda sig: client.containers.kill(info["Id"], sig), args.sig_proxy and not tty
        ),
    ):
        stdio.pump(sock, tty, stdin)
    sock.close()
    state = client.containers.inspect(args.container)["State"]
    if state.get("Running") and stdin:
        # The daemon ended the stream on the detach keys: docker says so and exits 1.
        sys.stderr.write("read escape sequence\n")
        return 1
    return 0 if state.get("Running") else int(state.get("ExitCode") or 0)


# ----------------------------------------------------------------------------- top, stats


def cmd_top(client: APIClient, args: argparse.Namespace) -> int:
    result = client.containers.top(args.container, " ".join(args.ps_args) or None)
    lines = ["\t".join(result.get("Titles") or [])]
    lines += ["\t".join(p) for p in result.get("Processes") or []]
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell) + 3, 20)
    for row in rows:
        print("".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1])) + row[-1])
    return 0


STATS_HEADERS = {
    "Container": "CONTAINER",
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
STATS_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
    "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
)


def stats_row(ref: str, s: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
        pre.get("cpu_usage") or {}
    ).get("total_usage", 0)
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    ncpu = (
        cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    )
    cpu_perc = cpu_delta / sys_delta * ncpu * 100.0 if sys_delta > 0 and cpu_delta > 0 else 0.0
    mem = s.get("memory_stats") or {}
    mstats = mem.get("stats") or {}
    usage = (mem.get("usage") or 0) - (
        mstats.get("total_inactive_file") or mstats.get("inactive_file") or 0
    )
    limit = mem.get("limit") or 0
    rx = sum(n.get("rx_bytes", 0) for n in (s.get("networks") or {}).values())
    tx = sum(n.get("tx_bytes", 0) for n in (s.get("networks") or {}).values())
    blk_r = blk_w = 0
    for e in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        if (e.get("op") or "").lower() == "read":
            blk_r += e.get("value", 0)
        elif (e.get("op") or "").lower() == "write":
            blk_w += e.get("value", 0)
    cid = s.get("id", "")
    return {
        "Container": ref,
        "ID": cid if no_trunc else cid[:12],
        "Name": (s.get("name") or "").lstrip("/"),
        "CPUPerc": f"{cpu_perc:.2f}%",
        "MemUsage": f"{fmt.bytes_size(max(usage, 0))} / {fmt.bytes_size(limit)}",
        "MemPerc": f"{(usage / limit * 100.0) if limit else 0.0:.2f}%",
        "NetIO": f"{fmt.human_size(rx)} / {fmt.human_size(tx)}",
        "BlockIO": f"{fmt.human_size(blk_r)} / {fmt.human_size(blk_w)}",
        "PIDs": str((s.get("pids_stats") or {}).get("current", 0)),
    }


def cmd_stats(client: APIClient, args: argparse.Namespace) -> int:
    refs = args.containers or [c["Id"] for c in client.containers.list(all=args.all)]
    while True:
        rows = []
        for ref in refs:
            try:
                s = next(iter(client.containers.stats(ref, stream=False)))
            except APIError as exc:
                print(f"Error response from daemon: {exc.message}", file=sys.stderr)
                return 1
            rows.append(stats_row(ref, s, args.no_trunc))
        text = fmt.render_rows(rows, args.format, STATS_TABLE, STATS_HEADERS)
        if args.no_stream:
            sys.stdout.write(text)
            return 0
        sys.stdout.write("\033[2J\033[H" + text)
        sys.stdout.flush()
        time.sleep(1)


# ----------------------------------------------------------------------------- cp, export, diff


def _split_container_path(arg: str) -> tuple[str | None, str]:
    if ":" in arg and not arg.startswith(("/", ".")):
        ref, _, path = arg.partition(":")
        return ref, path
    return None, arg


def cmd_cp(client: APIClient, args: argparse.Namespace) -> int:
    src_ref, src = _split_container_path(args.src)
    dst_ref, dst = _split_container_path(args.dest)
    if bool(src_ref) == bool(dst_ref):
        print(
            "dockyard: copying between containers is not supported"
            if src_ref
            else "dockyard: must specify at least one container source",
            file=sys.stderr,
        )
        return 1
    if src_ref:
        return _cp_from(client, src_ref, src, dst, args.follow_link)
    assert dst_ref is not None
    if args.follow_link and src != "-" and os.path.islink(src):
        # -L: copy what the source link points to, under the link's name
        name = os.path.basename(os.path.normpath(src))
        return _cp_to(client, os.path.realpath(src), dst_ref, dst, args.archive, name)
    return _cp_to(client, src, dst_ref, dst, args.archive)


_GO_MODE_SYMLINK = 1 << 27  # Go's os.ModeSymlink in the path-stat header


def _link_target(client: APIClient, ref: str, src: str) -> str | None:
    """The path a symlink at `src` in the container points to (for cp -L), else None."""
    st = client.containers.archive_stat(ref, src)
    if not st.get("mode", 0) & _GO_MODE_SYMLINK:
        return None
    target = st.get("linkTarget") or ""
    if not target.startswith("/"):
        target = os.path.join(os.path.dirname(src.rstrip("/")) or "/", target)
    return os.path.normpath(target)


def _cp_from(client: APIClient, ref: str, src: str, dst: str, follow_link: bool = False) -> int:
    rebase = None
    if follow_link:
        target = _link_target(client, ref, src)
        if target is not None:
            rebase = os.path.basename(src.rstrip("/"))  # the copy keeps the link's name
            src = target
    data = b"".join(client.containers.archive_get(ref, src))
    if rebase is not None:
        data = _rebase_tar(data, rebase)
    if dst == "-":
        sys.stdout.buffer.write(data)
        return 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        if not members:
            return 0
        root = members[0].name.split("/", 1)[0]
        if os.path.isdir(dst):
            target_dir = dst
            rename = None
        else:
            parent = os.path.dirname(os.path.abspath(dst))
            if not os.path.isdir(parent):
                print(f"dockyard: destination directory {parent} does not exist", file=sys.stderr)
                return 1
            target_dir, rename = parent, os.path.basename(dst)
        for m in members:
            if rename is not None:
                rest = m.name[len(root) :]
                m.name = rename + rest
            tar.extract(m, target_dir, set_attrs=True, filter="tar")
    return 0


def _rebase_tar(data: bytes, name: str) -> bytes:
    """The archive with its top-level entry renamed to `name`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar, tarfile.open(fileobj=out, mode="w") as w:
        for m in tar.getmembers():
            _head, sep, rest = m.name.partition("/")
            m.name = name + sep + rest
            if m.islnk():
                _head, sep, rest = m.linkname.partition("/")
                m.linkname = name + sep + rest
            w.addfile(m, tar.extractfile(m) if m.isfile() else None)
    return out.getvalue()


def _cp_to(
    client: APIClient, src: str, ref: str, dst: str, archive: bool, src_name: str | None = None
) -> int:
    if src == "-":
        client.containers.archive_put(ref, dst, sys.stdin.buffer.read())
        return 0
    if not os.path.exists(src):
        print(f"dockyard: lstat {os.path.abspath(src)}: no such file or directory", file=sys.stderr)
        return 1
    try:
        st = client.containers.archive_stat(ref, dst)
        is_dir = bool(st.get("mode", 0) & (1 << 31))
    except APIError as exc:
        if exc.status != 404:
            raise
        is_dir = False
    if is_dir:
        target, name = dst, src_name or os.path.basename(os.path.normpath(src))
    else:
        target, name = os.path.dirname(dst.rstrip("/")) or "/", os.path.basename(dst.rstrip("/"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def owner(ti: tarfile.TarInfo) -> tarfile.TarInfo:
            if not archive:
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = "root"
            return ti

        tar.add(src, arcname=name, filter=owner)
    client.containers.archive_put(ref, target, buf.getvalue(), copy_uid_gid=archive)
    return 0


def cmd_export(client: APIClient, args: argparse.Namespace) -> int:
    return write_stream(lambda: client.containers.export(args.container), args.output)


def cmd_diff(client: APIClient, args: argparse.Namespace) -> int:
    for change in client.containers.changes(args.container) or []:
        kind = {0: "C", 1: "A", 2: "D"}.get(change.get("Kind"), "?")
        print(f"{kind} {change.get('Path')}")
    return 0


def cmd_port(client: APIClient, args: argparse.Namespace) -> int:
    info = client.containers.inspect(args.container)
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    want = args.private_port
    if want and "/" not in want:
        want += "/tcp"
    lines = []
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        if want and key != want:
            continue
        for b in ports[key] or []:
            host = f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}"
            lines.append(host if want else f"{key} -> {host}")
    if want and not lines:
        print(f"Error: No public port '{want}' published for {args.container}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0
