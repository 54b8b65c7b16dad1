"""`dockyard`: docker's command grammar on argparse.

    dockyard [-H HOST] [-l LEVEL] COMMAND [ARGS]

Management commands (`volume`, `system`, `image`, `container`, `network`, `registry`) hold
subcommands; the short forms (`ps`, `images`, `run`, `info`, `events`, ...) are aliases.
`dockyard daemon ...` and `dockyard registry serve ...` hand their arguments to the daemon
and the registry server, imported only then. Command modules import only the stdlib and the
client, so `dockyard ps` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable

from dockyard.client import APIClient, APIError, ClientError, DaemonUnreachable, StreamError

# Modules that register commands, in help order (each has `register(cli: CLI)`), with the
# command words each one adds: a command line imports only the modules of its command (the
# compose commands pull in YAML and JSON-schema, which `dockyard ps` must not pay for).
COMMAND_MODULES: dict[str, set[str]] = {
    "dockyard.cli.system": {"version", "info", "events", "system"},
    "dockyard.cli.volume": {"volume"},
    "dockyard.cli.image": {
        "images",
        "pull",
        "push",
        "tag",
        "rmi",
        "save",
        "load",
        "import",
        "history",
        "login",
        "logout",
        "image",
    },
    "dockyard.cli.container": {
        "run",
        "create",
        "ps",
        "start",
        "stop",
        "restart",
        "kill",
        "rm",
        "logs",
        "inspect",
        "exec",
        "attach",
        "top",
        "stats",
        "cp",
        "rename",
        "pause",
        "unpause",
        "wait",
        "port",
        "export",
        "diff",
        "update",
        "commit",
        "container",
    },
    "dockyard.cli.network": {"network"},
    "dockyard.cli.build": {"build", "image", "builder"},
    "dockyard.cli.compose": {"compose"},
}


class UsageError(Exception):
    """A command line that docker would refuse before talking to the daemon."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: {message}\nSee '{self.prog} --help'.", file=sys.stderr)
        sys.exit(125 if " run" in self.prog or " create" in self.prog else 1)


Handler = Callable[[APIClient, argparse.Namespace], int | None]


class CLI:
    """The parser tree; command modules add to it."""

    def __init__(self) -> None:
        self.parser = _Parser(
            prog="dockyard",
            description="A self-sufficient runtime for containers",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.parser.add_argument(
            "-H", "--host", action="append", help="Daemon socket to connect to"
        )
        self.parser.add_argument(
            "-l",
            "--log-level",
            choices=["debug", "info", "warn", "error", "fatal"],
            default="info",
            help='Set the logging level (default "info")',
        )
        self.parser.add_argument("-D", "--debug", action="store_true", help="Enable debug mode")
        self.parser.add_argument(
            "-v", "--version", action="store_true", help="Print version information and quit"
        )
        self.top = self.parser.add_subparsers(
            dest="command", metavar="COMMAND", parser_class=_Parser
        )
        self.groups: dict[str, argparse._SubParsersAction] = {}

    def group(self, name: str, help: str) -> argparse._SubParsersAction:
        """A management command (`volume`, `image`, ...) and its subcommands."""
        if name not in self.groups:
            p = self.top.add_parser(name, help=help, prog=f"dockyard {name}")
            p.set_defaults(func=lambda client, args, p=p: _group_help(p))
            self.groups[name] = p.add_subparsers(
                dest="subcommand", metavar="COMMAND", parser_class=_Parser
            )
        return self.groups[name]

    def command(
        self,
        sub: argparse._SubParsersAction,
        name: str,
        func: Handler,
        help: str,
        aliases: tuple[str, ...] = (),
        prog: str = "",
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=help, aliases=list(aliases), prog=prog or f"{sub._prog_prefix} {name}"
        )
        p.set_defaults(func=func)
        return p


def _group_help(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 0


def build_cli(command: str | None = None) -> CLI:
    """The parser with the modules `command` needs (all of them when None or unknown)."""
    cli = CLI()
    wanted = [m for m, words in COMMAND_MODULES.items() if command in words]
    for name in wanted or list(COMMAND_MODULES):
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        mod.register(cli)
    return cli


def _command_word(argv: list[str]) -> str | None:
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _GLOBAL_WITH_VALUE:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        return a
    return None


_GLOBAL_WITH_VALUE = {"-H", "--host", "-l", "--log-level", "--config", "-c", "--context"}


def _split_passthrough(argv: list[str]) -> tuple[list[str], str | None, list[str]]:
    """Find `daemon` / `registry serve` after the global options: their args pass through."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _GLOBAL_WITH_VALUE:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        if a == "daemon":
            return argv[:i], "daemon", argv[i + 1 :]
        if a == "registry" and i + 1 < len(argv) and argv[i + 1] == "serve":
            return argv[:i], "registry-serve", argv[i + 2 :]
        break
    return argv, None, []


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    head, passthrough, rest = _split_passthrough(argv)
    if passthrough == "daemon":
        from dockyard.daemon.main import main as daemon_main

        return daemon_main(rest)
    if passthrough == "registry-serve":
        from dockyard.distribution.server import main as registry_main

        return registry_main(["serve", *rest]) or 0
    cli = build_cli(_command_word(argv))
    args = cli.parser.parse_args(argv)
    if args.version:
        from dockyard import __version__

        print(f"Dockyard version {__version__}")
        return 0
    if not getattr(args, "func", None):
        cli.parser.print_help()
        return 0
    if args.debug or args.log_level != "info":
        # docker's client logs at these levels; the dockyard client keeps no log at all
        print(
            "dockyard: --debug and --log-level are not supported by the dockyard client",
            file=sys.stderr,
        )
        return 125
    host = args.host[-1] if args.host else None
    if host and "://" not in host:
        host = "unix://" + host if host.startswith("/") else "tcp://" + host
    client = APIClient(host)
    try:
        return int(args.func(client, args) or 0)
    except DaemonUnreachable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except APIError as exc:
        print(f"Error response from daemon: {exc.message}", file=sys.stderr)
        return 1
    except (StreamError, ClientError, UsageError) as exc:
        print(str(exc) if str(exc).startswith("Error") else f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into a command that stopped reading (e.g. `| head`).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
