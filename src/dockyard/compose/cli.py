"""`dockyard compose`: Docker Compose v2's command line on argparse.

    dockyard compose [-f FILE]... [-p NAME] [--env-file F]... [--profile P]...
                     [--project-directory D] COMMAND [ARGS]

`add_compose(subparsers)` adds the `compose` command and its subcommands to a parser tree
(dockyard's CLI registers it through dockyard.cli.compose); each subcommand's handler is in
commands.py and gets a Session: the engine, and the project loaded from the options.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.client import APIClient
from dockyard.compose.engine import Engine
from dockyard.compose.errors import ComposeError

if TYPE_CHECKING:
    from dockyard.compose.model import Project


@dataclass
class Session:
    """What a command works with: the engine and the project options."""

    engine: Engine
    args: argparse.Namespace

    def project(self, services: list[str] | None = None) -> Project:
        """The project from its files; with -p and no file found, from what the engine has
        (as Docker Compose does for `down`, `ps`, `logs`, ... of a project by name)."""
        from dockyard.compose.loader import load_project

        a = self.args
        try:
            project = load_project(
                a.file or None,
                project_name=a.project_name,
                env_file=a.env_file or None,
                profiles=a.profile or None,
                working_dir=a.project_directory,
                services=services or None,
            )
        except ComposeError as exc:
            if a.file or not a.project_name or not str(exc).startswith("no configuration file"):
                raise
            from dockyard.compose.discover import project_from_engine

            return project_from_engine(self.engine, a.project_name)
        for warning in project.warnings:
            print(f"WARN[0000] {warning}", file=sys.stderr)
        return project


def _handler(name: str):  # type: ignore[no-untyped-def]
    def run(client: APIClient, args: argparse.Namespace) -> int:
        from dockyard.compose import commands

        session = Session(Engine(client), args)
        try:
            return int(getattr(commands, name)(session, args) or 0)
        except ComposeError as exc:
            print(str(exc), file=sys.stderr)
            return 1

    return run


def _timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--timeout", type=int, help="Specify a shutdown timeout in seconds")


def add_compose(top: argparse._SubParsersAction, parser_class: type | None = None) -> None:
    """Add `compose` and its subcommands to a subparsers action."""
    kwargs = {"parser_class": parser_class} if parser_class else {}
    compose = top.add_parser(
        "compose", help="Define and run multi-container applications", prog="dockyard compose"
    )
    compose.add_argument(
        "-f", "--file", action="append", default=[], help="Compose configuration files"
    )
    compose.add_argument("-p", "--project-name", help="Project name")
    compose.add_argument(
        "--env-file", action="append", default=[], help="Specify an alternate environment file"
    )
    compose.add_argument(
        "--profile", action="append", default=[], help="Specify a profile to enable"
    )
    compose.add_argument("--project-directory", help="Specify an alternate working directory")
    compose.add_argument("--ansi", choices=["never", "always", "auto"], default="auto")
    compose.set_defaults(func=lambda client, args: _help(compose))
    sub = compose.add_subparsers(dest="compose_command", metavar="COMMAND", **kwargs)

    def cmd(name: str, help: str, handler: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, prog=f"dockyard compose {name}")
        p.set_defaults(func=_handler(handler or name))
        return p

    p = cmd("up", "Create and start containers")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--build", action="store_true")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--force-recreate", action="store_true")
    p.add_argument("--no-recreate", action="store_true")
    p.add_argument("--no-deps", action="store_true")
    p.add_argument("--no-start", action="store_true")
    p.add_argument("--scale", action="append", default=[], metavar="SERVICE=NUM")
    p.add_argument("--wait", action="store_true")
    p.add_argument("--wait-timeout", type=float)
    p.add_argument("--remove-orphans", action="store_true")
    p.add_argument("--abort-on-container-exit", action="store_true")
    p.add_argument("--no-color", action="store_true")
    _timeout(p)
    p.add_argument("services", nargs="*")

    p = cmd("down", "Stop and remove containers, networks")
    p.add_argument("-v", "--volumes", action="store_true")
    p.add_argument("--rmi", choices=["local", "all"])
    p.add_argument("--remove-orphans", action="store_true")
    _timeout(p)

    p = cmd("ps", "List containers")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--services", action="store_true")
    p.add_argument("--format", default="table")
    p.add_argument("services_", nargs="*", metavar="SERVICE")

    p = cmd("logs", "View output from containers")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--no-color", action="store_true")
    p.add_argument("--no-log-prefix", action="store_true")
    p.add_argument("services", nargs="*")

    p = cmd("build", "Build or rebuild services")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--pull", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("services", nargs="*")

    p = cmd("pull", "Pull service images")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--ignore-pull-failures", action="store_true")
    p.add_argument("services", nargs="*")

    p = cmd("push", "Push service images")
    p.add_argument("--ignore-push-failures", action="store_true")
    p.add_argument("services", nargs="*")

    p = cmd("exec", "Execute a command in a running container", "exec_")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-u", "--user")
    p.add_argument("-w", "--workdir")
    p.add_argument("--index", type=int, default=1)
    p.add_argument("--privileged", action="store_true")
    p.add_argument("service")
    p.add_argument("command", nargs=argparse.REMAINDER)

    p = cmd("run", "Run a one-off command on a service")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--rm", action="store_true")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("-u", "--user")
    p.add_argument("-w", "--workdir")
    p.add_argument("--name")
    p.add_argument("--entrypoint")
    p.add_argument("--no-deps", action="store_true")
    p.add_argument("-P", "--service-ports", action="store_true")
    p.add_argument("--build", action="store_true")
    p.add_argument("service")
    p.add_argument("command", nargs=argparse.REMAINDER)

    for name, help in (
        ("start", "Start services"),
        ("stop", "Stop services"),
        ("restart", "Restart service containers"),
        ("pause", "Pause services"),
        ("unpause", "Unpause services"),
        ("top", "Display the running processes"),
        ("images", "List images used by the created containers"),
    ):
        p = cmd(name, help)
        if name in ("stop", "restart"):
            _timeout(p)
        p.add_argument("services", nargs="*")

    p = cmd("kill", "Force stop service containers")
    p.add_argument("-s", "--signal", default="SIGKILL")
    p.add_argument("--remove-orphans", action="store_true")
    p.add_argument("services", nargs="*")

    p = cmd("rm", "Removes stopped service containers")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-s", "--stop", action="store_true")
    p.add_argument("-v", "--volumes", action="store_true")
    p.add_argument("services", nargs="*")

    p = cmd("config", "Parse, resolve and render compose file in canonical format")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--services", action="store_true")
    p.add_argument("--volumes", action="store_true")
    p.add_argument("--profiles", action="store_true")
    p.add_argument("--images", action="store_true")
    p.add_argument("--format", choices=["yaml", "json"], default="yaml")
    p.add_argument("-o", "--output")

    p = cmd("port", "Print the public port for a port binding")
    p.add_argument("--protocol", default="tcp")
    p.add_argument("--index", type=int, default=1)
    p.add_argument("service")
    p.add_argument("private_port")

    p = cmd("ls", "List running compose projects")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = cmd("version", "Show the Docker Compose version information")


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0
