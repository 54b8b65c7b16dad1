"""The handlers of `dockyard compose` commands: each takes the Session and the parsed
arguments, acts through the planner or the engine, prints as Docker Compose v2 does and
returns the exit status.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import signal
import sys
import threading
import time
from collections import defaultdict
from typing import Any

from dockyard.client import APIError
from dockyard.compose import labels as L
from dockyard.compose.cli import Session
from dockyard.compose.errors import ComposeError
from dockyard.compose.logs import LogPrinter, follow_new_starts, stream_all
from dockyard.compose.planner import Planner, UpOptions, name_of, number_of
from dockyard.compose.progress import Progress
from dockyard.compose.spec import create_body

# --- helpers -----------------------------------------------------------------------------


def _planner(session: Session, title: str = "Running", services: list[str] | None = None):  # type: ignore[no-untyped-def]
    project = session.project(services)
    progress = Progress(title)
    planner = Planner(session.engine, project, progress)
    planner.log = lambda line: print(line, file=sys.stderr, flush=True)
    return project, planner, progress


def _scale(values: list[str]) -> dict[str, int]:
    out = {}
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or not count.isdigit():
            raise ComposeError(f"invalid --scale value {value!r}: expected SERVICE=NUM")
        out[name] = int(count)
    return out


def _targets(planner: Planner, services: list[str], oneoff: bool | None = False) -> list[dict]:
    for name in services:
        if name not in planner.project.services:
            raise ComposeError(f"no such service: {name}")
    return planner.containers(services or None, oneoff=oneoff)


def _color(args: argparse.Namespace) -> bool | None:
    """Colour the log prefixes: --no-color and --ansi never say no, --ansi always yes,
    otherwise when stdout is a terminal (None)."""
    if getattr(args, "no_color", False) or args.ansi == "never":
        return False
    return True if args.ansi == "always" else None


def _env_list(values: list[str], environ: dict[str, str]) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if sep:
            out[key] = val
        elif key in environ:
            out[key] = environ[key]
    return out


# --- up / down ---------------------------------------------------------------------------


def up(session: Session, args: argparse.Namespace) -> int:
    project, planner, progress = _planner(session, services=args.services)
    if args.no_recreate and args.force_recreate:
        raise ComposeError("--force-recreate and --no-recreate are incompatible")
    opts = UpOptions(
        services=args.services,
        build=args.build,
        no_build=args.no_build,
        force_recreate=args.force_recreate,
        no_recreate=args.no_recreate,
        no_deps=args.no_deps,
        no_start=args.no_start,
        scale=_scale(args.scale),
        remove_orphans=args.remove_orphans,
        wait=args.wait,
        wait_timeout=args.wait_timeout,
        timeout=args.timeout,
    )
    try:
        order = planner.up(opts)
    finally:
        progress.close()
    if args.detach or args.no_start or args.wait:
        return 0
    return _attach_logs(session, planner, order, args)


def _attach_logs(
    session: Session, planner: Planner, order: list[str], args: argparse.Namespace
) -> int:
    """Foreground `up`: every container's output until they all exit, or Ctrl-C stops them."""
    containers = planner.containers(order)
    names = [name_of(c) for c in containers]
    printer = LogPrinter(names, color=_color(args))
    printer.message(f"Attaching to {', '.join(names)}")
    exited: list[str] = []
    done = threading.Event()
    lock = threading.Lock()

    def on_exit(name: str) -> None:
        try:
            code = session.engine.inspect(name)["State"].get("ExitCode", 0)
            if not stopping.is_set():
                printer.message(f"{name} exited with code {code}")
        except APIError:
            pass
        with lock:
            exited.append(name)
            if len(exited) == len(containers) or args.abort_on_container_exit:
                done.set()

    stopping = threading.Event()
    stream_all(session.engine, printer, containers, follow=True, on_exit=on_exit)
    if not containers:
        return 0
    interrupted = False
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        interrupted = True
        printer.message("Gracefully stopping... (press Ctrl+C again to force)")
    stopping.set()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    live = [
        c for c in reversed(planner.containers(order))
        if c["State"] in ("running", "paused", "restarting")
    ]  # fmt: skip
    progress = Progress("Stopping")
    try:
        for c in live:
            progress.event("Container", name_of(c), "Stopping")
            session.engine.stop(c["Id"], args.timeout)
            progress.event("Container", name_of(c), "Stopped")
    except KeyboardInterrupt:  # Ctrl-C again: kill what is left
        progress.title = "Killing"
        for c in live:
            try:
                session.engine.kill(c["Id"])
                progress.event("Container", name_of(c), "Killed")
            except APIError:
                pass  # already stopped
    finally:
        progress.close()
    return 130 if interrupted else 0


