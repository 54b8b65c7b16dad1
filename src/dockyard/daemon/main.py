"""`dockyard daemon`: the composition root.

It reads the configuration, creates each service once, lets each reconcile what it finds on
disk, hands every route module only the services it needs, listens on the configured sockets
and shuts down on SIGTERM/SIGINT. Containers keep running across a daemon restart: their
monitors are separate processes (live restore).
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from typing import Any

from aiohttp import web

from dockyard.api.app import Routes, make_app
from dockyard.api.build import BuildRoutes
from dockyard.api.containers import ContainerRoutes
from dockyard.api.images import ImageRoutes
from dockyard.api.networks import NetworkRoutes
from dockyard.api.system import SystemRoutes
from dockyard.api.volumes import VolumeRoutes
from dockyard.daemon import diskusage, sysinfo
from dockyard.daemon.config import ConfigError, DaemonConfig, load
from dockyard.daemon.events import EventBus
from dockyard.volumes import VolumeService

log = logging.getLogger("dockyard.daemon")

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}


class _DockerdFormatter(logging.Formatter):
    """Log lines like dockerd's: time="..." level=info msg="..."."""

    def format(self, record: logging.LogRecord) -> str:
        ts = self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        level = {"WARNING": "warning", "CRITICAL": "fatal"}.get(
            record.levelname, record.levelname.lower()
        )
        msg = record.getMessage().replace('"', '\\"')
        line = f'time="{ts}.{int(record.msecs):03d}Z" level={level} msg="{msg}"'
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _QuietParseErrors(logging.Filter):
    """Malformed HTTP from a client is the client's problem: one line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__module__.startswith("aiohttp.http_exceptions"):
            record.msg = f"bad request from a client: {str(exc).splitlines()[0]}"
            record.args = ()
            record.exc_info = None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


class Engine:
    """The wired services and the route modules built on them (made once, at start)."""

    def __init__(self, cfg: DaemonConfig) -> None:
        from dockyard.containers.defaults import ContainerDefaults
        from dockyard.containers.init import find_init
        from dockyard.containers.service import ContainerService
        from dockyard.content import ContentStore
        from dockyard.distribution.config import RegistryConfig
        from dockyard.images.service import ImageService
        from dockyard.snapshots import Snapshotter

        self.cfg = cfg
        root, run = cfg.data_root, cfg.exec_root
        self.events = EventBus()
        self.volumes = VolumeService(os.path.join(root, "volumes"))
        self.content = ContentStore(os.path.join(root, "content"))
        self.snapshots = Snapshotter(os.path.join(root, "snapshots"))
        self.images = ImageService(os.path.join(root, "images"), self.content, self.snapshots)
        try:
            self.registry_config = RegistryConfig.from_daemon_json(cfg.settings)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        try:
            container_defaults = ContainerDefaults.from_settings(cfg.settings)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        # Last of the checks, first of the changes to the host: a daemon refused for its
        # configuration leaves no bridge or rule behind.
        self.network = self._network()
        self.containers = ContainerService(
            os.path.join(root, "containers"),
            images=self.images,
            snapshotter=self.snapshots,
            volumes=self.volumes,
            events=self.events.publish,
            network=self.network,
            runtime_root=os.path.join(run, "runtime"),
            run_dir=os.path.join(run, "containers"),
            cgroup_parent=cfg.get("cgroup-parent") or "dockyard",
            init_path=find_init(),
            defaults=container_defaults,
        )
        from dockyard.build.service import BuildService

        self.builder = BuildService(
            os.path.join(root, "build"),
            images=self.images,
            snapshots=self.snapshots,
            containers=self.containers,
            content=self.content,
            registry_config=self.registry_config,
        )
        self.volumes.set_usage_probe(self._volume_users)
        # Start-up recovery, in dependency order.
        self.reconcilers: list[Callable[[], Any]] = [
            self.volumes.reconcile,
            self.snapshots.reconcile,
            self.images.reconcile,
            self.containers.reconcile,
            self.builder.reconcile,
            self._reconcile_network,
        ]
        self.closers: list[Callable[[], Any]] = [self.containers.close]
        if self.network is not None:
            self.closers.insert(0, self.network.close)  # closed after the containers

    def _network(self) -> Any:
        """The container-facing network adapter, when the network layer provides one."""
        try:
            from dockyard.network.containers import ContainerNetworking
        except ImportError:
            return None
        return ContainerNetworking.from_daemon_config(self.cfg)

    def _reconcile_network(self) -> None:
        """Keep what running containers hold; remove namespaces, links and rules of the rest."""
        if self.network is None:
            return
        live = [
            c["Id"]
            for c in self.containers.list(all=True)
            if c.get("State") in ("running", "paused", "restarting")
        ]
        self.network.reconcile(live)

    def _commit(self, ref: str, **kwargs: Any) -> str:
        from dockyard.daemon.commit import commit_container

        return commit_container(self.containers, self.images, self.snapshots, ref, **kwargs)

    def _volume_users(self, name: str) -> list[str]:
        return [c["Id"] for c in self.containers.list(all=True, filters={"volume": [name]})]

    def _image_usage(self) -> dict[str, list[tuple[str, bool]]]:
        """Image id -> [(container id, running)], from one listing of the containers."""
        usage: dict[str, list[tuple[str, bool]]] = {}
        for c in self.containers.list(all=True):
            running = c["State"] in ("running", "paused", "restarting")
            usage.setdefault(c.get("ImageID", ""), []).append((c["Id"], running))
        return usage

    async def info(self) -> dict[str, Any]:
        info = await asyncio.to_thread(sysinfo.base_info, self.cfg.data_root, self.cfg.settings)
        containers = await asyncio.to_thread(self.containers.list, True)
        states = [c.get("State") for c in containers]
        info["Containers"] = len(states)
        info["ContainersRunning"] = sum(1 for s in states if s in ("running", "restarting"))
        info["ContainersPaused"] = states.count("paused")
        info["ContainersStopped"] = (
            info["Containers"] - info["ContainersRunning"] - info["ContainersPaused"]
        )
        info["Images"] = len(await asyncio.to_thread(self.images.list, True))
        info["NEventsListener"] = len(self.events._subs)
        info["NGoroutines"] = len(asyncio.all_tasks())
        import datetime

        info["SystemTime"] = datetime.datetime.now().astimezone().isoformat()
        return info

    async def df(self, types: list[str] | None) -> dict[str, Any]:
        want = set(types or ["container", "image", "volume", "build-cache"])
        out: dict[str, Any] = {
            "LayersSize": 0,
            "Images": [],
            "Containers": [],
            "Volumes": [],
            "BuildCache": [],
        }
        containers = await asyncio.to_thread(self.containers.list, True, -1, "container" in want)
        if "image" in want:
            images = await asyncio.to_thread(self.images.list, True)
            for img in images:
                img["Containers"] = sum(1 for c in containers if c.get("ImageID") == img["Id"])
            layers = await asyncio.to_thread(
                diskusage.image_layers, self.images, [i["Id"] for i in images]
            )
            out["Images"] = images
            out["LayersSize"] = diskusage.layer_usage(images, layers)
        if "container" in want:
            out["Containers"] = containers
        if "volume" in want:
            vols = await asyncio.to_thread(self.volumes.list, None)
            for v in vols:
                size = await asyncio.to_thread(self.volumes.size, v["Name"])
                users = await asyncio.to_thread(self._volume_users, v["Name"])
                v["UsageData"] = {"Size": size, "RefCount": len(users)}
            out["Volumes"] = vols
        if "build-cache" in want:
            out["BuildCache"] = await asyncio.to_thread(self.builder.cache_records)
        return out

    def route_setups(self) -> list[Callable[[Routes], None]]:
        return [
            SystemRoutes(sysinfo.version_info, self.info, self.events, self.df).setup,
            VolumeRoutes(self.volumes, self.events).setup,
            ImageRoutes(
                self.images,
                self.content,
                self.events,
                self.registry_config,
                self._image_usage,
                self._commit,
            ).setup,
            ContainerRoutes(self.containers).setup,
            BuildRoutes(self.builder, self.events).setup,
            *(
                [NetworkRoutes(self.network.service, self.containers, self.events).setup]
                if self.network is not None
                else []
            ),
        ]

    async def reconcile(self) -> None:
        for fn in self.reconcilers:
            try:
                result = fn()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # noqa: BLE001 - one service's recovery must not stop the others
                log.exception("start-up recovery failed in %s", getattr(fn, "__qualname__", fn))

    async def close(self) -> None:
        self.events.close_all()
        for fn in reversed(self.closers):
            try:
                result = fn()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # noqa: BLE001
                log.exception("shutdown of %s failed", getattr(fn, "__qualname__", fn))


SHUTDOWN_GRACE = 10.0  # seconds


async def _trim_memory_periodically(period: float = 30.0) -> None:
    """Give freed heap back to the system now and then (glibc keeps it otherwise): the idle
    daemon's RSS stays near what it really uses."""
    import ctypes
    import gc

    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    while True:
        gc.collect()
        trim(0)
        await asyncio.sleep(period)


