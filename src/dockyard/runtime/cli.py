"""`dockyard-runtime`: the OCI runtime with runc's command line.

Global options --root, --log, --log-format, --debug; commands create, start, state, kill,
delete, run, exec, list, spec. Errors are printed as runc prints them
(time="..." level=error msg="...") and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import signal
import sys
import time
from typing import Any

from dockyard.errors import DockyardError
from dockyard.runtime.runtime import DEFAULT_ROOT, Runtime, forward_signals_to, wait_status
from dockyard.runtime.state import process_start_time


class CliError(Exception):
    pass


class _Log:
    """Where errors go: stderr, or --log FILE, as text or json."""

    def __init__(self, path: str | None, fmt: str) -> None:
        self.path = path
        self.fmt = fmt

    def error(self, message: str) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.fmt == "json":
            line = json.dumps({"level": "error", "msg": message, "time": now})
        else:
            line = f'time="{now}" level=error msg={json.dumps(message)}'
        if self.path:
            try:
                with open(self.path, "a") as f:
                    f.write(line + "\n")
            except OSError:
                pass
        print(line, file=sys.stderr)


def parse_signal(text: str) -> int:
    """KILL, SIGKILL, kill and 9 all name SIGKILL."""
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
        raise CliError(f'unknown signal "{text}"')
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise CliError(f'unknown signal "{text}"') from None


def _args_common_create(c: argparse.ArgumentParser) -> None:
    c.add_argument("--bundle", "-b", default=".")
    c.add_argument("--console-socket", default=None)
    c.add_argument("--pid-file", default=None)
    c.add_argument("--preserve-fds", type=int, default=0)
    c.add_argument("--no-pivot", action="store_true")
    c.add_argument("--no-new-keyring", action="store_true")
    c.add_argument("id")


def _args_run(c: argparse.ArgumentParser) -> None:
    c.add_argument("--detach", "-d", action="store_true")
    c.add_argument("--keep", action="store_true")
    c.add_argument("--no-subreaper", action="store_true")
    _args_common_create(c)


def _args_id(c: argparse.ArgumentParser) -> None:
    c.add_argument("id")


def _args_kill(c: argparse.ArgumentParser) -> None:
    c.add_argument("--all", "-a", action="store_true")
    c.add_argument("id")
    c.add_argument("signal", nargs="?", default="SIGTERM")


def _args_delete(c: argparse.ArgumentParser) -> None:
    c.add_argument("--force", "-f", action="store_true")
    c.add_argument("id")


def _args_list(c: argparse.ArgumentParser) -> None:
    c.add_argument("--format", "-f", default="table", choices=["table", "json"])
    c.add_argument("--quiet", "-q", action="store_true")


def _args_exec(c: argparse.ArgumentParser) -> None:
    c.add_argument("--process", "-p", default=None)
    c.add_argument("--tty", "-t", action="store_true")
    c.add_argument("--env", "-e", action="append", default=[])
    c.add_argument("--cwd", default=None)
    c.add_argument("--user", "-u", default=None)
    c.add_argument("--additional-gids", "-g", action="append", type=int, default=[])
    c.add_argument("--cap", "-c", action="append", default=[])
    c.add_argument("--no-new-privs", action="store_true")
    c.add_argument("--detach", "-d", action="store_true")
    c.add_argument("--pid-file", default=None)
    c.add_argument("--console-socket", default=None)
    c.add_argument("--preserve-fds", type=int, default=0)
    c.add_argument("id")
    c.add_argument("args", nargs=argparse.REMAINDER)


def _args_update(c: argparse.ArgumentParser) -> None:
    c.add_argument("--resources", "-r", default=None, help="linux.resources JSON file, - for stdin")
    for flag in (
        "--memory",
        "--memory-swap",
        "--pids-limit",
        "--cpu-quota",
        "--cpu-period",
        "--cpu-share",
    ):
        c.add_argument(flag, type=int, default=None)
    c.add_argument("--cpuset-cpus", default=None)
    c.add_argument("--cpuset-mems", default=None)
    c.add_argument("id")


def _args_events(c: argparse.ArgumentParser) -> None:
    c.add_argument("--stats", action="store_true")
    c.add_argument("id")


def _args_spec(c: argparse.ArgumentParser) -> None:
    c.add_argument("--bundle", "-b", default=".")


# name -> (help, aliases, arguments)
_COMMANDS: dict[str, tuple[str, list[str], Any]] = {
    "create": ("create a container", [], _args_common_create),
    "run": ("create and run a container", [], _args_run),
    "start": ("start a created container", [], _args_id),
    "state": ("print the state of a container", [], _args_id),
    "kill": ("send a signal to a container's init", [], _args_kill),
    "delete": ("delete a container", [], _args_delete),
    "list": ("list containers", ["ps"], _args_list),
    "exec": ("run a process in a running container", [], _args_exec),
    "pause": ("freeze a container's processes", [], _args_id),
    "resume": ("thaw a paused container", [], _args_id),
    "update": ("change a container's resource limits", [], _args_update),
    "events": ("print a container's resource usage", [], _args_events),
    "spec": ("write a default config.json", [], _args_spec),
}
_GLOBAL_WITH_VALUE = ("--root", "--log", "--log-format")


def _command_in(argv: list[str]) -> str | None:
    """The command word of argv (after the global options), to build only its parser."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _GLOBAL_WITH_VALUE:
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            return arg
    return None


