"""The planner: what `up` and `down` do to make the engine match the project.

`up` converges: networks (`PROJECT_default` and the declared ones; external ones must
exist), volumes, images (built when the service has `build:` and the image is missing or
`--build`, pulled when missing), then containers service by service in dependency order:
each service's containers `PROJECT-SERVICE-N` are kept when their config hash and image are
unchanged, recreated when not (or when a dependency they restart with was recreated),
created up to the scale and removed above it, and started once what they depend on meets
its condition (service_started, service_healthy, service_completed_successfully).
`down` removes the project's containers, networks and, if asked, volumes and images.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from dockyard.client import APIError
from dockyard.compose import labels as L
from dockyard.compose.engine import Engine
from dockyard.compose.errors import ComposeError
from dockyard.compose.graph import dependents_order
from dockyard.compose.model import Project, Service
from dockyard.compose.progress import Progress
from dockyard.compose.spec import create_body, primary_networks

HEALTH_POLL = 0.2


@dataclass
class UpOptions:
    services: list[str] = field(default_factory=list)
    build: bool = False
    no_build: bool = False
    force_recreate: bool = False
    no_recreate: bool = False
    no_deps: bool = False
    no_start: bool = False
    scale: dict[str, int] = field(default_factory=dict)
    remove_orphans: bool = False
    wait: bool = False
    wait_timeout: float | None = None
    timeout: int | None = None  # stop timeout for recreated and removed containers


def number_of(container: dict[str, Any]) -> int:
    try:
        return int(container["Labels"].get(L.CONTAINER_NUMBER, "0"))
    except ValueError:
        return 0


def name_of(container: dict[str, Any]) -> str:
    names = container.get("Names") or [container.get("Name") or container["Id"][:12]]
    return names[0].lstrip("/")


def run_ordered(
    names: list[str], after: dict[str, set[str]], act: Callable[[str], None], workers: int = 8
) -> None:
    """act(name) for every name, each once the names in after[name] are done, independent
    ones in parallel threads (as Docker Compose converges). After a failure no new name is
    started; the first error is raised once the running ones have finished.
    """
    pending = list(names)
    done: set[str] = set()
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running: dict[Future, str] = {}
        while pending or running:
            if error is None:
                for name in [n for n in pending if after.get(n, set()) <= done]:
                    pending.remove(name)
                    running[pool.submit(act, name)] = name
            if not running:
                if error is None and pending:
                    raise ComposeError("dependency cycle detected: " + ", ".join(pending))
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                exc = future.exception()
                if exc is not None:
                    error = error or exc
                else:
                    done.add(name)
    if error is not None:
        raise error


class Planner:
    """Acts on one project through the engine, reporting each step to a Progress."""

    def __init__(self, engine: Engine, project: Project, progress: Progress) -> None:
        self.engine = engine
        self.project = project
        self.progress = progress
        self.log: Callable[[str], None] = lambda line: None  # build/pull output

    # --- what exists ------------------------------------------------------------------

    def containers(
        self, services: list[str] | None = None, oneoff: bool | None = False
    ) -> list[dict[str, Any]]:
        """The project's containers (of services, if given), in service then number order."""
        wanted = [f"{L.PROJECT}={self.project.name}"]
        if oneoff is not None:
            wanted.append(f"{L.ONEOFF}={'True' if oneoff else 'False'}")
        found = self.engine.containers(wanted)
        if services is not None:
            found = [c for c in found if c["Labels"].get(L.SERVICE) in services]
        return sorted(found, key=lambda c: (c["Labels"].get(L.SERVICE, ""), number_of(c)))

    def service_containers(self, service: str) -> list[dict[str, Any]]:
        return self.containers([service])

    def orphans(self, found: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Containers of services the files no longer have (among found, if given)."""
        known = set(self.project.services) | set(self.project.disabled_services)
        found = self.containers() if found is None else found
        return [c for c in found if c["Labels"].get(L.SERVICE) not in known]

    # --- networks and volumes -------------------------------------------------------------

    def used_networks(self, services: list[str]) -> list[str]:
        keys: list[str] = []
        for name in services:
            for key in primary_networks(self.project.services[name]):
                if key not in keys:
                    keys.append(key)
        return sorted(keys)

    def ensure_networks(self, services: list[str]) -> None:
        for key in self.used_networks(services):
            net = self.project.networks[key]
            found = self.engine.network(net.name)
            if net.external:
                if found is None:
                    raise ComposeError(
                        f"network {net.name} declared as external, but could not be found"
                    )
                continue
            if found is not None:
                continue
            body: dict[str, Any] = {
                "Name": net.name,
                "Driver": net.driver or "bridge",
                "Labels": L.network_labels(self.project, key),
                "CheckDuplicate": True,
            }
            if net.driver_opts:
                body["Options"] = net.driver_opts
            if net.internal:
                body["Internal"] = True
            if net.attachable:
                body["Attachable"] = True
            if net.enable_ipv6 is not None:
                body["EnableIPv6"] = net.enable_ipv6
            if net.ipam is not None:
                body["IPAM"] = {
                    "Driver": net.ipam.driver or "default",
                    "Options": net.ipam.options or None,
                    "Config": [
                        {
                            k: v
                            for k, v in {
                                "Subnet": pool.subnet,
                                "Gateway": pool.gateway,
                                "IPRange": pool.ip_range,
                                "AuxiliaryAddresses": pool.aux_addresses or None,
                            }.items()
                            if v
                        }
                        for pool in net.ipam.config
                    ],
                }
            self.progress.event("Network", net.name, "Creating")
            self.engine.create_network(body)
            self.progress.event("Network", net.name, "Created")

    def used_volumes(self, services: list[str]) -> list[str]:
        keys = {
            m.source
            for name in services
            for m in self.project.services[name].volumes
            if m.type == "volume" and m.source
        }
        return sorted(keys)

    def ensure_volumes(self, services: list[str]) -> None:
        for key in self.used_volumes(services):
            vol = self.project.volumes[key]
            found = self.engine.volume(vol.name)
            if vol.external:
                if found is None:
                    raise ComposeError(f'external volume "{vol.name}" not found')
                continue
            if found is not None:
                continue
            self.progress.event("Volume", f'"{vol.name}"', "Creating")
            self.engine.create_volume(
                {
                    "Name": vol.name,
                    "Driver": vol.driver or "local",
                    "DriverOpts": vol.driver_opts,
                    "Labels": L.volume_labels(self.project, key),
                }
            )
            self.progress.event("Volume", f'"{vol.name}"', "Created")

    # --- images --------------------------------------------------------------------------

    def ensure_images(
        self, services: list[str], build: bool = False, no_build: bool = False
    ) -> dict[str, str]:
        """Build or pull what is missing; the image ID of each service."""
        ids: dict[str, str] = {}
        known: dict[str, dict[str, Any] | None] = {}  # services often share an image
        for name in services:
            service = self.project.services[name]
            image = L.image_name(self.project, service)
            found = known[image] if image in known else self.engine.image(image)
            if service.build is not None and not no_build and (build or found is None):
                self.build(service)
                found = self.engine.image(image)
            elif found is None:
                self.pull(service)
                found = self.engine.image(image)
            if found is None:
                raise ComposeError(f"image {image} for service {name} is missing")
            known[image] = found
            ids[name] = found["Id"]
        return ids

    def build(self, service: Service, no_cache: bool = False, pull: bool = False) -> str:
        """Build the service's image, tagged with its name; the output goes to self.log."""
        from dockyard.build.context import write_context_tar

        assert service.build is not None
        spec = service.build
        image = L.image_name(self.project, service)
        buf = io.BytesIO()
        written = write_context_tar(spec.context, buf, spec.dockerfile)
        buf.seek(0)
        build_labels = dict(spec.labels)
        params: dict[str, Any] = {
            "t": image,
            "dockerfile": written.dockerfile,
            "rm": True,
            "forcerm": True,
            "nocache": no_cache or None,
            "pull": pull or None,
            "target": spec.target,
            "buildargs": json.dumps(
                {k: v for k, v in spec.args.items() if v is not None}, separators=(",", ":")
            ),
            "labels": json.dumps(build_labels) if build_labels else None,
        }
        self.log(f"Building {service.name}")
        image_id = ""
        for message in self.engine.build(buf, params):
            if "stream" in message:
                text = message["stream"]
                if text.strip():
                    self.log(text.rstrip("\n"))
            aux = message.get("aux") or {}
            if aux.get("ID"):
                image_id = aux["ID"]
        self.progress.event("Service", service.name, "Built")
        return image_id

    def pull(self, service: Service) -> None:
        image = L.image_name(self.project, service)
        self.progress.event("Service", service.name, "Pulling")
        try:
            for message in self.engine.pull(image):
                if message.get("status") and not message.get("progressDetail"):
                    self.log(f"{service.name} {message['status']}")
        except Exception:
            self.progress.event("Service", service.name, "Error", failed=True)
            raise
        self.progress.event("Service", service.name, "Pulled")

    # --- containers ------------------------------------------------------------------------

    def up(self, opts: UpOptions) -> list[str]:
        """Converge; the services acted on, in dependency order."""
        project = self.project
        order = project.select(opts.services or None, with_deps=not opts.no_deps)
        for name, count in opts.scale.items():
            if name not in project.services:
                raise ComposeError(f"no such service: {name}")
            project.services[name].scale = count
        before = self.containers()  # each service's own, before its converge changes them
        orphans = self.orphans(before)
        if orphans and opts.remove_orphans:
            for c in orphans:
                self._remove(c, opts.timeout)
        elif orphans:
            names = ", ".join(name_of(c) for c in orphans)
            print(
                f"WARN[0000] Found orphan containers ([{names}]) for this project. If you "
                "removed or renamed this service in your compose file, you can run this "
                "command with the --remove-orphans flag to clean it up.",
                file=sys.stderr,
            )
        self.ensure_networks(order)
        self.ensure_volumes(order)
        image_ids = self.ensure_images(order, build=opts.build, no_build=opts.no_build)
        recreated: set[str] = set()

        def converge(name: str) -> None:
            service = project.services[name]
            if not opts.no_start:
                self.wait_dependencies(service, order)
            mine = [c for c in before if c["Labels"].get(L.SERVICE) == name]
            if self.converge_service(service, image_ids[name], opts, recreated, mine):
                recreated.add(name)

        deps = {name: set(project.services[name].dependencies()) & set(order) for name in order}
        run_ordered(order, deps, converge)
        if opts.wait:
            self.wait_running(order, opts.wait_timeout)
        return order

    def converge_service(
        self,
        service: Service,
        image_id: str,
        opts: UpOptions,
        recreated: set[str],
        existing: list[dict[str, Any]],
    ) -> bool:
        """Make the service's containers (existing: as listed) match; True when any was
        (re)created."""
        want_hash = L.config_hash(service)
        changed = False
        keep: list[dict[str, Any]] = []
        for c in existing:
            if number_of(c) > service.scale or (service.container_name and number_of(c) > 1):
                self._remove(c, opts.timeout)
            else:
                keep.append(c)
        restart_for_deps = any(
            dep in recreated and spec.restart for dep, spec in service.depends_on.items()
        )
        numbers = {number_of(c) for c in keep}
        for c in keep:
            labels = c["Labels"]
            stale = (
                labels.get(L.CONFIG_HASH) != want_hash
                or (labels.get(L.IMAGE) and labels.get(L.IMAGE) != image_id)
                or opts.force_recreate
            )
            if stale and not opts.no_recreate:
                self.recreate(service, c, image_id, opts)
                changed = True
            elif not opts.no_start:
                if c["State"] != "running":
                    self.start_container(name_of(c))
                elif restart_for_deps:
                    self.progress.event("Container", name_of(c), "Restarting")
                    self.engine.restart(c["Id"], opts.timeout)
                    self.progress.event("Container", name_of(c), "Started")
                else:
                    self.progress.event("Container", name_of(c), "Running")
        for number in range(1, service.scale + 1):
            if number in numbers:
                continue
            cid = self.create_container(service, number, image_id)
            changed = True
            if not opts.no_start:
                self.start_container(cid)
        return changed

    def create_container(self, service: Service, number: int, image_id: str) -> str:
        name = L.container_name(self.project, service, number)
        self.progress.event("Container", name, "Creating")
        body = create_body(self.project, service, number, image_id=image_id)
        self.engine.create(name, body)
        self.progress.event("Container", name, "Created")
        return name

    def start_container(self, name: str) -> None:
        self.progress.event("Container", name, "Starting")
        self.engine.start(name)
        self.progress.event("Container", name, "Started")

    def recreate(
        self, service: Service, old: dict[str, Any], image_id: str, opts: UpOptions
    ) -> None:
        name = name_of(old)
        number = number_of(old)
        self.progress.event("Container", name, "Recreate")
        if old["State"] in ("running", "paused", "restarting"):
            self.engine.stop(old["Id"], opts.timeout)
        self.engine.remove(old["Id"], force=True)
        body = create_body(self.project, service, number, image_id=image_id)
        self.engine.create(L.container_name(self.project, service, number), body)
        self.progress.event("Container", name, "Recreated")
        if not opts.no_start:
            self.start_container(name)

    def _remove(self, c: dict[str, Any], timeout: int | None, volumes: bool = False) -> None:
        name = name_of(c)
        if c["State"] in ("running", "paused", "restarting"):
            self.progress.event("Container", name, "Stopping")
            self.engine.stop(c["Id"], timeout)
            self.progress.event("Container", name, "Stopped")
        self.progress.event("Container", name, "Removing")
        self.engine.remove(c["Id"], force=True, volumes=volumes)
        self.progress.event("Container", name, "Removed")

    # --- conditions --------------------------------------------------------------------------

    def wait_dependencies(self, service: Service, order: list[str]) -> None:
        for dep, spec in service.depends_on.items():
            if dep not in self.project.services:
                continue
            for c in self.service_containers(dep):
                if spec.condition == "service_healthy":
                    self.wait_healthy(c)
                elif spec.condition == "service_completed_successfully":
                    self.wait_completed(c)

    def wait_healthy(self, c: dict[str, Any], timeout: float | None = None) -> None:
        name = name_of(c)
        self.progress.event("Container", name, "Waiting")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = self.engine.inspect(c["Id"])["State"]
            health = (state.get("Health") or {}).get("Status")
            if health is None:
                self.progress.event("Container", name, "Error", failed=True)
                raise ComposeError(f"container {name} has no healthcheck configured")
            if health == "healthy":
                self.progress.event("Container", name, "Healthy")
                return
            if health == "unhealthy":
                self.progress.event("Container", name, "Error", failed=True)
                raise ComposeError(f"dependency failed to start: container {name} is unhealthy")
            if not state.get("Running"):
                self.progress.event("Container", name, "Error", failed=True)
                raise ComposeError(
                    f"dependency failed to start: container {name} exited "
                    f"({state.get('ExitCode', 0)})"
                )
            if deadline is not None and time.monotonic() > deadline:
                raise ComposeError(f"timeout waiting for container {name} to be healthy")
            time.sleep(HEALTH_POLL)

    def wait_completed(self, c: dict[str, Any]) -> None:
        name = name_of(c)
        self.progress.event("Container", name, "Waiting")
        code = self.engine.wait(c["Id"])
        if code != 0:
            self.progress.event("Container", name, "Error", failed=True)
            service = c["Labels"].get(L.SERVICE)
            raise ComposeError(f'service "{service}" didn\'t complete successfully: exit {code}')
        self.progress.event("Container", name, "Exited")

    def wait_running(self, services: list[str], timeout: float | None) -> None:
        """--wait: every container running, and healthy when it has a healthcheck."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for c in self.containers(services):
            name = name_of(c)
            while True:
                state = self.engine.inspect(c["Id"])["State"]
                health = (state.get("Health") or {}).get("Status")
                if state.get("Running") and health in (None, "healthy"):
                    self.progress.event("Container", name, "Healthy")
                    break
                if health == "unhealthy" or not state.get("Running"):
                    self.progress.event("Container", name, "Error", failed=True)
                    raise ComposeError(f"container {name} is {health or state.get('Status')}")
                if deadline is not None and time.monotonic() > deadline:
                    raise ComposeError(f"timeout waiting for container {name}")
                time.sleep(HEALTH_POLL)

    # --- down --------------------------------------------------------------------------------

    def down(
        self,
        volumes: bool = False,
        rmi: str | None = None,
        remove_orphans: bool = False,
        timeout: int | None = None,
    ) -> bool:
        """Remove the project's containers and networks; False when nothing was found."""
        project = self.project
        services = list(project.services) + list(project.disabled_services)
        known = set(services)
        found = self.containers(oneoff=None)
        ordered = dependents_order(project.services)
        rank = {name: i for i, name in enumerate(ordered)}
        doomed = [c for c in found if c["Labels"].get(L.SERVICE) in known or remove_orphans]
        doomed.sort(key=lambda c: (rank.get(c["Labels"].get(L.SERVICE, ""), -1), number_of(c)))
        leftover = [c for c in found if c not in doomed]
        if leftover:
            names = ", ".join(name_of(c) for c in leftover)
            print(
                f"WARN[0000] Found orphan containers ([{names}]) for this project. If you "
                "removed or renamed this service in your compose file, you can run this "
                "command with the --remove-orphans flag to clean it up.",
                file=sys.stderr,
            )
        by_service: dict[str, list[dict[str, Any]]] = {}
        for c in doomed:
            by_service.setdefault(c["Labels"].get(L.SERVICE, ""), []).append(c)
        # a service's containers go once the containers of the services needing it are gone
        needed_by = {
            name: {
                other
                for other in by_service
                if other in project.services and name in project.services[other].dependencies()
            }
            for name in by_service
        }

        def remove_service(name: str) -> None:
            for c in by_service[name]:
                self._remove(c, timeout, volumes=volumes)

        run_ordered(list(by_service), needed_by, remove_service)
        touched = bool(doomed)
        for net in sorted(project.networks.values(), key=lambda n: n.name):
            if net.external:
                continue
            info = self.engine.network(net.name)
            if info is None:
                continue
            if (info.get("Labels") or {}).get(L.PROJECT) not in (None, project.name):
                continue
            if info.get("Containers"):  # an orphan or a foreign container is attached
                self.progress.event("Network", net.name, "Resource is still in use")
                touched = True
                continue
            self.progress.event("Network", net.name, "Removing")
            try:
                self.engine.remove_network(net.name)
            except APIError as exc:
                if exc.status != 404:
                    self.progress.event("Network", net.name, "Error", failed=True)
                    raise
            self.progress.event("Network", net.name, "Removed")
            touched = True
        if volumes:
            for vol in sorted(project.volumes.values(), key=lambda v: v.name):
                if vol.external or self.engine.volume(vol.name) is None:
                    continue
                self.progress.event("Volume", vol.name, "Removing")
                self.engine.remove_volume(vol.name)
                self.progress.event("Volume", vol.name, "Removed")
                touched = True
        if rmi:
            for name in sorted(project.services):
                service = project.services[name]
                if rmi == "local" and service.image:
                    continue
                image = L.image_name(project, service)
                if self.engine.image(image) is None:
                    continue
                self.progress.event("Image", image, "Removing")
                try:
                    self.engine.remove_image(image)
                except APIError as exc:
                    if exc.status not in (404, 409):
                        raise
                    self.progress.event("Image", image, "Error", failed=True)
                    continue
                self.progress.event("Image", image, "Removed")
                touched = True
        return touched
