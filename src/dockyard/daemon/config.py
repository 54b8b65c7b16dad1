"""The daemon's configuration: dockerd's flags merged with a daemon.json, with dockerd's errors.

Keys are daemon.json's names (`data-root`, `hosts`, `insecure-registries`, ...). A key that
dockerd does not know is an error ("the following directives don't match any configuration
option"); a key given both as a flag and in the file is an error too, as in dockerd.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from typing import Any

DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"
DEFAULT_DATA_ROOT = "/var/lib/dockyard"
DEFAULT_EXEC_ROOT = "/run/dockyard"
DEFAULT_CONFIG_FILE = "/etc/dockyard/daemon.json"
DEFAULT_BRIDGE = "dockyard0"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")

# daemon.json keys dockerd accepts. Those dockyard does not enact (see ENACTED_KEYS) are
# accepted only unset or at the one value that describes what dockyard does (FIXED_VALUES);
# any other value is refused at start, never ignored.
KNOWN_KEYS = {
    "allow-nondistributable-artifacts",
    "api-cors-header",
    "authorization-plugins",
    "bip",
    "bip6",
    "bridge",
    "builder",
    "cdi-spec-dirs",
    "cgroup-parent",
    "containerd",
    "containerd-namespace",
    "containerd-plugin-namespace",
    "data-root",
    "debug",
    "default-address-pools",
    "default-cgroupns-mode",
    "default-gateway",
    "default-gateway-v6",
    "default-ipc-mode",
    "default-network-opts",
    "default-runtime",
    "default-shm-size",
    "default-ulimits",
    "dns",
    "dns-opts",
    "dns-search",
    "exec-opts",
    "exec-root",
    "experimental",
    "features",
    "fixed-cidr",
    "fixed-cidr-v6",
    "group",
    "host-gateway-ip",
    "hosts",
    "icc",
    "init",
    "init-path",
    "insecure-registries",
    "ip",
    "ip-forward",
    "ip-forward-no-drop",
    "ip-masq",
    "ip6tables",
    "iptables",
    "ipv6",
    "labels",
    "live-restore",
    "log-driver",
    "log-format",
    "log-level",
    "log-opts",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "mtu",
    "no-new-privileges",
    "node-generic-resources",
    "oom-score-adjust",
    "pidfile",
    "raw-logs",
    "registry-mirrors",
    "runtimes",
    "seccomp-profile",
    "selinux-enabled",
    "shutdown-timeout",
    "storage-driver",
    "storage-opts",
    "swarm-default-advertise-addr",
    "tls",
    "tlscacert",
    "tlscert",
    "tlskey",
    "tlsverify",
    "userland-proxy",
    "userland-proxy-path",
    "userns-remap",
    # dockyard's own
    "registry-addr",
}

# keys something in the daemon reads and acts on
ENACTED_KEYS = {
    "hosts",
    "data-root",
    "exec-root",
    "log-level",
    "debug",
    "tls",
    "tlsverify",
    "tlscacert",
    "tlscert",
    "tlskey",
    "group",
    "pidfile",
    "bridge",
    "bip",
    "default-address-pools",
    "dns",
    "dns-opts",
    "dns-search",
    "registry-mirrors",
    "insecure-registries",
    "labels",
    "cgroup-parent",
    "registry-addr",
    # container defaults (containers/defaults.py)
    "log-driver",
    "log-opts",
    "default-ulimits",
    "no-new-privileges",
    "default-shm-size",
}
# keys not enacted, accepted at the values that say what dockyard always does
FIXED_VALUES: dict[str, tuple[Any, ...]] = {
    "live-restore": (True,),  # monitors always outlive the daemon
    "iptables": (True,),
    "ip-masq": (True,),
    "ip-forward": (True,),
    "icc": (True,),
    "userland-proxy": (False,),  # published ports are kernel DNAT only
    "mtu": (1500,),
    "ipv6": (False,),
    "ip6tables": (False,),
    "experimental": (False,),
    "selinux-enabled": (False,),
    "raw-logs": (False,),
    "init": (False,),
    "storage-driver": ("overlay2",),
    "exec-opts": (["native.cgroupdriver=cgroupfs"],),
    "default-runtime": ("runc",),
    "seccomp-profile": ("builtin",),
    "default-ipc-mode": ("private",),
    "default-cgroupns-mode": ("host",),
    "log-format": ("text",),
}


def _unset(value: Any) -> bool:
    return value is None or value in ("", 0, False) or value == [] or value == {}


def check_enacted(settings: dict[str, Any]) -> None:
    """Refuse every setting dockyard would not enact (DESIGN: never ignore an option)."""
    for key in sorted(settings):
        value = settings[key]
        if key in ENACTED_KEYS:
            continue
        if key == "live-restore" and value is False:
            raise ConfigError(
                "dockyard does not support live-restore: false: containers always keep running "
                "across a daemon restart"
            )
        if key in FIXED_VALUES:
            if value is None or value in FIXED_VALUES[key]:
                continue
        elif _unset(value):
            continue
        allowed = FIXED_VALUES.get(key)
        hint = f" (only {json.dumps(allowed[0])} is supported)" if allowed else ""
        raise ConfigError(
            f"dockyard does not support the daemon option {key}: {json.dumps(value)}{hint}"
        )


# flag dest -> daemon.json key
_FLAG_KEYS = {
    "hosts": "hosts",
    "data_root": "data-root",
    "exec_root": "exec-root",
    "log_level": "log-level",
    "debug": "debug",
    "tls": "tls",
    "tlsverify": "tlsverify",
    "tlscacert": "tlscacert",
    "tlscert": "tlscert",
    "tlskey": "tlskey",
    "group": "group",
    "pidfile": "pidfile",
    "bridge": "bridge",
    "bip": "bip",
    "fixed_cidr": "fixed-cidr",
    "insecure_registries": "insecure-registries",
    "registry_mirrors": "registry-mirrors",
    "default_address_pools": "default-address-pools",
    "iptables": "iptables",
    "ip_masq": "ip-masq",
    "userland_proxy": "userland-proxy",
    "dns": "dns",
    "log_driver": "log-driver",
    "live_restore": "live-restore",
    "mtu": "mtu",
    "labels": "labels",
    "cgroup_parent": "cgroup-parent",
}


class ConfigError(Exception):
    """The configuration cannot be used; the daemon says why and exits."""


@dataclass
class DaemonConfig:
    hosts: list[str] = field(default_factory=lambda: [DEFAULT_HOST])
    data_root: str = DEFAULT_DATA_ROOT
    exec_root: str = DEFAULT_EXEC_ROOT
    log_level: str = "info"
    group: str = "dockyard"
    pidfile: str = ""
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """Any daemon.json setting by its key (e.g. "insecure-registries")."""
        return self.settings.get(key, default)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dockyard daemon", description="Run the dockyard daemon")
    p.add_argument(
        "-H",
        "--host",
        dest="hosts",
        action="append",
        metavar="HOST",
        help=f"Daemon socket(s) to connect to (default {DEFAULT_HOST})",
    )
    p.add_argument("--data-root", dest="data_root", help="Root of persistent state")
    p.add_argument("--exec-root", dest="exec_root", help="Root of execution state")
    p.add_argument(
        "--config-file",
        dest="config_file",
        default=None,
        help=f"Daemon configuration file (default {DEFAULT_CONFIG_FILE})",
    )
    p.add_argument(
        "-l",
        "--log-level",
        dest="log_level",
        choices=LOG_LEVELS,
        help='Set the logging level (default "info")',
    )
    p.add_argument("-D", "--debug", dest="debug", action="store_true", default=None)
    p.add_argument("--tls", dest="tls", action="store_true", default=None)
    p.add_argument("--tlsverify", dest="tlsverify", action="store_true", default=None)
    p.add_argument("--tlscacert", dest="tlscacert")
    p.add_argument("--tlscert", dest="tlscert")
    p.add_argument("--tlskey", dest="tlskey")
    p.add_argument(
        "-G", "--group", dest="group", help='Group for the unix socket (default "dockyard")'
    )
    p.add_argument("-p", "--pidfile", dest="pidfile")
    p.add_argument("-b", "--bridge", dest="bridge", help="Attach containers to a network bridge")
    p.add_argument("--bip", dest="bip", help="Network bridge IP")
    p.add_argument("--fixed-cidr", dest="fixed_cidr")
    p.add_argument("--default-address-pool", dest="default_address_pools", action="append")
    p.add_argument("--insecure-registry", dest="insecure_registries", action="append")
    p.add_argument("--registry-mirror", dest="registry_mirrors", action="append")
    p.add_argument("--iptables", dest="iptables", type=_parse_bool, default=None)
    p.add_argument("--ip-masq", dest="ip_masq", type=_parse_bool, default=None)
    p.add_argument("--userland-proxy", dest="userland_proxy", type=_parse_bool, default=None)
    p.add_argument("--dns", dest="dns", action="append")
    p.add_argument("--log-driver", dest="log_driver")
    p.add_argument("--live-restore", dest="live_restore", action="store_true", default=None)
    p.add_argument("--mtu", dest="mtu", type=int)
    p.add_argument("--label", dest="labels", action="append")
    p.add_argument("--cgroup-parent", dest="cgroup_parent", help="Parent cgroup of containers")
    return p


def _parse_bool(value: str) -> bool:
    v = value.lower()
    if v in ("1", "true", "t", "yes"):
        return True
    if v in ("0", "false", "f", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


def _address_pool(spec: str) -> dict[str, Any]:
    pool: dict[str, Any] = {}
    for part in spec.split(","):
        k, _, v = part.partition("=")
        pool[k.strip()] = int(v) if k.strip() == "size" else v.strip()
    return pool


def load_file(path: str, required: bool) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        if required:
            raise ConfigError(
                f"unable to configure the Docker daemon with file {path}: "
                "open: no such file or directory"
            ) from None
        return {}
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(
            f"unable to configure the Docker daemon with file {path}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"unable to configure the Docker daemon with file {path}: "
            "the configuration must be a JSON object"
        )
    unknown = sorted(k for k in data if k not in KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"unable to configure the Docker daemon with file {path}: the following directives "
            f"don't match any configuration option: {', '.join(unknown)}"
        )
    return data


def load(argv: list[str]) -> DaemonConfig:
    """Parse `dockyard daemon` arguments and the configuration file into a DaemonConfig."""
    args = build_parser().parse_args(argv)
    config_file = args.config_file or DEFAULT_CONFIG_FILE
    settings = load_file(config_file, required=args.config_file is not None)
    flags: dict[str, Any] = {}
    for dest, key in _FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if dest == "default_address_pools":
            value = [_address_pool(s) for s in value]
        flags[key] = value
    both = sorted(k for k in flags if k in settings)
    if both:
        detail = ", ".join(f"{k}: (from flag: {flags[k]}, from file: {settings[k]})" for k in both)
        raise ConfigError(
            "unable to configure the Docker daemon with file "
            f"{config_file}: the following directives are specified both as a flag and in "
            f"the configuration file: {detail}"
        )
    settings.update(flags)
    check_enacted(settings)
    cfg = DaemonConfig(settings=settings)
    cfg.hosts = list(settings.get("hosts") or [DEFAULT_HOST])
    cfg.data_root = os.path.abspath(settings.get("data-root") or DEFAULT_DATA_ROOT)
    cfg.exec_root = os.path.abspath(settings.get("exec-root") or DEFAULT_EXEC_ROOT)
    cfg.log_level = "debug" if settings.get("debug") else settings.get("log-level") or "info"
    if cfg.log_level not in LOG_LEVELS:
        raise ConfigError(f"unable to parse logging level: {cfg.log_level}")
    cfg.group = settings.get("group") or "dockyard"
    cfg.pidfile = settings.get("pidfile") or ""
    for key in ("tls", "tlsverify"):
        setattr(cfg, key, bool(settings.get(key)))
    for key in ("tlscacert", "tlscert", "tlskey"):
        setattr(cfg, key, settings.get(key) or "")
    settings.setdefault("bridge", DEFAULT_BRIDGE)
    validate_hosts(cfg)
    return cfg


def validate_hosts(cfg: DaemonConfig) -> None:
    for host in cfg.hosts:
        scheme, sep, rest = host.partition("://")
        if not sep:
            raise ConfigError(
                f"invalid daemon host {host!r}: a scheme (unix:// or tcp://) is needed"
            )
        if scheme == "unix":
            if not rest.startswith("/"):
                raise ConfigError(f"invalid daemon host {host!r}: the socket path must be absolute")
        elif scheme == "tcp":
            tls_ready = (cfg.tls or cfg.tlsverify) and cfg.tlscert and cfg.tlskey
            if cfg.tlsverify and not cfg.tlscacert:
                tls_ready = False
            if not tls_ready:
                raise ConfigError(
                    f"refusing to listen on {host} without TLS: an API on TCP gives root on this "
                    "machine to anyone who reaches it; use --tlsverify with --tlscacert, "
                    "--tlscert and --tlskey"
                )
        else:
            raise ConfigError(f"invalid daemon host {host!r}: unsupported scheme {scheme!r}")
