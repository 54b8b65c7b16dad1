"""`docker run`/`docker create` flags -> the Engine API's Config, HostConfig, NetworkingConfig."""

from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

from dockyard.units import parse_bytes, parse_duration_ns


class OptionError(ValueError):
    """A flag value docker would refuse ("invalid argument ... for ... flag")."""


def add_run_flags(p: argparse.ArgumentParser, run: bool) -> None:
    a = p.add_argument
    if run:
        a("-d", "--detach", action="store_true", help="Run container in background")
        a("--rm", action="store_true", help="Automatically remove the container when it exits")
        a(
            "--sig-proxy",
            type=parse_bool,
            default=True,
            help="Proxy received signals to the process",
        )
    else:
        a("--rm", action="store_true", help="Automatically remove the container when it exits")
    a("--detach-keys", help="Override the key sequence for detaching a container")
    a("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    a("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    a("-a", "--attach", action="append", default=[], help="Attach to STDIN, STDOUT or STDERR")
    a("--name", help="Assign a name to the container")
    a("-e", "--env", action="append", default=[], help="Set environment variables")
    a("--env-file", action="append", default=[], help="Read in a file of environment variables")
    a("-w", "--workdir", help="Working directory inside the container")
    a("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    a("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    a("-h", "--hostname", help="Container host name")
    a("--domainname", help="Container NIS domain name")
    a("--init", action="store_true", help="Run an init inside the container")
    a("-m", "--memory", help="Memory limit")
    a("--memory-swap", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap")
    a("--memory-reservation", help="Memory soft limit")
    a("--cpus", help="Number of CPUs")
    a("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    a("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    a("--cpu-period", type=int, help="Limit CPU CFS period")
    a("--cpu-quota", type=int, help="Limit CPU CFS quota")
    a("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)")
    a("--oom-kill-disable", action="store_true", help="Disable OOM Killer")
    a("--cap-add", action="append", default=[], help="Add Linux capabilities")
    a("--cap-drop", action="append", default=[], help="Drop Linux capabilities")
    a("--privileged", action="store_true", help="Give extended privileges to this container")
    a("--security-opt", action="append", default=[], help="Security Options")
    a("--ulimit", action="append", default=[], help="Ulimit options")
    a("--read-only", action="store_true", help="Mount the container's root filesystem as read only")
    a("-l", "--label", action="append", default=[], help="Set meta data on a container")
    a("--label-file", action="append", default=[], help="Read in a line delimited file of labels")
    a("--stop-signal", help="Signal to stop the container")
    a("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container")
    a("--restart", default="no", help="Restart policy to apply when a container exits")
    a("--health-cmd", help="Command to run to check health")
    a("--health-interval", help="Time between running the check (ms|s|m|h)")
    a("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h)")
    a("--health-retries", type=int, help="Consecutive failures needed to report unhealthy")
    a("--health-start-period", help="Start period for the container to initialize")
    a("--health-start-interval", help="Time between running the check during the start period")
    a("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")
    a("-v", "--volume", action="append", default=[], help="Bind mount a volume")
    a("--mount", action="append", default=[], help="Attach a filesystem mount to the container")
    a("--tmpfs", action="append", default=[], help="Mount a tmpfs directory")
    a("--volumes-from", action="append", default=[], help="Mount volumes from the container(s)")
    a("-p", "--publish", action="append", default=[], help="Publish a container's port(s)")
    a("-P", "--publish-all", action="store_true", help="Publish all exposed ports")
    a("--expose", action="append", default=[], help="Expose a port or a range of ports")
    a("--network", "--net", dest="network", help="Connect a container to a network")
    a(
        "--network-alias",
        "--net-alias",
        dest="network_alias",
        action="append",
        default=[],
        help="Add network-scoped alias for the container",
    )
    a("--ip", help="IPv4 address (e.g., 172.30.100.104)")
    a("--mac-address", help="Container MAC address")
    a("--dns", action="append", default=[], help="Set custom DNS servers")
    a("--dns-search", action="append", default=[], help="Set custom DNS search domains")
    a("--dns-option", action="append", default=[], help="Set DNS options")
    a("--add-host", action="append", default=[], help="Add a custom host-to-IP mapping")
    a("--log-driver", help="Logging driver for the container")
    a("--log-opt", action="append", default=[], help="Log driver options")
    a("--platform", help="Set platform if server is multi-platform capable")
    a(
        "--pull",
        default="missing",
        choices=["always", "missing", "never"],
        help='Pull image before running ("always", "missing", "never")',
    )
    a("--shm-size", help="Size of /dev/shm")
    a("--ipc", help="IPC mode to use")
    a("--pid", help="PID namespace to use")
    a("--uts", help="UTS namespace to use")
    a("--userns", help="User namespace to use")
    a("--cgroupns", help="Cgroup namespace to use (host|private)")
    a("--group-add", action="append", default=[], help="Add additional groups to join")
    a("--device", action="append", default=[], help="Add a host device to the container")
    a("--sysctl", action="append", default=[], help="Sysctl options")
    a("-q", "--quiet", action="store_true", help="Suppress the pull output")
    a("image", help="IMAGE")
    a("command", nargs=argparse.REMAINDER, help="COMMAND [ARG...]")


def parse_bool(v: str) -> bool:
    """A boolean flag value as Go's strconv.ParseBool reads it; ArgumentTypeError if invalid."""
    if v.lower() in ("1", "true", "t"):
        return True
    if v.lower() in ("0", "false", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {v!r}")


def _bool(v: str) -> bool:
    return v.lower() in ("1", "true", "yes", "t")


def _kv_list(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        out[k] = v
    return out


def _read_env_file(path: str) -> list[str]:
    out = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if "=" not in line:
                value = os.environ.get(line.strip())
                if value is not None:
                    out.append(f"{line.strip()}={value}")
                continue
            out.append(line)
    return out


def _env(items: list[str]) -> list[str]:
    out = []
    for e in items:
        if "=" in e:
            out.append(e)
        elif e in os.environ:
            out.append(f"{e}={os.environ[e]}")
    return out


def parse_ports(specs: list[str]) -> tuple[dict[str, dict], dict[str, list[dict[str, str]]]]:
    """-p [ip:][hostPort:]containerPort[/proto] -> (ExposedPorts, PortBindings)."""
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        body, _, proto = spec.partition("/")
        proto = proto or "tcp"
        if proto not in ("tcp", "udp", "sctp"):
            raise OptionError(f"invalid proto: {proto}")
        if body.startswith("["):
            end = body.index("]")
            ip, rest = body[1:end], body[end + 2 :]
            parts = [ip, *rest.split(":")]
        else:
            parts = body.split(":")
        if len(parts) == 1:
            ip, host, cport = "", "", parts[0]
        elif len(parts) == 2:
            ip, host, cport = "", parts[0], parts[1]
        elif len(parts) == 3:
            ip, host, cport = parts
        else:
            raise OptionError(f"invalid port format: {spec}")
        if not cport:
            raise OptionError(f"no port specified: {spec}<empty>")
        cports = _port_range(cport, spec)
        hports = _port_range(host, spec) if host else [None] * len(cports)
        if host and len(hports) != len(cports):
            if len(hports) >= 1 and len(cports) == 1:
                hports = [f"{hports[0]}-{hports[-1]}"]  # a host range for one container port
            else:
                raise OptionError(f"invalid ranges specified for container and host Ports: {spec}")
        for cp, hp in zip(cports, hports, strict=False):
            key = f"{cp}/{proto}"
            exposed[key] = {}
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": str(hp or "")})
    return exposed, bindings


def _port_range(text: str, spec: str) -> list[Any]:
    lo, sep, hi = text.partition("-")
    try:
        a = int(lo)
        b = int(hi) if sep else a
    except ValueError:
        raise OptionError(
            f"invalid containerPort: {text}" if text else f"invalid port: {spec}"
        ) from None
    if not (0 < a <= 65535 and 0 < b <= 65535 and a <= b):
        raise OptionError(f"invalid port: {spec}")
    return list(range(a, b + 1))


def parse_volume(spec: str) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """-v: (bind string for HostConfig.Binds, None, anonymous volume path)."""
    parts = spec.split(":")
    if len(parts) == 1:
        if not parts[0].startswith("/"):
            raise OptionError(f"invalid volume specification: '{spec}'")
        return None, None, parts[0]
    if len(parts) in (2, 3):
        src = parts[0]
        if src.startswith(("./", "../")) or src in (".", ".."):
            src = os.path.abspath(src)
            parts[0] = src
        return ":".join(parts), None, None
    raise OptionError(f"invalid volume specification: '{spec}'")


def parse_mount(spec: str) -> dict[str, Any]:
    """--mount type=...,source=...,target=...,readonly,..."""
    m: dict[str, Any] = {"Type": "volume"}
    for field in _csv(spec):
        k, sep, v = field.partition("=")
        k = k.strip().lower()
        if k == "type":
            m["Type"] = v
        elif k in ("source", "src"):
            m["Source"] = v
        elif k in ("target", "destination", "dst"):
            m["Target"] = v
        elif k in ("readonly", "ro"):
            m["ReadOnly"] = (not sep) or _bool(v)
        elif k == "bind-propagation":
            m.setdefault("BindOptions", {})["Propagation"] = v
        elif k == "volume-nocopy":
            m.setdefault("VolumeOptions", {})["NoCopy"] = (not sep) or _bool(v)
        elif k == "volume-label":
            lk, _, lv = v.partition("=")
            m.setdefault("VolumeOptions", {}).setdefault("Labels", {})[lk] = lv
        elif k == "tmpfs-size":
            m.setdefault("TmpfsOptions", {})["SizeBytes"] = parse_bytes(v)
        elif k == "tmpfs-mode":
            m.setdefault("TmpfsOptions", {})["Mode"] = int(v, 8)
        elif k == "consistency":
            m["Consistency"] = v
        else:
            raise OptionError(f"unexpected key '{k}' in '{field}'")
    if "Target" not in m:
        raise OptionError("target is required")
    return m


def _csv(spec: str) -> list[str]:
    import csv

    return next(csv.reader([spec]))


def _ulimit(spec: str) -> dict[str, Any]:
    name, _, values = spec.partition("=")
    soft, _, hard = values.partition(":")
    try:
        s = int(soft)
        h = int(hard) if hard else s
    except ValueError:
        raise OptionError(f"invalid ulimit argument: {spec}") from None
    return {"Name": name, "Soft": s, "Hard": h}


def _restart(spec: str) -> dict[str, Any]:
    name, _, count = spec.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure", ""):
        raise OptionError(f"invalid restart policy format: {spec}")
    policy: dict[str, Any] = {"Name": "" if name == "no" else name, "MaximumRetryCount": 0}
    if count:
        if name != "on-failure":
            raise OptionError(f"maximum retry count cannot be used with restart policy '{name}'")
        policy["MaximumRetryCount"] = int(count)
    return policy


def build_config(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], dict]:
    """(Config, HostConfig, NetworkingConfig) from parsed run/create flags."""
    env = []
    for path in args.env_file:
        env += _read_env_file(path)
    env += _env(args.env)
    labels: dict[str, str] = {}
    for path in args.label_file:
        with open(path) as f:
            labels.update(_kv_list([x.strip() for x in f if x.strip() and not x.startswith("#")]))
    labels.update(_kv_list(args.label))
    exposed, bindings = parse_ports(args.publish)
    for e in args.expose:
        port, _, proto = e.partition("/")
        for p in _port_range(port, e):
            exposed[f"{p}/{proto or 'tcp'}"] = {}
    attach = [a.lower() for a in args.attach]
    detach = getattr(args, "detach", False)
    config: dict[str, Any] = {
        "Hostname": args.hostname or "",
        "Domainname": args.domainname or "",
        "User": args.user or "",
        "AttachStdin": ("stdin" in attach) if attach else bool(args.interactive and not detach),
        "AttachStdout": ("stdout" in attach) if attach else not detach,
        "AttachStderr": ("stderr" in attach) if attach else not detach,
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": bool(args.interactive and not detach),
        "Env": env,
        "Cmd": list(args.command) if args.command else None,
        "Image": args.image,
        "Volumes": {},
        "WorkingDir": args.workdir or "",
        "Entrypoint": None,
        "Labels": labels,
    }
    if args.entrypoint is not None:
        config["Entrypoint"] = [args.entrypoint] if args.entrypoint else [""]
    if exposed:
        config["ExposedPorts"] = exposed
    if args.stop_signal:
        config["StopSignal"] = args.stop_signal
    if args.stop_timeout is not None:
        config["StopTimeout"] = args.stop_timeout
    health: dict[str, Any] = {}
    if args.no_healthcheck:
        health = {"Test": ["NONE"]}
    elif args.health_cmd:
        health["Test"] = ["CMD-SHELL", args.health_cmd]
    for flag, key in (
        ("health_interval", "Interval"),
        ("health_timeout", "Timeout"),
        ("health_start_period", "StartPeriod"),
        ("health_start_interval", "StartInterval"),
    ):
        value = getattr(args, flag)
        if value:
            health[key] = parse_duration_ns(value)
    if args.health_retries is not None:
        health["Retries"] = args.health_retries
    if health:
        config["Healthcheck"] = health

    binds, mounts = [], []
    for v in args.volume:
        bind, _, anon = parse_volume(v)
        if bind:
            binds.append(bind)
        if anon:
            config["Volumes"][anon] = {}
    for m in args.mount:
        mounts.append(parse_mount(m))
    tmpfs = {}
    for t in args.tmpfs:
        path, _, opts = t.partition(":")
        tmpfs[path] = opts
    network = args.network or "default"
    host: dict[str, Any] = {
        "Binds": binds or None,
        "NetworkMode": network,
        "PortBindings": bindings,
        "RestartPolicy": _restart(args.restart),
        "AutoRemove": args.rm,
        "Privileged": args.privileged,
        "PublishAllPorts": args.publish_all,
        "ReadonlyRootfs": args.read_only,
        "CapAdd": args.cap_add or None,
        "CapDrop": args.cap_drop or None,
        "SecurityOpt": args.security_opt or None,
        "Dns": args.dns,
        "DnsSearch": args.dns_search,
        "DnsOptions": args.dns_option,
        "ExtraHosts": args.add_host or None,
        "Init": True if args.init else None,
        "Mounts": mounts or None,
        "Tmpfs": tmpfs or None,
        "VolumesFrom": args.volumes_from or None,
        "GroupAdd": args.group_add or None,
        "LogConfig": {"Type": args.log_driver or "", "Config": _kv_list(args.log_opt)},
    }
    if args.memory:
        host["Memory"] = parse_bytes(args.memory)
    if args.memory_swap:
        host["MemorySwap"] = -1 if args.memory_swap == "-1" else parse_bytes(args.memory_swap)
    if args.memory_reservation:
        host["MemoryReservation"] = parse_bytes(args.memory_reservation)
    if args.cpus:
        try:
            host["NanoCpus"] = int(round(float(args.cpus) * 1e9))
        except ValueError:
            raise OptionError(f'invalid argument "{args.cpus}" for "--cpus" flag') from None
    for flag, key in (
        ("cpu_shares", "CpuShares"),
        ("cpu_period", "CpuPeriod"),
        ("cpu_quota", "CpuQuota"),
        ("pids_limit", "PidsLimit"),
    ):
        value = getattr(args, flag)
        if value is not None:
            host[key] = value
    if args.cpuset_cpus:
        host["CpusetCpus"] = args.cpuset_cpus
    if args.oom_kill_disable:
        host["OomKillDisable"] = True
    if args.ulimit:
        host["Ulimits"] = [_ulimit(u) for u in args.ulimit]
    if args.shm_size:
        host["ShmSize"] = parse_bytes(args.shm_size)
    for flag, key in (
        ("ipc", "IpcMode"),
        ("pid", "PidMode"),
        ("uts", "UTSMode"),
        ("userns", "UsernsMode"),
        ("cgroupns", "CgroupnsMode"),
    ):
        value = getattr(args, flag)
        if value:
            host[key] = value
    if args.device:
        host["Devices"] = [_device(d) for d in args.device]
    if args.sysctl:
        host["Sysctls"] = _kv_list(args.sysctl)
    networking: dict[str, Any] = {}
    if (
        network not in ("default", "bridge", "host", "none")
        and not network.startswith("container:")
        or args.network_alias
        or args.ip
    ):
        ep: dict[str, Any] = {}
        if args.network_alias:
            ep["Aliases"] = args.network_alias
        if args.ip:
            ep["IPAMConfig"] = {"IPv4Address": args.ip}
        networking = {"EndpointsConfig": {network: ep}}
    if args.mac_address:
        config["MacAddress"] = args.mac_address
    return config, host, networking


def _device(spec: str) -> dict[str, str]:
    parts = spec.split(":")
    host = parts[0]
    cont = parts[1] if len(parts) > 1 else host
    perms = parts[2] if len(parts) > 2 else "rwm"
    return {"PathOnHost": host, "PathInContainer": cont, "CgroupPermissions": perms}


def command_string(cmd: list[str] | None) -> str:
    return shlex.join(cmd or [])