def _parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """runc's grammar. Only the parser of the command in `argv` is built (building all of
    them costs more than the command itself); all of them for help and unknown commands."""
    p = argparse.ArgumentParser(
        prog="dockyard-runtime", description="An OCI runtime with runc's command line"
    )
    p.add_argument("--root", default=DEFAULT_ROOT, help="root directory for container state")
    p.add_argument("--log", default=None, help="file to log errors to")
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    word = _command_in(argv if argv is not None else sys.argv[1:])
    known = {a: n for n, (_, aliases, _) in _COMMANDS.items() for a in [n, *aliases]}
    for name, (help_, aliases, build) in _COMMANDS.items():
        if word in known and known[word] != name:
            continue
        build(sub.add_parser(name, help=help_, aliases=aliases))
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line. Run as the program (argv None), it leaves with os._exit once its
    output is flushed: the interpreter's teardown would cost as much as running a container."""
    code = _main(argv)
    if argv is None:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:
            code = code or 1
        os._exit(code)
    return code


def _main(argv: list[str] | None) -> int:
    args = _parser(argv).parse_args(argv)
    log = _Log(args.log, args.log_format)
    rt = Runtime(args.root)
    try:
        return _dispatch(rt, args)
    except (DockyardError, CliError) as e:
        log.error(str(e))
        return 1
    except OSError as e:
        log.error(f"{args.command}: {e}")
        return 1


def _dispatch(rt: Runtime, args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd in ("create", "run") and args.no_pivot:
        raise CliError("--no-pivot is not supported: dockyard-runtime always uses pivot_root")
    if cmd == "create":
        rt.create(
            args.id,
            args.bundle,
            console_socket=args.console_socket,
            pid_file=args.pid_file,
            extra_fds=_preserved(args.preserve_fds),
        )
        return 0
    if cmd == "run":
        return _run(rt, args)
    if cmd == "start":
        rt.start(args.id)
        return 0
    if cmd == "state":
        print(json.dumps(_runc_state(rt, rt.state(args.id)), indent=2))
        return 0
    if cmd == "kill":
        rt.kill(args.id, parse_signal(args.signal), all=args.all)
        return 0
    if cmd == "delete":
        rt.delete(args.id, force=args.force)
        return 0
    if cmd in ("list", "ps"):
        _list(rt, args)
        return 0
    if cmd == "exec":
        return _exec(rt, args)
    if cmd == "pause":
        rt.pause(args.id)
        return 0
    if cmd == "resume":
        rt.resume(args.id)
        return 0
    if cmd == "update":
        rt.update(args.id, _resources(args))
        return 0
    if cmd == "events":
        if not args.stats:
            raise CliError("events: only --stats is supported")
        print(json.dumps({"type": "stats", "id": args.id, "data": rt.stats(args.id)}))
        return 0
    if cmd == "spec":
        return _spec(args.bundle)
    raise CliError(f"unknown command {cmd}")


def _resources(args: argparse.Namespace) -> dict[str, Any]:
    """linux.resources from -r FILE or from runc update's flags."""
    if args.resources:
        res = _load_json(args.resources)
        if not isinstance(res, dict):
            raise CliError(f"{args.resources}: the resources must be a JSON object")
        return res
    res: dict[str, Any] = {}
    memory = {"limit": args.memory, "swap": args.memory_swap}
    cpu = {
        "quota": args.cpu_quota,
        "period": args.cpu_period,
        "shares": args.cpu_share,
        "cpus": args.cpuset_cpus,
        "mems": args.cpuset_mems,
    }
    for key, values in (("memory", memory), ("cpu", cpu)):
        given = {k: v for k, v in values.items() if v is not None}
        if given:
            res[key] = given
    if args.pids_limit is not None:
        res["pids"] = {"limit": args.pids_limit}
    return res


def _load_json(path: str) -> Any:
    """A JSON file named on the command line ("-": stdin); malformed JSON is a CliError."""
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, "rb") as f:
            return json.load(f)
    except ValueError as e:
        raise CliError(f"{path}: malformed JSON: {e}") from None