def down(session: Session, args: argparse.Namespace) -> int:
    project, planner, progress = _planner(session)
    try:
        touched = planner.down(
            volumes=args.volumes,
            rmi=args.rmi,
            remove_orphans=args.remove_orphans,
            timeout=args.timeout,
        )
    finally:
        progress.close()
    if not touched:
        print(
            f'Warning: No resource found to remove for project "{project.name}".', file=sys.stderr
        )
    return 0


# --- listing -----------------------------------------------------------------------------


def _ports(c: dict[str, Any]) -> str:
    out = []
    for p in sorted(c.get("Ports") or [], key=lambda p: (p.get("PrivatePort", 0), p.get("IP", ""))):
        if p.get("PublicPort"):
            out.append(
                f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}"
            )
        else:
            out.append(f"{p['PrivatePort']}/{p['Type']}")
    seen: list[str] = []
    for item in out:
        if item not in seen:
            seen.append(item)
    return ", ".join(seen)


def _command(c: dict[str, Any]) -> str:
    text = c.get("Command") or ""
    if len(text) > 20:
        text = text[:19] + "…"
    return json.dumps(text, ensure_ascii=False)


def ps(session: Session, args: argparse.Namespace) -> int:
    from dockyard.cli.formatting import tabwrite, time_ago

    project = session.project()
    planner = Planner(session.engine, project, Progress())
    if args.services:
        print("\n".join(sorted(project.services)))
        return 0
    found = _targets(planner, args.services_, oneoff=None)
    if not args.all:
        found = [c for c in found if c["State"] in ("running", "paused", "restarting")]
    if args.quiet:
        for c in found:
            print(c["Id"])
        return 0
    if args.format == "json":
        print(json.dumps([_ps_json(c) for c in found]))
        return 0
    rows = ["NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS"]
    for c in found:
        rows.append(
            "\t".join(
                [
                    name_of(c),
                    c.get("Image", ""),
                    _command(c),
                    c["Labels"].get(L.SERVICE, ""),
                    time_ago(c.get("Created")),
                    c.get("Status", ""),
                    _ports(c),
                ]
            )
        )
    sys.stdout.write(tabwrite(rows))
    return 0


def _ps_json(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "ID": c["Id"],
        "Name": name_of(c),
        "Image": c.get("Image"),
        "Command": c.get("Command"),
        "Project": c["Labels"].get(L.PROJECT),
        "Service": c["Labels"].get(L.SERVICE),
        "Created": c.get("Created"),
        "State": c.get("State"),
        "Status": c.get("Status"),
        "Health": "",
        "ExitCode": 0,
        "Publishers": [
            {
                "URL": p.get("IP", ""),
                "TargetPort": p.get("PrivatePort"),
                "PublishedPort": p.get("PublicPort", 0),
                "Protocol": p.get("Type"),
            }
            for p in c.get("Ports") or []
        ],
    }


def ls(session: Session, args: argparse.Namespace) -> int:
    from dockyard.cli.formatting import tabwrite

    found = session.engine.containers([L.PROJECT], all=True)
    projects: dict[str, dict[str, Any]] = {}
    for c in found:
        labels = c["Labels"]
        entry = projects.setdefault(
            labels[L.PROJECT], {"states": defaultdict(int), "files": labels.get(L.CONFIG_FILES, "")}
        )
        entry["states"][c["State"]] += 1
    rows = []
    for name in sorted(projects):
        states = projects[name]["states"]
        if not args.all and not states.get("running"):
            continue
        status = ", ".join(f"{s}({n})" for s, n in sorted(states.items()))
        rows.append((name, status, projects[name]["files"]))
    if args.quiet:
        for row in rows:
            print(row[0])
    elif args.format == "json":
        print(json.dumps([{"Name": n, "Status": s, "ConfigFiles": f} for n, s, f in rows]))
    else:
        sys.stdout.write(tabwrite(["NAME\tSTATUS\tCONFIG FILES", *("\t".join(r) for r in rows)]))
    return 0


