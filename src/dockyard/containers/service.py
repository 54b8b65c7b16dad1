"""ContainerService: the lifecycle of containers below the HTTP API.

Every method is synchronous and thread-safe (the API calls them through asyncio.to_thread);
`wait`, `stop` and followed `logs` block until their condition holds.

Who does what:
- the service writes the container's configuration, prepares its root filesystem, volumes
  and OCI bundle, and asks the zygote (launcher.py) for a monitor at each start;
- the monitor (monitor.py) runs the container, writes its logs and its state, and applies the
  restart policy itself, so restarts also happen while the daemon is down;
- a watcher thread (watcher.py) follows every monitor: the service publishes events, honours
  AutoRemove and wakes `wait` callers when a monitor reports an exit or goes away;
- `reconcile()` at daemon start finds the true state of every container (monitor alive? init
  alive?), cleans up after dead ones and restarts those whose policy says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from dockyard.containers import config as cconfig
from dockyard.containers import etcfiles, files, netattach, procs, protocol, views
from dockyard.containers import mounts as cmounts
from dockyard.containers.archive import ContainerFS
from dockyard.containers.defaults import ContainerDefaults
from dockyard.containers.jsonlog import format_time, log_options, read_log
from dockyard.containers.launcher import Launcher
from dockyard.containers.names import generate_name, validate_name
from dockyard.containers.rootcheck import check_image_root
from dockyard.containers.store import ContainerStore, empty_state, name_conflict, process_matches
from dockyard.containers.streams import Stream
from dockyard.containers.watcher import Watcher
from dockyard.errors import (
    Conflict,
    DockyardError,
    Forbidden,
    InvalidParameter,
    NotFound,
    NotModified,
    SystemError_,
)
from dockyard.faults import crash_point
from dockyard.fsutil import frees_space, tree_stats
from dockyard.runtime.hostconfig import adapt_host_config, verify_host_config

EventPublisher = Callable[[str, str, str, dict[str, str]], Any]
RUNNING = ("running", "paused", "restarting")
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
PAUSED_MARK = "paused.json"  # in the container's directory while `pause` holds it frozen
CGROUP_ROOT = "/sys/fs/cgroup"
# The longest stop timeout a monitor can arm, in seconds (its epoll wait takes an int of
# milliseconds); a longer one (`stop -t 1e16`, a huge StopTimeout) is a wait without end.
MAX_STOP_TIMEOUT = (2**31 - 1) // 1000


def _now() -> str:
    return format_time(time.time_ns(), fixed=True)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class ContainerService:
    """Containers of one data root.

    Collaborators: `images.get(ref)` -> image with .id, .config, .chain_id; `snapshotter` with
    prepare/mounts/remove/upper_dir/lower_dirs; optional `volumes` (VolumeService: create,
    mount, unmount, copy_up, remove); optional `events(type, action, actor_id, attributes)`;
    optional `network` (dockyard.network.containers.ContainerNetworking) with setup(cid,
    record) -> {"netns_path", "NetworkSettings", "Ports"}, teardown(cid, record), connect,
    disconnect, lookup(network) and stats(cid); `spec_generator` like
    dockyard.runtime.spec.generate.
    """

    def __init__(
        self,
        root: str,
        *,
        images: Any,
        snapshotter: Any,
        volumes: Any = None,
        events: EventPublisher | None = None,
        network: Any = None,
        runtime: str = "dockyard.runtime:Runtime",
        runtime_root: str = "/run/dockyard/runtime",
        run_dir: str = "/run/dockyard/containers",
        cgroup_parent: str = "dockyard",
        spec_generator: Callable[..., dict[str, Any]] | None = None,
        init_path: str | None = None,
        defaults: ContainerDefaults | None = None,
    ) -> None:
        self.store = ContainerStore(root)
        self.defaults = defaults
        self.images = images
        self.snapshotter = snapshotter
        self.volumes = volumes
        self.network = network
        self._publish = events
        self.run_dir = run_dir
        self.runtime_root = runtime_root
        self.cgroup_parent = cgroup_parent.strip("/")
        self.init_path = init_path
        self._spec_generator = spec_generator
        os.makedirs(run_dir, mode=0o700, exist_ok=True)
        self.launcher = Launcher(runtime, runtime_root)
        self.launcher.prestart()
        self._locks: dict[str, threading.RLock] = {}
        self._locks_lock = threading.Lock()
        self._cond = threading.Condition()
        self._exits: dict[str, int] = {}  # cid -> number of exits seen (wakes `wait`)
        self._removed: dict[str, int] = {}  # recently removed: cid -> last exit code
        self._pending_attach: dict[str, list[Stream]] = {}
        self._exit_codes: dict[str, int] = {}  # the exit its monitor reported, per container
        self._active: set[str] = set()  # started runs whose end was not processed yet
        self._fs_users: dict[str, int] = {}  # cp/export users of a temporarily mounted rootfs
        self.watcher = Watcher(self._on_monitor_event, self._on_monitor_gone)
        from dockyard.containers.execs import ExecManager
        from dockyard.containers.health import HealthMonitor

        self.execs = ExecManager(self)
        self.health = HealthMonitor(self)

    # -- plumbing --------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the service's threads and the zygote; monitors and containers keep running."""
        self.health.close()
        self.watcher.close()
        self.launcher.close()

    def _lock(self, cid: str) -> threading.RLock:
        with self._locks_lock:
            return self._locks.setdefault(cid, threading.RLock())

    def _event(self, action: str, cid: str, extra: dict[str, str] | None = None) -> None:
        if self._publish is None:
            return
        try:
            cfg = self.store.config(cid)
        except NotFound:
            return
        attrs = {"image": cfg["Config"].get("Image", ""), "name": cfg["Name"].lstrip("/")}
        attrs.update(cfg["Config"].get("Labels") or {})
        attrs.update(extra or {})
        try:
            self._publish("container", action, cid, attrs)
        except Exception:  # noqa: BLE001 (events are best effort)
            pass

    def socket_path(self, cid: str) -> str:
        """The monitor's socket (a shorter name when a long run dir would pass the 107 bytes
        a UNIX socket path may have)."""
        path = os.path.join(self.run_dir, cid + ".sock")
        return path if len(path) <= 107 else os.path.join(self.run_dir, cid[:16] + ".sock")

    def cgroups_path(self, cid: str) -> str:
        cfg = self.store.config(cid)
        parent = (cfg["HostConfig"].get("CgroupParent") or self.cgroup_parent).strip("/")
        return f"/{parent}/{cid}"

    def cgroup_dir(self, cid: str, controller: str) -> str:
        return f"{CGROUP_ROOT}/{controller}{self.cgroups_path(cid)}"

    def resolve(self, ref: str) -> str:
        """The full id of a container given by id, name or id prefix."""
        return self.store.resolve(ref)

    def state(self, cid: str) -> dict[str, Any]:
        """The container's state record, with "paused" when `pause` froze it. A freezer that
        is frozen for another reason (the runtime freezes a container for a moment to kill
        all of its processes) is not a pause."""
        state = self.store.read_state(cid)
        if state["Status"] in RUNNING:
            state = self._true_state(cid, state)
        if state["Status"] == "running" and self._paused_mark(cid) and self._frozen(cid):
            state["Status"] = "paused"
        return state

    def _true_state(self, cid: str, state: dict[str, Any]) -> dict[str, Any]:
        """Never "running" for a dead process. A monitor that is gone (or whose pid names
        another process now) gets its end recorded here and now; a live monitor records its
        container's exit within moments (waited for briefly), else the state says exited."""
        if not state["MonitorPid"]:
            self._on_monitor_gone(cid)
            return self.store.read_state(cid)
        deadline = time.monotonic() + 0.5
        while state["Status"] in ("running", "paused") and not process_matches(
            state["Pid"], state.get("PidStartTime")
        ):
            if time.monotonic() >= deadline or not state["MonitorPid"]:
                state.update(Status="exited", Pid=0, ExitCode=self._exit_codes.get(cid, 255))
                state["Error"] = state["Error"] or "the container's process is gone"
                break
            time.sleep(0.01)
            state = self.store.read_state(cid)
        return state

    def _paused_mark(self, cid: str) -> bool:
        return os.path.exists(os.path.join(self.store.dir(cid), PAUSED_MARK))

    def _paused_by_daemon(self, cid: str) -> bool:
        """The pause is the daemon's own (commit's), not the user's."""
        try:
            with open(os.path.join(self.store.dir(cid), PAUSED_MARK), "rb") as f:
                mark = json.load(f)
        except (OSError, ValueError):
            return False
        return bool(mark.get("ByDaemon"))

    def _set_paused_mark(self, cid: str, paused: bool, by_daemon: bool = False) -> None:
        path = os.path.join(self.store.dir(cid), PAUSED_MARK)
        if paused:
            files.write_json(path, {"Paused": True, "ByDaemon": by_daemon})
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _frozen(self, cid: str) -> bool:
        try:
            with open(os.path.join(self.cgroup_dir(cid, "freezer"), "freezer.state")) as f:
                return f.read().strip() in ("FROZEN", "FREEZING")
        except OSError:
            pass
        try:
            with open(f"{CGROUP_ROOT}/unified{self.cgroups_path(cid)}/cgroup.freeze") as f:
                return f.read().strip() == "1"
        except OSError:
            return False

    def _running(self, cid: str) -> bool:
        return self.store.read_state(cid)["Status"] in RUNNING

    # -- create ----------------------------------------------------------------------------
    def create(
        self,
        name: str | None,
        config: dict[str, Any],
        host_config: dict[str, Any] | None,
        networking_config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a container; returns {"Id", "Warnings"}."""
        if not isinstance(config, dict):
            raise InvalidParameter("config must be an object")
        host_config = dict(host_config or {})
        if self.defaults is not None:
            host_config = self.defaults.apply(host_config)
        # dockerd's create-time checks (the spec generator repeats them at start), then the
        # options dockyard does not enact
        verify_host_config(adapt_host_config(host_config), config)
        warnings = cconfig.validate_host_config(host_config)
        if name:
            name = validate_name(name)
            if self.store.name_taken(name):
                raise name_conflict(name, self.store.resolve(name))
        image_ref = config.get("Image") or ""
        if not image_ref:
            raise InvalidParameter("config.Image is required")
        image = self.images.get(image_ref)
        merged = cconfig.merge_config(image.config, config)
        argv = cconfig.command_of(merged)
        if not argv:
            raise InvalidParameter("No command specified")
        max_size, max_file = log_options(host_config.get("LogConfig"))
        specs = cmounts.plan(merged, host_config)
        if host_config.get("Init") and not self.init_path:
            raise InvalidParameter("--init is not available: no docker-init binary installed")
        cid = secrets.token_hex(32)
        while not name:
            candidate = generate_name()
            if not self.store.name_taken(candidate):
                name = candidate
        cdir = self.store.dir(cid)
        merged["Hostname"] = merged.get("Hostname") or etcfiles.default_hostname(cid, host_config)
        merged["Image"] = image_ref
        record = {
            "Id": cid,
            "Name": name,
            "Created": _now(),
            "Path": argv[0],
            "Args": argv[1:],
            "Config": merged,
            "HostConfig": host_config,
            "NetworkingConfig": networking_config or {},
            "Image": image.id,
            "ImageConfig": image.config,
            "ChainID": image.chain_id,
            "ResolvConfPath": os.path.join(cdir, "resolv.conf"),
            "HostnamePath": os.path.join(cdir, "hostname"),
            "HostsPath": os.path.join(cdir, "hosts"),
            "LogPath": os.path.join(cdir, f"{cid}-json.log"),
            "LogMaxSize": max_size,
            "LogMaxFile": max_file,
            "Driver": "overlay2",
            "MountSpecs": specs,
            "NetworkSettings": {},
        }
        netattach.at_create(record, self._network_lookup())
        self.snapshotter.prepare(cid, image.chain_id)
        created_volumes: list[str] = []
        try:
            crash_point("container.create.prepared")
            check_image_root(self.snapshotter.lower_dirs(cid))
            for spec in specs:
                if spec["Type"] != "volume":
                    continue
                if self.volumes is None:
                    raise InvalidParameter("volumes are not available")
                vol = self.volumes.create(spec["Name"] or None)
                if not spec["Name"]:
                    spec["Name"] = vol["Name"]
                    spec["Anonymous"] = True
                    created_volumes.append(vol["Name"])
                spec["Source"] = vol["Mountpoint"]
            self.store.add(record)
        except BaseException:
            self.snapshotter.remove(cid)
            for v in created_volumes:
                try:
                    self.volumes.remove(v)
                except Exception:  # noqa: BLE001
                    pass
            raise
        self._event("create", cid)
        return {"Id": cid, "Warnings": warnings}

    # -- start -----------------------------------------------------------------------------
    def start(self, ref: str) -> None:
        cid = self.resolve(ref)
        with self._lock(cid):
            state = self.state(cid)
            if state["Status"] == "paused":
                raise Conflict("cannot start a paused container, try unpause instead")
            if state["Status"] in RUNNING:
                raise NotModified("container already started")
            if state["Status"] == "removing":
                raise Conflict(f"container {cid} is marked for removal and cannot be started")
            self._wait_monitor_gone(cid, state)
            if cid in self._active:  # the last run ended; the watcher has not said so yet
                self._on_monitor_gone(cid)
            try:
                self._start(cid)
            except DockyardError:
                # As dockerd: an auto-remove container whose start failed is removed (the
                # `docker run --rm` that waits for its removal would wait forever).
                if self.store.config(cid)["HostConfig"].get("AutoRemove"):
                    with contextlib.suppress(DockyardError):
                        self.remove(cid, force=True, volumes=True)
                raise

    def _wait_monitor_gone(self, cid: str, state: dict[str, Any], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while _pid_alive(state.get("MonitorPid", 0)) and time.monotonic() < deadline:
            time.sleep(0.01)
            state = self.store.read_state(cid)

    def _start(self, cid: str) -> None:
        cfg = self.store.config(cid)
        self._set_paused_mark(cid, False)
        cdir = self.store.dir(cid)
        bundle = os.path.join(cdir, "bundle")
        rootfs = os.path.join(bundle, "rootfs")
        os.makedirs(rootfs, exist_ok=True)
        from dockyard.snapshots.mount import mount_all, unmount_all

        unmount_all(rootfs)
        mount_all(self.snapshotter.mounts(cid), rootfs)
        mounted_volumes: list[str] = []
        attachers: list[Stream] = []
        net = None
        try:
            extra = []
            for spec in cfg["MountSpecs"]:
                source = spec["Source"]
                if spec["Type"] == "volume":
                    source = self.volumes.mount(spec["Name"], cid)
                    mounted_volumes.append(spec["Name"])
                    if spec.get("CopyUp"):
                        self._copy_up(spec, rootfs)
                elif spec["Type"] == "bind" and not os.path.exists(source):
                    os.makedirs(source, exist_ok=True)  # Docker creates a missing -v source
                extra.append(cmounts.oci_mount(spec, source))
            hostname = cfg["Config"]["Hostname"]
            etcfiles.write_etc_files(cdir, hostname, cfg["HostConfig"])
            netns = None
            if self.network is not None:
                wanted, on_none = netattach.setup_record(cfg, self._network_lookup())
                net = self.network.setup(cid, wanted) or {}
                netns = net.get("netns_path")
                if net.get("NetworkSettings") is not None:
                    cfg["NetworkSettings"] = net["NetworkSettings"]
                    if on_none:  # disconnected from every network before the start
                        cfg["NetworkSettings"]["Networks"] = {}
                    cfg["Ports"] = net.get("Ports") or []
                    self.store.save(cfg)
                    self._network_events("connect", cid, cfg["NetworkSettings"])
            extra += etcfiles.etc_mounts(cdir, cfg["HostConfig"])
            spec = self._generate_spec(cfg, rootfs, hostname, extra, netns)
            files.write_json(os.path.join(bundle, "config.json"), spec)
            with self._locks_lock:
                attachers = [a for a in self._pending_attach.pop(cid, []) if a.pending]
            console = cfg["HostConfig"].get("ConsoleSize") or [0, 0]
            files.write_json(
                os.path.join(cdir, "monitor.json"),
                {
                    "id": cid,
                    "bundle": bundle,
                    "tty": bool(cfg["Config"].get("Tty")),
                    "open_stdin": bool(cfg["Config"].get("OpenStdin")),
                    "stdin_once": bool(cfg["Config"].get("StdinOnce")),
                    "console_size": console if console and console[0] and console[1] else None,
                    "log_driver": (cfg["HostConfig"].get("LogConfig") or {}).get("Type")
                    or "json-file",
                    "log_path": cfg["LogPath"],
                    "log_max_size": cfg.get("LogMaxSize"),
                    "log_max_file": cfg.get("LogMaxFile") or 1,
                    "socket": self.socket_path(cid),
                    "run_dir": self.run_dir,
                    "restart_policy": cfg["HostConfig"].get("RestartPolicy") or {"Name": "no"},
                    "memory_cgroup": self.cgroup_dir(cid, "memory"),
                    "unmount": [rootfs],
                    "attach_wait": len(attachers),
                },
            )

            def connect_attachers() -> None:
                for a in attachers:
                    try:
                        conn = protocol.MonitorConnection(self.socket_path(cid), a.request)
                        conn.settimeout(None)
                    except OSError:
                        conn = None
                    a.connect(conn)

            self.store.forget_unsaved(cid)  # the new monitor writes the state of this run
            self._exit_codes.pop(cid, None)
            report = self.launcher.launch(cdir, on_created=connect_attachers)
            if "error" in report:
                raise _start_error(report["error"], bool(report.get("invalid")))
        except BaseException:
            for a in attachers:
                if a.pending:
                    a.connect(None)
            self._release(cid, mounted_volumes, net is not None)
            raise
        self._active.add(cid)
        self._event("start", cid)
        self.store.write_health(cid, None)
        if not self.watcher.watch(cid, self.socket_path(cid)):
            self._on_monitor_gone(cid)
            return
        self._start_health(cid, cfg)

    def _start_health(self, cid: str, cfg: dict[str, Any], reset: bool = True) -> None:
        hc = cfg["Config"].get("Healthcheck")
        if hc:
            self.health.start(cid, hc, reset)

    def _copy_up(self, spec: dict[str, Any], rootfs: str) -> None:
        """Fill a new volume from the image's directory at its destination, opened inside the
        container's root (a symlink on the way resolves within it)."""
        from dockyard.linux import pathrs

        root = pathrs.open_root(rootfs)
        try:
            src = pathrs.open_in_root(root, spec["Destination"], os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return  # missing, not a directory, or a loop: nothing to copy, as in Docker
        finally:
            os.close(root)
        try:
            self.volumes.copy_up(spec["Name"], src)
        finally:
            os.close(src)

    def _generate_spec(
        self,
        cfg: dict[str, Any],
        rootfs: str,
        hostname: str,
        extra: list[dict[str, Any]],
        netns: str | None,
    ) -> dict[str, Any]:
        gen = self._spec_generator
        if gen is None:
            from dockyard.runtime.spec import generate as gen
        host_config = cfg["HostConfig"]
        return gen(
            None,
            cfg["Config"],
            host_config,
            rootfs=rootfs,
            container_id=cfg["Id"],
            hostname=hostname,
            cgroups_path=self.cgroups_path(cfg["Id"]),
            extra_mounts=tuple(extra),
            netns_path=netns,
            init_path=self.init_path if host_config.get("Init") else None,
        )

    def _release(
        self, cid: str, volume_names: list[str] | None = None, network: bool = True
    ) -> None:
        """Undo what a start set up, after the container stopped (its monitor is gone)."""
        from dockyard.snapshots.mount import unmount_all

        rootfs = os.path.join(self.store.dir(cid), "bundle", "rootfs")
        try:
            unmount_all(rootfs)
        except Exception:  # noqa: BLE001
            pass
        try:
            cfg = self.store.config(cid)
        except NotFound:
            return
        if volume_names is None:
            volume_names = [s["Name"] for s in cfg["MountSpecs"] if s["Type"] == "volume"]
        for name in volume_names:
            try:
                self.volumes.unmount(name, cid)
            except Exception:  # noqa: BLE001
                pass
        if network and self.network is not None:
            try:
                self.network.teardown(cid, cfg)
            except Exception:  # noqa: BLE001
                pass
            self._network_events("disconnect", cid, cfg.get("NetworkSettings"))
            # Docker keeps the networks (and their ids) of a stopped container, no addresses
            with contextlib.suppress(NotFound):
                cfg = self.store.config(cid)  # fresh: the teardown took a while
                cfg["NetworkSettings"] = netattach.offline_settings(cfg, self._network_lookup())
                cfg["Ports"] = []
                self.store.save(cfg)

    def _network_lookup(self) -> netattach.NetworkLookup | None:
        return getattr(self.network, "lookup", None)

    def _network_events(self, action: str, cid: str, settings: dict[str, Any] | None) -> None:
        """Docker's `network connect`/`disconnect` events for each endpoint a start made or a
        stop removed (explicit `docker network connect` events come from the API route)."""
        if self._publish is None:
            return
        lookup = self._network_lookup()
        for name, ep in ((settings or {}).get("Networks") or {}).items():
            if not ep.get("EndpointID") or not ep.get("NetworkID"):
                continue
            driver = ""
            if lookup is not None:
                with contextlib.suppress(NotFound):
                    driver = lookup(ep["NetworkID"])["Driver"]
            attrs = {"container": cid, "name": name, "type": driver}
            with contextlib.suppress(Exception):
                self._publish("network", action, ep["NetworkID"], attrs)

    # -- network connect / disconnect ------------------------------------------------------
    def connect_network(
        self, ref: str, network: str, endpoint_config: dict[str, Any] | None = None
    ) -> None:
        """`docker network connect`: a running container gets its endpoint now (an interface,
        an address, DNS records, /etc/hosts lines); one that is not running keeps the network
        in its record and is attached at its next start."""
        if self.network is None:
            raise InvalidParameter("networking is not available in this daemon")
        cid = self.resolve(ref)
        net = self.network.lookup(network)
        settings = dict(endpoint_config or {})
        with self._lock(cid):
            cfg = self.store.config(cid)
            running = self._check_network_change(cid)
            netattach.check_endpoint_settings(net, settings)
            if not netattach.check_connect(cfg, net, running):
                return
            endpoints = netattach.wanted(cfg)
            if (
                running
                and not endpoints
                and netattach.has_own_endpoints(netattach.network_mode(cfg))
            ):
                with contextlib.suppress(Forbidden):  # started without any network
                    self.network.disconnect("none", cid, cfg)
            endpoints[net["Name"]] = netattach.endpoint_settings_to_keep(settings)
            if not running:
                netattach.record_networks(cfg, endpoints)
                cfg["NetworkSettings"] = netattach.offline_settings(cfg, self.network.lookup)
                self.store.save(cfg)
                return
            result = self.network.connect(net["Name"], cid, cfg, settings)
            netattach.record_networks(cfg, endpoints)
            cfg["NetworkSettings"] = result["NetworkSettings"]
            cfg["Ports"] = result["Ports"]
            try:
                self.store.save(cfg)
            except BaseException:
                self.network.disconnect(net["Name"], cid, cfg, True)
                raise

    def disconnect_network(self, ref: str, network: str, force: bool = False) -> None:
        """`docker network disconnect`: the endpoint, its address, ports and DNS records go
        from a running container; a container that is not running just forgets the network."""
        if self.network is None:
            raise InvalidParameter("networking is not available in this daemon")
        cid = self.resolve(ref)
        try:
            net: dict[str, Any] | None = self.network.lookup(network)
        except NotFound:
            if not force:
                raise
            net = None  # -f: forget a network that was removed meanwhile
        with self._lock(cid):
            cfg = self.store.config(cid)
            running = self._check_network_change(cid)
            name = net["Name"] if net else network
            endpoints = netattach.wanted(cfg)
            if not running or net is None:
                if name not in endpoints:
                    raise SystemError_(f"container {cid} is not connected to the network {name}")
                del endpoints[name]
                netattach.record_networks(cfg, endpoints)
                if running:
                    cfg.setdefault("NetworkSettings", {}).get("Networks", {}).pop(name, None)
                else:
                    cfg["NetworkSettings"] = netattach.offline_settings(cfg, self.network.lookup)
                self.store.save(cfg)
                return
            if netattach.network_mode(cfg) == "host" and net["Driver"] == "host":
                raise InvalidParameter(netattach.CONFLICT_HOST_NETWORK)
            live = (cfg.get("NetworkSettings") or {}).get("Networks") or {}
            if name not in endpoints and name not in live:
                raise SystemError_(f"container {cid} is not connected to network {name}")
            result = self.network.disconnect(name, cid, cfg, force)
            endpoints.pop(name, None)
            netattach.record_networks(cfg, endpoints)
            cfg["NetworkSettings"] = result["NetworkSettings"]
            cfg["Ports"] = result["Ports"]
            self.store.save(cfg)

    def _check_network_change(self, cid: str) -> bool:
        """Whether the container runs; Docker's error for one that is being removed."""
        status = self.state(cid)["Status"]
        if status in ("removing", "dead"):
            raise SystemError_(
                f"Container {cid} is marked for removal and cannot be connected or "
                "disconnected to the network"
            )
        return status in RUNNING

    # -- monitor events --------------------------------------------------------------------
    def _on_monitor_event(self, cid: str, ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "state" and ("unsaved" in ev or "saved" in ev):
            # the monitor could not write its state (a full disk): keep it until it can
            self.store.monitor_unsaved(cid, ev.get("state") if ev.get("unsaved") else None)
            return
        if kind == "log-dropped":  # as dockerd's "Error writing log message"
            logging.getLogger("dockyard.containers").warning(
                "container %s: json-file log: %s; %s lines dropped",
                cid[:12],
                ev.get("error"),
                ev.get("dropped"),
            )
            return
        if kind == "exit":
            self.health.stop(cid)
            self._exit_codes[cid] = int(ev.get("code", 0))
        elif kind == "start":
            self._exit_codes.pop(cid, None)
        if kind == "exit" and ev.get("restarting"):
            self._event("die", cid, {"exitCode": str(ev.get("code", 0))})
            self._bump_exit(cid)
        elif kind == "start" and self.store.read_state(cid).get("RestartCount", 0) > 0:
            self._event("start", cid)
            try:
                self._start_health(cid, self.store.config(cid))
            except NotFound:
                pass
        elif kind == "exit":
            if ev.get("oom"):
                self._event("oom", cid)

    def _on_monitor_gone(self, cid: str) -> None:
        """The monitor closed its watch connection: it has exited (or is just about to).

        Runs once per run (`_active` marks a run whose resources are still set up), under
        the container's lock, so it never tears down what a newer start set up."""
        with self._lock(cid):
            try:
                state = self.store.read_state(cid)
            except Exception:  # noqa: BLE001
                return
            if state["Status"] in RUNNING:
                if _pid_alive(state.get("MonitorPid", 0)):
                    return  # a newer run, or still alive: its own watch reports its end
                # It died without writing a final state (killed): record what happened.
                self._lost_monitor(cid, state)
                state = self.store.read_state(cid)
            if not state["MonitorPid"]:
                self.store.adopt_unsaved(cid)  # a state the monitor could not write
            if cid not in self._active:
                return
            self._active.discard(cid)
            self._release(cid)
        self._event("die", cid, {"exitCode": str(state["ExitCode"])})
        self._bump_exit(cid)
        try:
            cfg = self.store.config(cid)
        except NotFound:
            return
        if cfg["HostConfig"].get("AutoRemove"):
            threading.Thread(target=self._auto_remove, args=(cid,), daemon=True).start()

    def _auto_remove(self, cid: str) -> None:
        try:
            self.remove(cid, force=True, volumes=True)
        except (NotFound, Conflict):
            pass

    def _bump_exit(self, cid: str) -> None:
        with self._cond:
            self._exits[cid] = self._exits.get(cid, 0) + 1
            self._cond.notify_all()

    def _lost_monitor(self, cid: str, state: dict[str, Any]) -> None:
        """The monitor died without a word: kill what is left and record an exit."""
        from dockyard.containers.zygote import load_runtime

        code = self._exit_codes.get(cid, 255)  # it reported an exit it could not record
        try:
            runtime = load_runtime(self.launcher.runtime_spec, self.runtime_root)
            if process_matches(state.get("Pid", 0), state.get("PidStartTime")):
                runtime.kill(cid, signal.SIGKILL, all=True)
                code = 137
            runtime.delete(cid, force=True)
        except Exception:  # noqa: BLE001 (nothing left to delete)
            pass
        state.update(
            Status="exited",
            Pid=0,
            ExitCode=code,
            MonitorPid=0,
            FinishedAt=_now(),
            Error=state.get("Error") or "",
        )
        self.store.write_state(cid, state)

    # -- reconcile -------------------------------------------------------------------------
    def reconcile(self) -> None:
        """At daemon start: find every container's true state; restart per policy."""
        from dockyard.snapshots.mount import unmount_all

        for orphan in self.store.orphan_dirs():
            try:
                unmount_all(os.path.join(self.store.dir(orphan), "bundle", "rootfs"))
            except Exception:  # noqa: BLE001
                pass
            self.store.delete(orphan)
        known = set(self.store.ids())
        for snap in list(self.snapshotter.walk("active")):
            if _CONTAINER_ID.fullmatch(snap.name) and snap.name not in known:
                # a create that a crash interrupted before its record was written
                self.snapshotter.remove(snap.name)
        to_start = []
        for cid in self.store.ids():
            state = self.store.read_state(cid)
            if state["Status"] == "removing":
                state["Status"] = "dead"
                self.store.write_state(cid, state)
                continue
            if state["Status"] in RUNNING:
                self._active.add(cid)
                if self.watcher.watch(cid, self.socket_path(cid)):
                    if self._paused_by_daemon(cid):
                        # a commit's pause that a crash of the daemon left behind
                        self._set_frozen(cid, False)
                        self._set_paused_mark(cid, False)
                    self._start_health(cid, self.store.config(cid), reset=False)
                    continue
                self._active.discard(cid)
            elif os.path.ismount(os.path.join(self.store.dir(cid), "bundle", "rootfs")):
                self._release(cid)  # a start interrupted by a crash of the daemon
            if state["Status"] in RUNNING:
                self._lost_monitor(cid, state)
                self._release(cid)
                state = self.store.read_state(cid)
            cfg = self.store.config(cid)
            if cfg["HostConfig"].get("AutoRemove") and state["Status"] == "exited":
                self._auto_remove(cid)
                continue
            policy = (cfg["HostConfig"].get("RestartPolicy") or {}).get("Name") or "no"
            if state["Status"] == "exited" and (
                policy == "always"
                or (policy == "unless-stopped" and not state.get("ManuallyStopped"))
            ):
                to_start.append(cid)
        for cid in to_start:
            try:
                self.start(cid)
            except Exception:  # noqa: BLE001 (recorded in the container's state)
                pass

    # -- stop, kill, restart ---------------------------------------------------------------
    def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        """Stop with the stop signal, then SIGKILL after `timeout` seconds (-1: wait forever).

        Raises NotModified when the container is not running."""
        cid = self.resolve(ref)
        cfg = self.store.config(cid)
        state = self.state(cid)
        if state["Status"] not in RUNNING:
            raise NotModified("container already stopped")
        signum = cconfig.parse_signal(sig or cfg["Config"].get("StopSignal") or "SIGTERM")
        if timeout is None:
            timeout = cfg["Config"].get("StopTimeout")
            if timeout is None:
                timeout = 10
        if timeout > MAX_STOP_TIMEOUT:
            timeout = -1  # longer than any clock here can arm: wait without end, as for -1
        if self._frozen(cid):
            self._set_frozen(cid, False)
        self._set_paused_mark(cid, False)
        with self._cond:
            seen = self._exits.get(cid, 0)
        self._event("kill", cid, {"signal": str(signum)})
        try:
            protocol.call(
                self.socket_path(cid),
                {"op": "stop", "signal": signum, "timeout": timeout},
                timeout=None,
            )
        except (OSError, ConnectionError):
            pass  # the monitor is gone already: wait below settles it
        self._wait_exit_seen(cid, seen, 30)
        self._event("stop", cid)

    def _wait_exit_seen(self, cid: str, seen: int, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(
                lambda: self._exits.get(cid, 0) > seen and not self._running(cid), timeout
            )

    def kill(self, ref: str, sig: str | int | None = "SIGKILL") -> None:
        cid = self.resolve(ref)
        signum = cconfig.parse_signal(sig, signal.SIGKILL)
        state = self.state(cid)
        if state["Status"] not in RUNNING:
            raise Conflict(f"Cannot kill container: {ref}: Container {cid} is not running")
        if state["Status"] == "paused" and signum != signal.SIGKILL:
            raise Conflict(
                f"Cannot kill container: {ref}: Container {cid} is paused. "
                "Unpause the container before stopping or killing"
            )
        with self._cond:
            seen = self._exits.get(cid, 0)
        try:
            reply = protocol.call(
                self.socket_path(cid), {"op": "kill", "signal": signum, "manual": True}
            )
        except (OSError, ConnectionError) as e:
            raise Conflict(f"Cannot kill container: {ref}: Container {cid} is not running") from e
        if reply.get("event") == "error":
            raise Conflict(f"Cannot kill container: {ref}: {reply.get('message')}")
        self._event("kill", cid, {"signal": str(signum)})
        if signum == signal.SIGKILL:
            if self._frozen(cid):
                self._set_frozen(cid, False)
            self._set_paused_mark(cid, False)
            self._wait_exit_seen(cid, seen, 10)

    def restart(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        cid = self.resolve(ref)
        try:
            self.stop(cid, timeout, sig)
        except NotModified:
            pass
        self.start(cid)
        self._event("restart", cid)

    # -- wait ------------------------------------------------------------------------------
    def exit_count(self, ref: str) -> int:
        """How many exits of the container this daemon has seen: a "next-exit" wait is for
        the first exit after the count it is given."""
        cid = self.resolve(ref)
        with self._cond:
            return self._exits.get(cid, 0)

    def wait(
        self,
        ref: str,
        condition: str = "not-running",
        timeout: float | None = None,
        seen: int | None = None,
    ) -> dict[str, Any]:
        """Block until the condition ("not-running", "next-exit", "removed") holds;
        returns {"StatusCode": N, "Error": None}. `seen`: the exit_count() taken when the
        wait was asked for (by default, now)."""
        if condition not in ("not-running", "next-exit", "removed", ""):
            raise InvalidParameter(f"invalid condition: {condition!r}")
        cid = self.resolve(ref)
        if seen is None:
            seen = self.exit_count(cid)
        code_holder: dict[str, int] = {}

        def done() -> bool:
            if condition == "removed":
                if cid in self._removed:
                    return True
                return False
            try:
                state = self.store.read_state(cid)
            except Exception:  # noqa: BLE001
                return True
            code_holder["code"] = state["ExitCode"]
            if condition == "next-exit":
                return self._exits.get(cid, 0) > seen or cid in self._removed
            return (
                state["Status"] not in RUNNING
                and not _pid_alive(state.get("MonitorPid", 0))
                or cid in self._removed
            )

        if condition == "removed":
            code_holder["code"] = self.store.read_state(cid)["ExitCode"]
        with self._cond:
            while not done():
                if not self._cond.wait(timeout if timeout is not None else 1.0) and timeout:
                    break
        if condition == "removed" and cid in self._removed:
            code_holder["code"] = self._removed.get(cid, code_holder.get("code", 0))
        return {"StatusCode": code_holder.get("code", 0), "Error": None}

    # -- remove ----------------------------------------------------------------------------
    @frees_space
    def remove(
        self, ref: str, force: bool = False, volumes: bool = False, link: bool = False
    ) -> None:
        if link:
            raise InvalidParameter("Conflict, cannot remove the default link name of the container")
        cid = self.resolve(ref)
        state = self.state(cid)
        if state["Status"] in RUNNING:
            if not force:
                if state["Status"] == "paused":
                    raise Conflict(
                        f'cannot remove container "{ref}": container is '
                        "paused and must be unpaused first"
                    )
                raise Conflict(
                    f'cannot remove container "{ref}": container is running: '
                    "stop the container before removing or force remove"
                )
            try:
                self.kill(cid, signal.SIGKILL)  # not under the lock: its end takes the lock
            except Conflict:
                pass
        with self._lock(cid):
            state = self.store.read_state(cid)
            self._wait_monitor_gone(cid, state)
            state = self.store.read_state(cid)
            if _pid_alive(state.get("MonitorPid", 0)):
                raise Conflict(f'cannot remove container "{ref}": could not stop its monitor')
            if state["Status"] in RUNNING or cid in self._active:
                self._on_monitor_gone(cid)  # the watcher did not get to it yet
                state = self.store.read_state(cid)
            cfg = self.store.config(cid)
            state["Status"] = "removing"
            self.store.write_state(cid, state, durable=False)
            crash_point("container.remove.marked")
            self.execs.forget_container(cid)
            self._release(cid)
            try:
                self.snapshotter.remove(cid)
            except NotFound:
                pass
            if volumes and self.volumes is not None:
                for spec in cfg["MountSpecs"]:
                    if spec["Type"] == "volume" and spec.get("Anonymous"):
                        try:
                            self.volumes.remove(spec["Name"])
                        except Exception:  # noqa: BLE001 (in use by another container)
                            pass
            self._event("destroy", cid)
            self.store.delete(cid)
            with self._cond:
                self._removed[cid] = state["ExitCode"]
                while len(self._removed) > 1024:  # waiters woke long ago; keep it bounded
                    del self._removed[next(iter(self._removed))]
                self._exits.pop(cid, None)
                self._cond.notify_all()
            with self._locks_lock:
                self._locks.pop(cid, None)
                waiting = self._pending_attach.pop(cid, [])
            for stream in waiting:
                stream.connect(None)  # an attach waiting for a start that will never come

    # -- inspect and list ------------------------------------------------------------------
    def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        cid = self.resolve(ref)
        cfg = self.store.config(cid)
        state = self.state(cid)
        view = views.inspect_view(
            cfg,
            state,
            self.store.read_health(cid),
            self.execs.ids_for(cid),
            self._graph(cid),
        )
        if state.get("LogDropped"):  # lines the json-file log could not take (a full disk)
            view["State"]["LogDropped"] = state["LogDropped"]
        if size:
            view["SizeRw"], view["SizeRootFs"] = self._sizes(cid)
        return view

    def _graph(self, cid: str) -> dict[str, str]:
        try:
            upper = self.snapshotter.upper_dir(cid)
            lowers = self.snapshotter.lower_dirs(cid)
        except Exception:  # noqa: BLE001
            return {}
        return {
            "LowerDir": ":".join(lowers),
            "MergedDir": os.path.join(self.store.dir(cid), "bundle", "rootfs"),
            "UpperDir": upper,
            "WorkDir": os.path.join(os.path.dirname(upper), "work"),
        }

    def _sizes(self, cid: str) -> tuple[int, int]:
        def du(path: str) -> int:  # apparent sizes of what is not a directory, as moby
            return sum(st.st_size for st in tree_stats(path) if not stat.S_ISDIR(st.st_mode))

        graph = self._graph(cid)
        rw = du(graph["UpperDir"]) if graph else 0
        lower = sum(du(d) for d in graph.get("LowerDir", "").split(":") if d)
        return rw, rw + lower

    def list(
        self,
        all: bool = False,
        limit: int = -1,
        size: bool = False,  # noqa: A002
        filters: dict[str, list[str]] | None = None,
    ) -> list[dict[str, Any]]:
        filters = filters or {}
        views.validate_filters(filters)
        entries = []
        for cid in self.store.ids():
            try:
                cfg = self.store.config(cid)
            except NotFound:
                continue
            entries.append((cfg, self.state(cid), self.store.read_health(cid)))
        entries.sort(key=lambda e: e[0]["Created"], reverse=True)
        created = {cfg["Id"]: cfg["Created"] for cfg, _, _ in entries}
        before = [created[self.resolve(r)] for r in filters.get("before", [])]
        since = [created[self.resolve(r)] for r in filters.get("since", [])]
        ancestors = [self._image_id(a) for a in filters.get("ancestor", [])]
        out = []
        for cfg, state, health in entries:
            if (
                not all
                and not filters.get("status")
                and not filters.get("exited")
                and state["Status"] not in ("running", "paused", "restarting")
            ):
                continue
            if not self._match(cfg, state, health, filters, before, since, ancestors):
                continue
            view = views.summary_view(cfg, state, health)
            if size:
                view["SizeRw"], view["SizeRootFs"] = self._sizes(cfg["Id"])
            out.append(view)
            if limit is not None and limit > 0 and len(out) >= limit:
                break
        return out

    def _image_id(self, ref: str) -> str | None:
        try:
            return self.images.get(ref).id
        except Exception:  # noqa: BLE001
            return None

    @staticmethod
    def _match(
        cfg: dict[str, Any],
        state: dict[str, Any],
        health: dict[str, Any] | None,
        f: dict[str, list[str]],
        before: list[str],
        since: list[str],
        ancestors: list[str | None],
    ) -> bool:
        import re

        if f.get("id") and not any(cfg["Id"].startswith(v) for v in f["id"]):
            return False
        if f.get("name") and not any(
            re.search(v.lstrip("/"), cfg["Name"].lstrip("/")) for v in f["name"]
        ):
            return False
        labels = cfg["Config"].get("Labels") or {}
        if f.get("label") and not all(views.label_matches(labels, v) for v in f["label"]):
            return False
        if f.get("status") and state["Status"] not in f["status"]:
            return False
        if f.get("exited") and (
            state["Status"] != "exited" or str(state["ExitCode"]) not in f["exited"]
        ):
            return False
        if (
            f.get("ancestor")
            and cfg["Image"] not in ancestors
            and cfg["Config"].get("Image") not in f["ancestor"]
        ):
            return False
        if before and not all(cfg["Created"] < b for b in before):
            return False
        if since and not all(cfg["Created"] > s for s in since):
            return False
        if f.get("health"):
            hs = (health or {}).get("Status", "none") if health else "none"
            if hs not in f["health"]:
                return False
        if f.get("volume"):
            names = {m["Name"] for m in cfg["MountSpecs"]} | {
                m["Destination"] for m in cfg["MountSpecs"]
            }
            if not any(v in names for v in f["volume"]):
                return False
        if f.get("network"):
            nets = set((cfg.get("NetworkSettings") or {}).get("Networks") or {})
            nets.add(cfg["HostConfig"].get("NetworkMode") or "bridge")
            if not any(v in nets for v in f["network"]):
                return False
        return True

    # -- logs ------------------------------------------------------------------------------
    def logs(
        self,
        ref: str,
        *,
        stdout: bool = True,
        stderr: bool = True,
        follow: bool = False,
        since: float = 0,
        until: float = 0,
        timestamps: bool = False,
        details: bool = False,
        tail: int = -1,
    ) -> Iterator[tuple[str, bytes]]:
        """(stream, bytes) entries of the json-file log; with `follow`, until the container
        stops. A blocking iterator: iterate it in a thread."""
        cid = self.resolve(ref)
        cfg = self.store.config(cid)
        if (cfg["HostConfig"].get("LogConfig") or {}).get("Type") == "none":
            raise InvalidParameter("configured logging driver does not support reading")
        return read_log(
            cfg["LogPath"],
            stdout=stdout,
            stderr=stderr,
            since=since,
            until=until,
            timestamps=timestamps,
            details=details,
            tail=tail,
            follow=follow,
            stopped=lambda: not self._alive_for_logs(cid),
        )

    def _alive_for_logs(self, cid: str) -> bool:
        try:
            state = self.store.read_state(cid)
        except Exception:  # noqa: BLE001
            return False
        return state["Status"] in RUNNING or (
            state["Status"] != "created" and _pid_alive(state.get("MonitorPid", 0))
        )

    # -- rename, pause, update -------------------------------------------------------------
    def rename(self, ref: str, new_name: str) -> None:
        cid = self.resolve(ref)
        if not new_name:
            raise InvalidParameter("Neither old nor new names may be empty")
        name = validate_name(new_name)
        old = self.store.config(cid)["Name"]
        if name == old:
            raise InvalidParameter("Renaming a container with the same name as its current name")
        self.store.rename(cid, name)
        self._event("rename", cid, {"oldName": old})

    def _set_frozen(self, cid: str, frozen: bool) -> None:
        v1 = os.path.join(self.cgroup_dir(cid, "freezer"), "freezer.state")
        try:
            with open(v1, "w") as f:
                f.write("FROZEN" if frozen else "THAWED")
        except FileNotFoundError:
            with open(f"{CGROUP_ROOT}/unified{self.cgroups_path(cid)}/cgroup.freeze", "w") as f:
                f.write("1" if frozen else "0")
        if frozen:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    with open(v1) as f:
                        if f.read().strip() == "FROZEN":
                            return
                except OSError:
                    return
                time.sleep(0.005)

    def pause(self, ref: str, by_daemon: bool = False) -> None:
        """Freeze the container. `by_daemon`: the pause is the daemon's own, for the length
        of one operation (commit); if the daemon dies before it unpauses, start-up does."""
        cid = self.resolve(ref)
        with self._lock(cid):  # not while a start, stop or unpause is under way
            state = self.state(cid)
            if state["Status"] == "paused":
                raise Conflict(f"Container {cid} is already paused")
            if state["Status"] != "running":
                raise Conflict(f"Container {cid} is not running")
            self._set_paused_mark(cid, True, by_daemon)
            self._set_frozen(cid, True)
        self._event("pause", cid)

    def unpause(self, ref: str) -> None:
        cid = self.resolve(ref)
        with self._lock(cid):
            if self.state(cid)["Status"] != "paused":
                raise Conflict(f"Container {cid} is not paused")
            self._set_frozen(cid, False)
            self._set_paused_mark(cid, False)
        self._event("unpause", cid)

    def update(self, ref: str, resources: dict[str, Any]) -> dict[str, Any]:
        """Change resources (and RestartPolicy) of a container; live ones get new cgroup limits."""
        from dockyard.containers.resources import apply_update

        cid = self.resolve(ref)
        with self._lock(cid):
            cfg = self.store.config(cid)
            warnings = apply_update(self, cid, cfg, resources)
            self.store.save(cfg)
        self._event("update", cid)
        return {"Warnings": warnings}

    # -- prune -----------------------------------------------------------------------------
    @frees_space
    def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        filters = filters or {}
        for key in filters:
            if key not in ("until", "label", "label!"):
                raise InvalidParameter(f"invalid filter '{key}'")
        deleted, reclaimed = [], 0
        until = None
        if filters.get("until"):
            from dockyard.daemon.events import parse_timestamp

            until = parse_timestamp(filters["until"][0])
        for cid in self.store.ids():
            try:
                cfg = self.store.config(cid)
            except NotFound:
                continue
            state = self.state(cid)
            if state["Status"] in RUNNING:
                continue
            labels = cfg["Config"].get("Labels") or {}
            if not all(views.label_matches(labels, v) for v in filters.get("label", [])):
                continue
            if any(views.label_matches(labels, v) for v in filters.get("label!", [])):
                continue
            from dockyard.containers.jsonlog import parse_time

            if until is not None and parse_time(cfg["Created"]) >= until:
                continue
            rw, _ = self._sizes(cid)
            try:
                self.remove(cid)
            except (Conflict, NotFound):
                continue
            deleted.append(cid)
            reclaimed += rw
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def ids(self) -> list[str]:
        return self.store.ids()

    # -- attach and resize -----------------------------------------------------------------
    def attach(
        self,
        ref: str,
        *,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        logs: bool = False,
        stream: bool = True,
    ) -> Stream:
        """A Stream of the container's output (and to its stdin). With `logs`, the log's
        content comes first; without `stream`, only that. Raises Conflict when `stream` is
        asked of a container that is not running."""
        cid = self.resolve(ref)
        cfg = self.store.config(cid)
        tty = bool(cfg["Config"].get("Tty"))
        prefix: list[tuple[str, bytes]] = []
        if logs:
            prefix = list(self.logs(cid, stdout=stdout, stderr=stderr))
        state = self.state(cid)
        if not stream:
            return Stream(_ClosedConnection(), tty, prefix=prefix)
        if state["Status"] == "paused":
            raise Conflict("You cannot attach to a paused container, unpause it first")
        request = {
            "op": "attach",
            "stdin": stdin and bool(cfg["Config"].get("OpenStdin")),
            "stdout": stdout,
            "stderr": stderr,
        }
        with self._lock(cid):
            self.store.config(cid)  # NotFound if a removal won the race for the lock
            state = self.state(cid)
            if state["Status"] not in ("running", "restarting"):
                # Docker's clients attach before they start: wait for the next start.
                pending = Stream(None, tty, prefix=prefix, request=request)
                with self._locks_lock:
                    self._pending_attach.setdefault(cid, []).append(pending)
                self._event("attach", cid)
                return pending
        try:
            conn = protocol.MonitorConnection(self.socket_path(cid), request, timeout=10)
        except OSError:
            raise Conflict("You cannot attach to a stopped container, start it first") from None
        conn.settimeout(None)
        self._event("attach", cid)
        return Stream(conn, tty, prefix=prefix)

    def resize(self, ref: str, height: int, width: int) -> None:
        cid = self.resolve(ref)
        if self.state(cid)["Status"] not in ("running", "paused"):
            raise Conflict(f"Container {cid} is not running")
        try:
            protocol.call(
                self.socket_path(cid), {"op": "resize", "h": int(height), "w": int(width)}
            )
        except (OSError, ConnectionError) as e:
            raise Conflict(f"Container {cid} is not running") from e
        self._event("resize", cid, {"height": str(height), "width": str(width)})

    # -- top and stats ---------------------------------------------------------------------
    def top(self, ref: str, ps_args: str = "") -> dict[str, Any]:
        cid = self.resolve(ref)
        if self.state(cid)["Status"] not in ("running", "paused"):
            raise Conflict(f"Container {cid} is not running")
        result = procs.top(self.cgroups_path(cid), ps_args)
        self._event("top", cid)
        return result

    def stats(
        self, ref: str, stream: bool = True, one_shot: bool = False, interval: float = 1.0
    ) -> Iterator[dict[str, Any]]:
        """Docker's stats objects: one (stream=False) or one per `interval` until the
        container stops. With one_shot, precpu_stats are zero (no second sample)."""
        cid = self.resolve(ref)
        name = self.store.config(cid)["Name"]
        cgpath = self.cgroups_path(cid)
        zero = "0001-01-01T00:00:00Z"

        def running() -> bool:
            return self.state(cid)["Status"] in ("running", "paused")

        def networks() -> dict[str, Any] | None:
            if self.network is None or not hasattr(self.network, "stats"):
                return None
            try:
                return self.network.stats(cid)
            except Exception:  # noqa: BLE001
                return None

        def gen() -> Iterator[dict[str, Any]]:
            prev, prev_read = None, zero
            if not stream and not one_shot and running():
                prev, prev_read = procs.sample(cgpath), _now()
                time.sleep(min(interval, 1.0))
            while True:
                alive = running()
                cur = procs.sample(cgpath) if alive else None
                read = _now() if alive else zero
                yield procs.stats_entry(cid, name, cur, prev, networks(), read, prev_read)
                if not stream or not alive:
                    return
                prev, prev_read = cur, read
                time.sleep(interval)

        return gen()

    # -- files: cp, export, diff -----------------------------------------------------------
    def _fs(self, cid: str) -> contextlib.AbstractContextManager[ContainerFS]:
        """A context manager giving the container's ContainerFS. A stopped container's root
        file system is mounted for the duration (shared by concurrent users, counted)."""
        from dockyard.snapshots.mount import mount_all, unmount_all

        svc = self

        @contextlib.contextmanager
        def cm() -> Iterator[ContainerFS]:
            cfg = svc.store.config(cid)
            rootfs = os.path.join(svc.store.dir(cid), "bundle", "rootfs")
            with svc._lock(cid):
                if svc._fs_users.get(cid, 0) == 0 and not os.path.ismount(rootfs):
                    os.makedirs(rootfs, exist_ok=True)
                    mount_all(svc.snapshotter.mounts(cid), rootfs)
                    svc._fs_users[cid] = 1
                elif cid in svc._fs_users:
                    svc._fs_users[cid] += 1
            try:
                yield ContainerFS(rootfs, cfg["MountSpecs"])
            finally:
                with svc._lock(cid):
                    if cid in svc._fs_users:
                        svc._fs_users[cid] -= 1
                        if svc._fs_users[cid] == 0:
                            del svc._fs_users[cid]
                            if svc.store.read_state(cid)["Status"] not in RUNNING:
                                unmount_all(rootfs)

        return cm()

    def archive_head(self, ref: str, path: str) -> dict[str, Any]:
        """The stat of `path` in the container (X-Docker-Container-Path-Stat's content)."""
        cid = self.resolve(ref)
        with self._fs(cid) as fs:
            return fs.stat(path)

    def archive_get(self, ref: str, path: str) -> tuple[dict[str, Any], Iterator[bytes]]:
        """(stat, tar chunks) of `path` in the container."""
        from dockyard.containers.archive import tar_path

        cid = self.resolve(ref)
        cm = self._fs(cid)
        fs = cm.__enter__()
        try:
            info = fs.stat(path)
            chunks = tar_path(fs, path)
        except BaseException:
            cm.__exit__(None, None, None)
            raise

        def gen() -> Iterator[bytes]:
            try:
                yield from chunks
            finally:
                cm.__exit__(None, None, None)

        self._event("archive-path", cid)
        return info, gen()

    def archive_put(
        self,
        ref: str,
        path: str,
        stream: Any,
        *,
        no_overwrite_dir_non_dir: bool = False,
        copy_uid_gid: bool = False,
    ) -> None:
        """Unpack the tar read from file object `stream` into directory `path`."""
        from dockyard.containers.archive import extract

        cid = self.resolve(ref)
        cfg = self.store.config(cid)
        if cfg["HostConfig"].get("ReadonlyRootfs"):
            raise InvalidParameter("container rootfs is marked read-only")
        with self._fs(cid) as fs:
            extract(fs, path, stream, no_overwrite_dir_non_dir, copy_uid_gid)
        self._event("extract-to-dir", cid)

    def export(self, ref: str) -> Iterator[bytes]:
        """`docker export`: tar chunks of the container's root file system."""
        from dockyard.containers.archive import export

        cid = self.resolve(ref)
        cm = self._fs(cid)
        fs = cm.__enter__()

        def gen() -> Iterator[bytes]:
            try:
                yield from export(fs.rootfs)
            finally:
                cm.__exit__(None, None, None)

        self._event("export", cid)
        return gen()

    def changes(self, ref: str) -> list[dict[str, Any]]:
        """`docker diff`: [{"Path", "Kind"}] with Kind 0 modified, 1 added, 2 deleted."""
        from dockyard.containers.archive import changes

        cid = self.resolve(ref)
        return changes(self.snapshotter.upper_dir(cid), self.snapshotter.lower_dirs(cid))

    # -- exec (see execs.py) ---------------------------------------------------------------
    def exec_create(self, ref: str, config: dict[str, Any]) -> dict[str, str]:
        return {"Id": self.execs.create(ref, config)}

    def exec_start(
        self,
        exec_id: str,
        detach: bool = False,
        tty: bool | None = None,
        console_size: list[int] | None = None,
        claimed: bool = False,
    ) -> Stream | None:
        return self.execs.start(exec_id, detach, tty, console_size, claimed)

    def exec_claim(self, exec_id: str) -> dict[str, Any]:
        return self.execs.claim(exec_id)

    def exec_release(self, exec_id: str) -> None:
        self.execs.release(exec_id)

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return self.execs.inspect(exec_id)

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self.execs.resize(exec_id, height, width)

    def empty_state(self) -> dict[str, Any]:
        return empty_state()


class _ClosedConnection:
    """A connection with nothing more to read (attach to logs only)."""

    def read_frame(self) -> None:
        return None

    def send(self, kind: int, payload: bytes) -> None:
        raise ConnectionError("not attached")

    def close(self) -> None:
        pass


def _start_error(message: str, invalid: bool = False) -> Exception:
    lowered = message.lower()
    if invalid:
        return InvalidParameter(f"failed to create task for container: {message}")
    if "not found" in lowered or "no such file" in lowered or "permission denied" in lowered:
        return InvalidParameter(f"failed to create task for container: {message}")
    return SystemError_(f"failed to create task for container: {message}")