def _int_arg(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CliError(f"parsing {text} as int for {what} failed") from None


def _preserved(n: int) -> list[int]:
    return [3 + i for i in range(n)]


def _runc_state(rt: Runtime, state: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: state[k] for k in ("ociVersion", "id", "pid", "status", "bundle", "rootfs", "created")
    }
    if state.get("annotations"):
        out["annotations"] = state["annotations"]
    out["owner"] = ""
    return out


def _owner(rt: Runtime, container_id: str) -> str:
    try:
        uid = os.stat(rt.store.dir(container_id)).st_uid
        return pwd.getpwuid(uid).pw_name
    except (OSError, KeyError):
        return ""


def _list(rt: Runtime, args: argparse.Namespace) -> None:
    states = rt.list()
    if args.quiet:
        for s in states:
            print(s["id"])
        return
    if args.format == "json":
        rows = []
        for s in states:
            row = _runc_state(rt, s)
            row["owner"] = _owner(rt, s["id"])
            rows.append(row)
        print(json.dumps(rows or None, separators=(",", ":")))
        return
    header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    table = [header] + [
        [s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], _owner(rt, s["id"])]
        for s in states
    ]
    widths = [max(12, max(len(r[i]) for r in table) + 3) for i in range(len(header))]
    for row in table:
        print(
            "".join(
                cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)
            )
        )


def _run(rt: Runtime, args: argparse.Namespace) -> int:
    extra = _preserved(args.preserve_fds)
    if args.detach:
        rt.create(
            args.id,
            args.bundle,
            console_socket=args.console_socket,
            pid_file=args.pid_file,
            extra_fds=extra,
        )
        rt.start(args.id)
        return 0
    if not args.no_subreaper:
        from dockyard.runtime import syscalls

        syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    terminal = _bundle_terminal(args.bundle)
    listener = _console().ConsoleListener() if terminal and not args.console_socket else None
    try:
        socket_path = listener.path if listener else args.console_socket
        if listener is None and not args.keep:
            return rt.run(
                args.id,
                args.bundle,
                console_socket=socket_path,
                pid_file=args.pid_file,
                extra_fds=extra,
                forward_signals=True,
            )
        pid = rt.create(
            args.id,
            args.bundle,
            console_socket=socket_path,
            pid_file=args.pid_file,
            extra_fds=extra,
        )
        try:
            master = listener.receive_master() if listener else None
            forward_signals_to(pid)
            rt.start(args.id)
            if master is not None:
                start_time = process_start_time(pid)
                _console().proxy(master, lambda: process_start_time(pid) == start_time)
            status = wait_status(pid)
        finally:
            if not args.keep:
                rt.delete(args.id, force=True)
        return status
    finally:
        if listener:
            listener.close()


def _console():  # noqa: ANN202 - the module, imported only for a terminal
    from dockyard.runtime import console

    return console


def _bundle_terminal(bundle: str) -> bool:
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            return bool(json.load(f).get("process", {}).get("terminal"))
    except (OSError, ValueError, AttributeError):
        return False


def _exec(rt: Runtime, args: argparse.Namespace) -> int:
    st = rt.store.load(args.id)
    if args.process:
        proc = _load_json(args.process)
        if not isinstance(proc, dict):
            raise CliError(f"{args.process}: the process must be a JSON object")
    else:
        if not args.args:
            raise CliError("exec: the command to run is missing (ARGS or --process)")
        proc = json.loads(json.dumps(st.config.get("process") or {}))
        proc["args"] = list(args.args)
        proc["terminal"] = args.tty
        proc.pop("consoleSize", None)
        if args.env:
            proc["env"] = list(proc.get("env") or []) + args.env
        if args.cwd:
            proc["cwd"] = args.cwd
        user = proc.setdefault("user", {"uid": 0, "gid": 0})
        if args.user:
            # runc: UID[:GID]; without a GID the spec's gid stays
            uid, sep, gid = args.user.partition(":")
            user["uid"] = _int_arg(uid, "uid")
            if sep:
                user["gid"] = _int_arg(gid, "gid")
        if args.additional_gids:
            user["additionalGids"] = args.additional_gids
        if args.no_new_privs:
            proc["noNewPrivileges"] = True
        if args.cap:
            caps = proc.setdefault("capabilities", {})
            # as runc: ambient only when the spec has an inheritable set (the kernel raises
            # an ambient capability only if it is inheritable too)
            kinds = ["bounding", "effective", "permitted"]
            if caps.get("inheritable") is not None:
                kinds.append("ambient")
            for kind in kinds:
                caps[kind] = list(caps.get(kind) or []) + args.cap
    terminal = bool(proc.get("terminal"))
    listener = None
    if terminal and not args.console_socket:
        if args.detach:
            raise CliError("cannot allocate tty if runc will detach without setting console socket")
        listener = _console().ConsoleListener()
    try:
        socket_path = listener.path if listener else args.console_socket
        pid = rt.exec(
            args.id,
            proc,
            console_socket=socket_path,
            pid_file=args.pid_file,
            extra_fds=_preserved(args.preserve_fds),
        )
        if listener is not None:
            master = listener.receive_master()
            start_time = process_start_time(pid)
            _console().proxy(master, lambda: process_start_time(pid) == start_time)
            return wait_status(pid)
        if args.detach:
            return 0
        forward_signals_to(pid)
        return wait_status(pid)
    finally:
        if listener:
            listener.close()


def _spec(bundle: str) -> int:
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise CliError("File config.json exists. Remove it first.")
    from dockyard.runtime.defaults import default_spec

    with open(path, "w") as f:
        json.dump(default_spec(), f, indent="\t")
    return 0


if __name__ == "__main__":
    sys.exit(main())