def images(session: Session, args: argparse.Namespace) -> int:
    from dockyard.cli.formatting import human_size, tabwrite

    project = session.project()
    planner = Planner(session.engine, project, Progress())
    rows = ["CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE"]
    for c in _targets(planner, args.services):
        image = session.engine.image(c["ImageID"]) or {}
        tags = image.get("RepoTags") or ["<none>:<none>"]
        repo, _, tag = tags[0].rpartition(":")
        rows.append(
            "\t".join(
                [
                    name_of(c),
                    repo,
                    tag,
                    image.get("Id", c["ImageID"]).removeprefix("sha256:")[:12],
                    human_size(image.get("Size", 0)),
                ]
            )
        )
    sys.stdout.write(tabwrite(rows))
    return 0


def top(session: Session, args: argparse.Namespace) -> int:
    from dockyard.cli.formatting import tabwrite

    project = session.project()
    planner = Planner(session.engine, project, Progress())
    for c in _targets(planner, args.services):
        if c["State"] != "running":
            continue
        out = session.engine.top(c["Id"])
        print(name_of(c))
        rows = ["\t".join(out.get("Titles") or [])]
        rows += ["\t".join(proc) for proc in out.get("Processes") or []]
        sys.stdout.write(tabwrite(rows))
        print()
    return 0


def port(session: Session, args: argparse.Namespace) -> int:
    project = session.project()
    planner = Planner(session.engine, project, Progress())
    containers = [c for c in _targets(planner, [args.service]) if number_of(c) == args.index]
    if not containers:
        raise ComposeError(f'service "{args.service}" has no container #{args.index}')
    private = args.private_port.split("/")[0]
    protocol = args.private_port.split("/")[1] if "/" in args.private_port else args.protocol
    info = session.engine.inspect(containers[0]["Id"])
    bindings = (info.get("NetworkSettings") or {}).get("Ports") or {}
    for binding in bindings.get(f"{private}/{protocol}") or []:
        print(f"{binding.get('HostIp') or '0.0.0.0'}:{binding['HostPort']}")
        return 0
    raise ComposeError(f"no port {private}/{protocol} for container {name_of(containers[0])}")


def config(session: Session, args: argparse.Namespace) -> int:
    project = session.project()
    if args.quiet:
        return 0
    if args.services:
        text = "".join(f"{name}\n" for name in project.services)
    elif args.volumes:
        text = "".join(f"{name}\n" for name in project.volumes)
    elif args.profiles:
        names = {p for s in [*project.services.values(), *project.disabled_services.values()]
                 for p in s.profiles}  # fmt: skip
        text = "".join(f"{name}\n" for name in sorted(names))
    elif args.images:
        text = "".join(f"{L.image_name(project, s)}\n" for s in project.services.values())
    elif args.format == "json":
        text = json.dumps(project.to_dict(), indent=4) + "\n"
    else:
        text = project.to_yaml()
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def version(session: Session, args: argparse.Namespace) -> int:
    print(f"Dockyard Compose version v{L.COMPOSE_VERSION}")
    return 0


# --- logs --------------------------------------------------------------------------------


def logs(session: Session, args: argparse.Namespace) -> int:
    project = session.project()
    planner = Planner(session.engine, project, Progress())
    containers = _targets(planner, args.services, oneoff=None)
    printer = LogPrinter([name_of(c) for c in containers], color=_color(args))
    if args.no_log_prefix:
        printer.prefix = lambda name: ""  # type: ignore[method-assign]
    tail = None if args.tail in ("all", "-1") else args.tail
    threads = stream_all(
        session.engine, printer, containers, follow=args.follow, tail=tail,
        timestamps=args.timestamps,
    )  # fmt: skip
    if args.follow:
        threads.append(
            follow_new_starts(
                session.engine, printer, project.name, services=args.services or None,
                timestamps=args.timestamps,
                following={t.name.removeprefix("logs-"): t for t in threads},
            )
        )  # fmt: skip
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except KeyboardInterrupt:
        return 130
    return 0


# --- images: build, pull, push -----------------------------------------------------------


def build(session: Session, args: argparse.Namespace) -> int:
    project, planner, progress = _planner(session, "Building")
    if args.quiet:
        planner.log = lambda line: None
    try:
        for name in project.select(args.services or None, with_deps=False):
            service = project.services[name]
            if service.build is not None:
                planner.build(service, no_cache=args.no_cache, pull=args.pull)
    finally:
        progress.close()
    return 0