def _unix_socket(path: str, group: str) -> socket.socket:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    gid = 0
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        if group != "dockyard":
            log.warning("group %s not found: the socket stays root:root", group)
    os.chown(path, 0, gid)
    os.chmod(path, 0o660)
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _tls_context(cfg: DaemonConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.tlscert, cfg.tlskey)
    if cfg.tlsverify:
        ctx.load_verify_locations(cfg.tlscacert)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _check_pidfile(path: str) -> None:
    try:
        with open(path) as f:
            pid = int(f.read().strip() or "0")
    except (OSError, ValueError):
        pid = 0
    if pid and pid != os.getpid():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pass
        else:
            with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"daemon" in f.read():
                    raise ConfigError(
                        f"pid file found, ensure dockyard is not running or delete {path}"
                    )
    with open(path, "w") as f:
        f.write(f"{os.getpid()}\n")


async def serve(cfg: DaemonConfig) -> None:
    os.makedirs(cfg.data_root, mode=0o710, exist_ok=True)
    os.makedirs(cfg.exec_root, mode=0o700, exist_ok=True)
    pidfile = cfg.pidfile or os.path.join(cfg.exec_root, "dockyard.pid")
    _check_pidfile(pidfile)
    from dockyard.fsutil import make_reserve

    make_reserve(cfg.data_root)  # what removals may use when the disk is full
    # Waits, attaches and followed logs hold a worker thread each for their whole life:
    # the default pool (CPUs + 4) would run out with a few clients. Idle threads end, so
    # the daemon's memory goes back down after a burst (daemon/workers.py).
    from dockyard.daemon.workers import ElasticExecutor

    asyncio.get_running_loop().set_default_executor(ElasticExecutor(max_workers=256))
    engine = Engine(cfg)
    await engine.reconcile()
    app = make_app(engine.route_setups())
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    sockets: list[str] = []
    registry = None  # dockyard's registry server, when daemon.json has registry-addr
    try:
        for host in cfg.hosts:
            scheme, _, rest = host.partition("://")
            if scheme == "unix":
                site: web.BaseSite = web.SockSite(runner, _unix_socket(rest, cfg.group))
                sockets.append(rest)
            else:
                hostname, _, port = rest.rpartition(":")
                site = web.TCPSite(
                    runner, hostname or "0.0.0.0", int(port or 2376), ssl_context=_tls_context(cfg)
                )
            await site.start()
            log.info("API listen on %s", rest if scheme == "unix" else host)
        from dockyard.distribution.server import start_in_daemon

        try:
            registry = await start_in_daemon(cfg.settings, cfg.data_root)
        except ValueError as exc:
            raise ConfigError(f"registry-addr: {exc}") from None
        if registry is not None:
            log.info("registry listen on %s", registry.url)
        log.info("Daemon has completed initialization")
        trimmer = asyncio.ensure_future(_trim_memory_periodically())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        # A shutdown must never hang: the state is on disk, so after a grace period dump
        # every thread's stack to the log (for the bug report) and leave.
        import faulthandler

        faulthandler.dump_traceback_later(SHUTDOWN_GRACE, exit=True)
        trimmer.cancel()
        log.info("Processing signal: shutting down (running containers keep running)")
    finally:
        if registry is not None:
            await registry.stop()
        await engine.close()
        await runner.cleanup()
        for path in sockets:
            with contextlib.suppress(OSError):
                os.unlink(path)
        with contextlib.suppress(OSError):
            os.unlink(pidfile)
        log.info("Daemon shutdown complete")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        cfg = load(argv)
    except ConfigError as exc:
        print(f"failed to start daemon: {exc}", file=sys.stderr)
        return 1
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_DockerdFormatter())
    logging.basicConfig(level=_LEVELS[cfg.log_level], handlers=[handler])
    logging.getLogger("aiohttp.server").addFilter(_QuietParseErrors())
    if os.geteuid() != 0:
        print(
            "failed to start daemon: dockyard daemon needs to be started with root privileges",
            file=sys.stderr,
        )
        return 1
    # As dockerd on SIGUSR1: dump every thread's stack to the log, and go on.
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)
    code = 0
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(serve(cfg))
    except (ConfigError, OSError) as exc:
        print(f"failed to start daemon: {exc}", file=sys.stderr)
        code = 1
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
    # Worker threads may still be blocked in calls that end only with a container (a `wait`
    # whose client went away): the state is on disk and the services are closed, so leave
    # without joining them, as a Go daemon would.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