def pull(session: Session, args: argparse.Namespace) -> int:
    project, planner, progress = _planner(session, "Pulling")
    if args.quiet:
        planner.log = lambda line: None
    failed = 0
    try:
        for name in project.select(args.services or None, with_deps=False):
            service = project.services[name]
            if not service.image:
                continue
            try:
                planner.pull(service)
            except Exception as exc:
                if not args.ignore_pull_failures:
                    raise
                print(f"{name}: {exc}", file=sys.stderr)
                failed += 1
    finally:
        progress.close()
    return 0


def push(session: Session, args: argparse.Namespace) -> int:
    project, planner, progress = _planner(session, "Pushing")
    try:
        for name in project.select(args.services or None, with_deps=False):
            service = project.services[name]
            if service.build is None or not service.image:
                continue
            progress.event("Service", name, "Pushing")
            try:
                for message in session.engine.push(service.image):
                    if message.get("status") and not message.get("progressDetail"):
                        print(f"{name} {message['status']}", file=sys.stderr)
            except Exception:
                progress.event("Service", name, "Error", failed=True)
                if not args.ignore_push_failures:
                    raise
                continue
            progress.event("Service", name, "Pushed")
    finally:
        progress.close()
    return 0


# --- lifecycle of existing containers ----------------------------------------------------


def _each(session: Session, args: argparse.Namespace, title: str, verb: str, done: str,
          act, states: tuple[str, ...] | None = None, reverse: bool = False) -> int:  # type: ignore[no-untyped-def]  # fmt: skip
    project, planner, progress = _planner(session, title)
    containers = _targets(planner, args.services)
    order = project.service_order()
    rank = {name: i for i, name in enumerate(order)}
    containers.sort(key=lambda c: (rank.get(c["Labels"].get(L.SERVICE), 0), number_of(c)))
    if reverse:
        containers.reverse()
    try:
        for c in containers:
            if states is not None and c["State"] not in states:
                continue
            progress.event("Container", name_of(c), verb)
            act(c)
            progress.event("Container", name_of(c), done)
    finally:
        progress.close()
    return 0


def start(session: Session, args: argparse.Namespace) -> int:
    project, planner, progress = _planner(session, "Running")
    try:
        for name in project.select(args.services or None, with_deps=False):
            service = project.services[name]
            planner.wait_dependencies(service, [])
            for c in planner.service_containers(name):
                if c["State"] != "running":
                    planner.start_container(name_of(c))
    finally:
        progress.close()
    return 0


def stop(session: Session, args: argparse.Namespace) -> int:
    return _each(session, args, "Stopping", "Stopping", "Stopped",
                 lambda c: session.engine.stop(c["Id"], args.timeout),
                 states=("running", "paused", "restarting"), reverse=True)  # fmt: skip


def restart(session: Session, args: argparse.Namespace) -> int:
    return _each(session, args, "Restarting", "Restarting", "Started",
                 lambda c: session.engine.restart(c["Id"], args.timeout))  # fmt: skip


def kill(session: Session, args: argparse.Namespace) -> int:
    return _each(session, args, "Killing", "Killing", "Killed",
                 lambda c: session.engine.kill(c["Id"], args.signal),
                 states=("running", "paused", "restarting"), reverse=True)  # fmt: skip


def pause(session: Session, args: argparse.Namespace) -> int:
    return _each(session, args, "Pausing", "Pausing", "Paused",
                 lambda c: session.engine.pause(c["Id"]), states=("running",))  # fmt: skip


def unpause(session: Session, args: argparse.Namespace) -> int:
    return _each(session, args, "Unpausing", "Unpausing", "Unpaused",
                 lambda c: session.engine.unpause(c["Id"]), states=("paused",))  # fmt: skip


def rm(session: Session, args: argparse.Namespace) -> int:
    project, planner, progress = _planner(session, "Removing")
    containers = _targets(planner, args.services)
    if args.stop:
        for c in containers:
            if c["State"] in ("running", "paused", "restarting"):
                progress.event("Container", name_of(c), "Stopping")
                session.engine.stop(c["Id"])
                progress.event("Container", name_of(c), "Stopped")
        containers = _targets(planner, args.services)
    doomed = [c for c in containers if c["State"] not in ("running", "paused", "restarting")]
    if not doomed:
        progress.close()
        print("No stopped containers", file=sys.stderr)
        return 0
    if not args.force:
        names = ", ".join(name_of(c) for c in doomed)
        if not sys.stdin.isatty():
            print(f"Going to remove {names}", file=sys.stderr)
        else:
            answer = input(f"Going to remove {names}\n? Are you sure? (y/N) ")
            if answer.strip().lower() not in ("y", "yes"):
                return 0
    try:
        for c in doomed:
            progress.event("Container", name_of(c), "Removing")
            session.engine.remove(c["Id"], volumes=args.volumes)
            progress.event("Container", name_of(c), "Removed")
    finally:
        progress.close()
    return 0


# --- exec and run ------------------------------------------------------------------------


def exec_(session: Session, args: argparse.Namespace) -> int:
    from dockyard.compose.stdio import pump

    project = session.project()
    planner = Planner(session.engine, project, Progress())
    containers = [c for c in _targets(planner, [args.service]) if number_of(c) == args.index]
    running = [c for c in containers if c["State"] == "running"]
    if not running:
        raise ComposeError(f'service "{args.service}" is not running')
    if not args.command:
        raise ComposeError('"dockyard compose exec" requires at least 2 arguments')
    interactive = not args.detach and not args.no_tty and sys.stdin.isatty()
    tty = interactive
    body: dict[str, Any] = {
        "Cmd": args.command,
        "AttachStdin": interactive,
        "AttachStdout": not args.detach,
        "AttachStderr": not args.detach,
        "Tty": tty,
        "Privileged": args.privileged,
        "Env": [f"{k}={v}" for k, v in _env_list(args.env, dict(project.environment)).items()],
    }
    if args.user:
        body["User"] = args.user
    if args.workdir:
        body["WorkingDir"] = args.workdir
    exec_id = session.engine.exec_create(running[0]["Id"], body)
    if args.detach:
        session.engine.t.request("POST", f"/exec/{exec_id}/start", body={"Detach": True})
        return 0
    with session.engine.exec_start(exec_id, tty=tty) as sock:
        pump(sock, tty=tty, stdin=interactive)
    for _ in range(50):
        info = session.engine.exec_inspect(exec_id)
        if not info.get("Running"):
            return int(info.get("ExitCode") or 0)
        time.sleep(0.05)
    return 0


def run(session: Session, args: argparse.Namespace) -> int:
    from dockyard.compose.stdio import pump

    project, planner, progress = _planner(session, services=[args.service])
    if args.service not in project.services:
        raise ComposeError(f"no such service: {args.service}")
    service = project.services[args.service]
    try:
        needed = project.select([args.service], with_deps=not args.no_deps)
        deps = [name for name in needed if name != args.service]
        planner.ensure_networks(needed)
        planner.ensure_volumes(needed)
        image_ids = planner.ensure_images(needed, build=args.build)
        if deps:
            planner.up(UpOptions(services=deps, no_recreate=False))
            planner.wait_dependencies(service, needed)
    finally:
        progress.close()
    if args.entrypoint is not None:
        service.entrypoint = shlex.split(args.entrypoint)
    if args.user:
        service.user = args.user
    if args.workdir:
        service.working_dir = args.workdir
    interactive = not args.detach and not args.no_tty and sys.stdin.isatty()
    service.tty = interactive
    service.stdin_open = interactive
    if not args.service_ports:
        service.ports = []
    labels = dict(kv.partition("=")[::2] for kv in args.label)
    name = args.name or f"{project.name}-{service.name}-run-{secrets.token_hex(6)}"
    body = create_body(
        project,
        service,
        1,
        oneoff=True,
        image_id=image_ids[args.service],
        command=args.command or None,
        environment=_env_list(args.env, dict(project.environment)),
        labels=labels,
    )
    body["AttachStdin"] = interactive
    body["StdinOnce"] = interactive
    cid = session.engine.create(name, body)
    if args.detach:
        session.engine.start(cid)
        print(name)
        return 0
    try:
        sock = session.engine.attach(cid, stdin=interactive)
        with sock:
            session.engine.start(cid)
            pump(sock, tty=interactive, stdin=interactive)
        code = session.engine.wait(cid)
    finally:
        if args.rm:
            try:
                session.engine.remove(cid, force=True, volumes=True)
            except APIError:
                pass
    return code
