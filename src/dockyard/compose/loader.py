"""Loading a compose project: files -> a validated, normalised Project.

The steps, as Docker Compose takes them:
1. The environment: the shell's variables, plus `.env` in the project directory (or the
   `--env-file` files) for the names the shell does not set.
2. Each file: YAML (duplicate keys refused), `${VAR}` interpolation, validation against the
   compose-spec schema, and a check that dockyard implements every key used.
3. The files merged in order (see merge.py).
4. The project name: `-p`, else COMPOSE_PROJECT_NAME, else the top-level `name:`, else the
   project directory's name, normalised.
5. The services normalised to the model (model.py): short syntaxes to long ones, relative
   paths made absolute, env files read, durations and sizes parsed.
6. Profiles: services with profiles are active only when one of them is enabled, or when
   they are named explicitly.
7. Checks: undefined networks, volumes and services, dependency cycles.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from dockyard.compose.dotenv import load_dotenv
from dockyard.compose.errors import ComposeError
from dockyard.compose.graph import check_dependencies
from dockyard.compose.interpolation import interpolate
from dockyard.compose.merge import merge_files
from dockyard.compose.model import (
    BindOptions,
    Build,
    Dependency,
    Healthcheck,
    Ipam,
    IpamPool,
    Logging,
    Mount,
    Network,
    Port,
    Project,
    Service,
    ServiceNetwork,
    TmpfsOptions,
    Ulimit,
    Volume,
    VolumeOptions,
)
from dockyard.compose.schema import validate
from dockyard.compose.supported import check_supported
from dockyard.compose.syntax import (
    command_list,
    extra_hosts,
    key_values,
    parse_volume,
    ports_of,
    scalar_str,
)
from dockyard.compose.yamlfile import ComposeFile, parse_yaml
from dockyard.units import parse_bytes, parse_duration_ns

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
_VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\Z", re.ASCII)


def normalize_project_name(name: str) -> str:
    """Lower case, only [a-z0-9_-], no leading `_` or `-` (Docker Compose's rule)."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


def check_project_name(name: str) -> str:
    if not name:
        raise ComposeError("project name must not be empty")
    if not _VALID_NAME.match(name):
        raise ComposeError(
            f'invalid project name "{name}": must consist only of lowercase alphanumeric '
            "characters, hyphens, and underscores as well as start with a letter or number"
        )
    return name


def find_default_files(directory: str) -> list[str]:
    """compose.yaml (or its older names) in directory or a parent, and its override."""
    directory = os.path.abspath(directory)
    while True:
        for name in DEFAULT_FILES:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                found = [path]
                for override in OVERRIDE_FILES:
                    candidate = os.path.join(directory, override)
                    if os.path.isfile(candidate):
                        found.append(candidate)
                        break
                return found
        parent = os.path.dirname(directory)
        if parent == directory:
            raise ComposeError("no configuration file provided: not found")
        directory = parent


def project_environment(
    working_dir: str, env_file: list[str] | None, environ: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The variables for interpolation (the shell's, then the env files' for the rest) and
    the env files read: env_file (relative to working_dir), else working_dir/.env if any.
    """
    if env_file:
        paths = [os.path.join(working_dir, path) for path in env_file]
    else:
        default = os.path.join(working_dir, ".env")
        paths = [default] if os.path.isfile(default) else []
    from_files: dict[str, str] = {}
    for path in paths:
        from_files.update(load_dotenv(path, lambda name: environ.get(name, from_files.get(name))))
    return {**from_files, **environ}, paths


def load_file(path: str, environment: Mapping[str, str], warnings: list[str]) -> ComposeFile:
    """Read, interpolate, validate and check one compose file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ComposeError(f"open {path}: no such file or directory") from None
    except OSError as err:
        raise ComposeError(f"open {path}: {err.strerror}") from None
    loaded = parse_yaml(text, path)
    data = interpolate(loaded.data, environment, path, _warner(warnings))
    assert isinstance(data, dict)
    validate(data, path)
    check_supported(data, path)
    check_syntax(data, path)
    loaded.data = data
    return loaded


def check_syntax(data: dict, source: str) -> None:
    """Short syntaxes, sizes and durations the schema lets through but we cannot read:
    errors name the file and the path (`services.web.ports[0]`)."""
    for name, service in (data.get("services") or {}).items():
        service = service or {}

        def fail(key: str, err: Exception, name: str = name) -> None:
            message = err.message if isinstance(err, ComposeError) else str(err)
            raise ComposeError(f"{source}: services.{name}.{key}: {message}") from None

        for index, port in enumerate(service.get("ports") or []):
            try:
                ports_of([port])
            except (ComposeError, ValueError) as err:
                fail(f"ports[{index}]", err)
        for index, volume in enumerate(service.get("volumes") or []):
            if isinstance(volume, str):
                try:
                    parse_volume(volume)
                except ComposeError as err:
                    fail(f"volumes[{index}]", err)
        if service.get("mem_limit") is not None:
            try:
                parse_bytes(service["mem_limit"])
            except ValueError as err:
                fail("mem_limit", err)
        durations = [("stop_grace_period", service.get("stop_grace_period"))]
        for key in ("interval", "timeout", "start_period", "start_interval"):
            durations.append((f"healthcheck.{key}", (service.get("healthcheck") or {}).get(key)))
        for key, value in durations:
            if isinstance(value, str):
                try:
                    parse_duration_ns(value)
                except ValueError as err:
                    fail(key, err)


def _warner(warnings: list[str]):  # type: ignore[no-untyped-def]
    def warn(message: str) -> None:
        if message not in warnings:
            warnings.append(message)

    return warn


def load_project(
    files: list[str] | None = None,
    *,
    project_name: str | None = None,
    env_file: list[str] | None = None,
    profiles: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    working_dir: str | None = None,
    services: list[str] | None = None,
) -> Project:
    """Load, merge, validate and normalise a compose project.

    files default to compose.yaml (or docker-compose.yml) and its override in working_dir
    or the current directory; working_dir defaults to the first file's directory; environ
    defaults to os.environ; services are the services named on the command line (they are
    enabled whatever their profiles). Raises ComposeError.
    """
    environ = dict(os.environ if environ is None else environ)
    if not files:
        files = find_default_files(working_dir or os.getcwd())
    paths = [os.path.abspath(f) for f in files]  # -f paths are relative to the cwd
    project_dir = os.path.abspath(working_dir) if working_dir else os.path.dirname(paths[0])
    environment, env_files = project_environment(project_dir, env_file, environ)
    warnings: list[str] = []
    loaded = [load_file(path, environment, warnings) for path in paths]
    merged = merge_files(loaded)

    name = _project_name(project_name, environment, merged, project_dir)
    if profiles is None or not profiles:
        profiles = [p for p in environment.get("COMPOSE_PROFILES", "").split(",") if p]
    context = _Context(project_dir, environment)

    all_services = {
        key: _service(key, raw or {}, context)
        for key, raw in (merged.get("services") or {}).items()
    }
    active, disabled = _select(all_services, profiles, services or [])
    networks = _networks(name, merged.get("networks") or {})
    volumes = _volumes(name, merged.get("volumes") or {})
    if any("default" in s.networks for s in active.values()) and "default" not in networks:
        networks["default"] = Network(name=f"{name}_default")
    _check_references(active, networks, volumes)
    check_dependencies(active, lambda service, dep: _dependency_place(loaded, service, dep))
    return Project(
        name=name,
        working_dir=project_dir,
        config_files=paths,
        services=active,
        networks=networks,
        volumes=volumes,
        disabled_services=disabled,
        environment=environment,
        env_files=env_files,
        profiles=list(profiles),
        warnings=warnings,
    )


def _dependency_place(files: list[ComposeFile], service: str, dep: str) -> str:
    """`FILE: services.SERVICE.depends_on` (or `.links`) for the last file that names dep
    among service's dependencies."""
    for loaded in reversed(files):
        raw = ((loaded.data.get("services") or {}).get(service)) or {}
        depends_on = raw.get("depends_on") or []
        if dep in depends_on:  # the list or the mapping form
            return f"{loaded.path}: services.{service}.depends_on"
        if any(str(link).split(":", 1)[0] == dep for link in raw.get("links") or []):
            return f"{loaded.path}: services.{service}.links"
    return f"{files[-1].path}: services.{service}.depends_on"


def _project_name(
    explicit: str | None, environment: Mapping[str, str], merged: dict, project_dir: str
) -> str:
    if explicit:
        return check_project_name(explicit)
    if environment.get("COMPOSE_PROJECT_NAME"):
        return check_project_name(environment["COMPOSE_PROJECT_NAME"])
    from_file = normalize_project_name(str(merged.get("name") or ""))
    if from_file:
        return check_project_name(from_file)
    return check_project_name(normalize_project_name(os.path.basename(project_dir)))


def _select(
    services: dict[str, Service], profiles: list[str], named: list[str]
) -> tuple[dict[str, Service], dict[str, Service]]:
    """Active and disabled services, by profiles and explicit names."""
    enabled = set(profiles)
    for name in named:
        if name not in services:
            raise ComposeError(f"no such service: {name}")

    def is_active(service: Service) -> bool:
        return (
            not service.profiles
            or "*" in enabled
            or bool(enabled & set(service.profiles))
            or service.name in named
        )

    active = {k: s for k, s in services.items() if is_active(s)}
    for name in sorted(active):
        for dep, spec in active[name].depends_on.items():
            if dep in services and dep not in active and spec.required:
                raise ComposeError(
                    f'service "{dep}" was pulled in as a dependency of service "{name}" but '
                    "is not enabled by the active profiles. You may fix this by adding a "
                    f'common profile to "{dep}" and "{name}".'
                )
    disabled = {k: s for k, s in services.items() if k not in active}
    for service in active.values():
        for dep in [d for d, spec in service.depends_on.items() if d in disabled]:
            del service.depends_on[dep]  # optional dependencies on disabled services
    return active, disabled


def _check_references(
    services: dict[str, Service], networks: dict[str, Network], volumes: dict[str, Volume]
) -> None:
    for name in sorted(services):
        service = services[name]
        for network in service.networks:
            if network not in networks:
                raise ComposeError(
                    f'service "{name}" refers to undefined network {network}: '
                    "invalid compose project"
                )
        for mount in service.volumes:
            if mount.type == "volume" and mount.source and mount.source not in volumes:
                raise ComposeError(
                    f'service "{name}" refers to undefined volume {mount.source}: '
                    "invalid compose project"
                )
        if service.container_name and service.scale > 1:
            raise ComposeError(
                f"can't set container_name and {name} as container name must be unique: "
                "invalid compose project"
            )


# --- normalisation of one service ---------------------------------------------------------


class _Context:
    """What normalising needs: the project directory and the environment."""

    def __init__(self, project_dir: str, environment: Mapping[str, str]) -> None:
        self.project_dir = project_dir
        self.environment = environment

    def path(self, path: str) -> str:
        """A host path made absolute against the project directory (`~` is HOME)."""
        if path == "~" or path.startswith("~/"):
            home = self.environment.get("HOME") or os.path.expanduser("~")
            path = home + path[1:]
        return os.path.normpath(os.path.join(self.project_dir, path))


def _where(service: str, key: str) -> str:
    return f"services.{service}.{key}"


def _bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y", "on")
    return bool(value)


def _int(value: object, where: str) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ComposeError(f"{where}: invalid integer {value!r}") from None


def _duration(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 1_000_000_000)
    try:
        return parse_duration_ns(str(value))
    except ValueError as err:
        raise ComposeError(f"{where}: {err}") from None


def _bytes(value: object, where: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_bytes(value if isinstance(value, int) else str(value))
    except ValueError as err:
        raise ComposeError(f"{where}: {err}") from None


def _is_remote(context: str) -> bool:
    return "://" in context or context.startswith(("git@", "github.com/"))


def _resolved(values: dict[str, str | None], environment: Mapping[str, str]) -> dict:
    """Bare names take their value from the environment (None when it has none)."""
    return {k: (environment.get(k) if v is None else v) for k, v in values.items()}


def _service(name: str, raw: dict, ctx: _Context) -> Service:
    service = Service(name=name, image=raw.get("image"))
    if "build" in raw:
        service.build = _build(raw["build"], ctx)
    service.command = command_list(raw.get("command"))
    service.entrypoint = command_list(raw.get("entrypoint"))
    service.env_file, from_files = _env_files(raw.get("env_file"), name, ctx)
    environment = _resolved(key_values(raw.get("environment"), none_for_bare=True), ctx.environment)
    service.environment = {**from_files, **environment}
    service.ports = [Port(**p) for p in ports_of(raw.get("ports") or [])]
    service.expose = [scalar_str(p) for p in raw.get("expose") or []]
    service.volumes = [_mount(v, name, i, ctx) for i, v in enumerate(raw.get("volumes") or [])]
    service.networks = _service_networks(raw.get("networks"))
    service.depends_on = _depends_on(raw.get("depends_on"))
    service.links = [str(link) for link in raw.get("links") or []]
    if "healthcheck" in raw:
        service.healthcheck = _healthcheck(raw["healthcheck"] or {}, name)
    service.restart = raw.get("restart")
    service.scale = _scale(raw, name)
    service.labels = {
        k: v or "" for k, v in key_values(raw.get("labels"), none_for_bare=False).items()
    }
    for key in ("user", "working_dir", "hostname", "container_name", "stop_signal"):
        if raw.get(key) is not None:
            setattr(service, key, scalar_str(raw[key]))
    service.stop_grace_period = _duration(
        raw.get("stop_grace_period"), _where(name, "stop_grace_period")
    )
    if raw.get("init") is not None:
        service.init = _bool(raw["init"])
    for key in ("tty", "stdin_open", "read_only"):
        setattr(service, key, _bool(raw.get(key, False)))
    service.cap_add = [str(c) for c in raw.get("cap_add") or []]
    service.cap_drop = [str(c) for c in raw.get("cap_drop") or []]
    service.ulimits = _ulimits(raw.get("ulimits") or {}, name)
    service.mem_limit = _bytes(raw.get("mem_limit"), _where(name, "mem_limit"))
    if raw.get("cpus") is not None:
        try:
            service.cpus = float(raw["cpus"])
        except ValueError:
            raise ComposeError(f"{_where(name, 'cpus')}: invalid number {raw['cpus']!r}") from None
    service.extra_hosts = extra_hosts(raw.get("extra_hosts"))
    dns = raw.get("dns")
    service.dns = [dns] if isinstance(dns, str) else [str(d) for d in dns or []]
    if raw.get("logging"):
        logging = raw["logging"]
        options = {k: scalar_str(v) for k, v in (logging.get("options") or {}).items()}
        service.logging = Logging(driver=logging.get("driver"), options=options)
    service.profiles = [str(p) for p in raw.get("profiles") or []]
    if service.image is None and service.build is None:
        raise ComposeError(
            f'service "{name}" has neither an image nor a build context specified: '
            "invalid compose project"
        )
    return service


def _build(raw: object, ctx: _Context) -> Build:
    spec = {"context": raw} if isinstance(raw, str) else dict(raw or {})  # type: ignore[call-overload]
    context = str(spec.get("context") or ".")
    build = Build(context=context if _is_remote(context) else ctx.path(context))
    if spec.get("dockerfile"):
        build.dockerfile = str(spec["dockerfile"])
    build.args = _resolved(key_values(spec.get("args"), none_for_bare=True), ctx.environment)
    build.target = spec.get("target")
    build.labels = {
        k: v or "" for k, v in key_values(spec.get("labels"), none_for_bare=False).items()
    }
    return build


def _env_files(raw: object, name: str, ctx: _Context) -> tuple[list[str], dict[str, str]]:
    if raw is None:
        return [], {}
    entries = [raw] if isinstance(raw, str) else list(raw)  # type: ignore[call-overload]
    paths: list[str] = []
    values: dict[str, str] = {}
    for entry in entries:
        path, required = (
            (entry, True)
            if isinstance(entry, str)
            else (
                entry["path"],
                _bool(entry.get("required", True)),
            )
        )
        path = ctx.path(str(path))
        paths.append(path)
        if not os.path.exists(path):
            if required:
                raise ComposeError(
                    f"env file {path} not found: stat {path}: no such file or directory"
                )
            continue
        values.update(load_dotenv(path, ctx.environment.get))
    return paths, values


def _mount(raw: object, service: str, index: int, ctx: _Context) -> Mount:
    spec = parse_volume(raw) if isinstance(raw, str) else dict(raw)  # type: ignore[call-overload]
    where = f"services.{service}.volumes[{index}]"
    if not spec.get("target"):
        raise ComposeError(f"{where}: missing target")
    mount = Mount(type=spec["type"], target=str(spec["target"]))
    source = spec.get("source")
    if mount.type == "bind":
        if not source:
            raise ComposeError(f"{where}: a bind mount needs a source")
        mount.source = ctx.path(str(source))
    elif mount.type == "volume":
        mount.source = str(source) if source else None
    elif source:
        raise ComposeError(f"{where}: a tmpfs mount has no source")
    mount.read_only = _bool(spec.get("read_only", False))
    mount.consistency = spec.get("consistency")
    if spec.get("bind") is not None:
        bind = spec["bind"]
        create = bind.get("create_host_path")
        mount.bind = BindOptions(
            propagation=bind.get("propagation"),
            create_host_path=None if create is None else _bool(create),
            selinux=bind.get("selinux"),
        )
    if spec.get("volume") is not None:
        options = spec["volume"]
        nocopy = options.get("nocopy")
        mount.volume = VolumeOptions(
            nocopy=None if nocopy is None else _bool(nocopy), subpath=options.get("subpath")
        )
    if spec.get("tmpfs") is not None:
        options = spec["tmpfs"]
        mode = options.get("mode")
        mount.tmpfs = TmpfsOptions(
            size=_bytes(options.get("size"), f"{where}.tmpfs.size"),
            mode=None if mode is None else _int(mode, f"{where}.tmpfs.mode"),
        )
    return mount


def _service_networks(raw: object) -> dict[str, ServiceNetwork | None]:
    if raw is None:
        return {"default": None}
    if isinstance(raw, list):
        return {str(name): None for name in raw}
    networks: dict[str, ServiceNetwork | None] = {}
    for name, spec in raw.items():  # type: ignore[attr-defined]
        if spec is None:
            networks[name] = None
            continue
        networks[name] = ServiceNetwork(
            aliases=[str(a) for a in spec.get("aliases") or []],
            ipv4_address=spec.get("ipv4_address"),
            ipv6_address=spec.get("ipv6_address"),
        )
    return networks


def _depends_on(raw: object) -> dict[str, Dependency]:
    if raw is None:
        return {}
    if isinstance(raw, list):
        return {str(name): Dependency() for name in raw}
    out = {}
    for name, spec in raw.items():  # type: ignore[attr-defined]
        spec = spec or {}
        out[name] = Dependency(
            condition=spec.get("condition", "service_started"),
            restart=_bool(spec.get("restart", False)),
            required=_bool(spec.get("required", True)),
        )
    return out


def _healthcheck(raw: dict, name: str) -> Healthcheck:
    where = _where(name, "healthcheck")
    check = Healthcheck()
    test = raw.get("test")
    if isinstance(test, str):
        check.test = ["CMD-SHELL", test]
    elif test is not None:
        check.test = [str(t) for t in test]
    if _bool(raw.get("disable", False)):
        check.disable = True
        check.test = ["NONE"]
    check.interval = _duration(raw.get("interval"), f"{where}.interval")
    check.timeout = _duration(raw.get("timeout"), f"{where}.timeout")
    check.start_period = _duration(raw.get("start_period"), f"{where}.start_period")
    check.start_interval = _duration(raw.get("start_interval"), f"{where}.start_interval")
    if raw.get("retries") is not None:
        check.retries = _int(raw["retries"], f"{where}.retries")
    return check


def _scale(raw: dict, name: str) -> int:
    replicas = (raw.get("deploy") or {}).get("replicas")
    scale = raw.get("scale")
    if replicas is not None and scale is not None and _int(replicas, name) != _int(scale, name):
        raise ComposeError(
            f"services.{name}: can't set distinct values on 'scale' and 'deploy.replicas': "
            "invalid compose project"
        )
    value = scale if scale is not None else replicas
    return 1 if value is None else _int(value, _where(name, "scale"))


def _ulimits(raw: dict, name: str) -> dict[str, Ulimit]:
    out = {}
    for key, value in raw.items():
        where = f"services.{name}.ulimits.{key}"
        if isinstance(value, dict):
            out[key] = Ulimit(_int(value.get("soft"), where), _int(value.get("hard"), where))
        else:
            limit = _int(value, where)
            out[key] = Ulimit(limit, limit)
    return out


# --- top-level networks and volumes -------------------------------------------------------


def _external(spec: dict) -> tuple[bool, str | None]:
    """external: true, or the old `external: {name: x}` form."""
    external = spec.get("external")
    if isinstance(external, dict):
        return True, external.get("name")
    return _bool(external) if external is not None else False, None


def _resource_name(project: str, key: str, spec: dict) -> tuple[str, bool]:
    """A top-level network's or volume's engine name, and whether it is external: an
    external one keeps its name, the project's own is PROJECT_KEY unless named."""
    external, external_name = _external(spec)
    if external:
        return str(external_name or spec.get("name") or key), True
    return str(spec.get("name") or f"{project}_{key}"), False


def _networks(project: str, raw: dict) -> dict[str, Network]:
    networks = {}
    for key, spec in raw.items():
        spec = spec or {}
        name, external = _resource_name(project, key, spec)
        network = Network(name=name, external=external)
        network.driver = spec.get("driver")
        network.driver_opts = {k: scalar_str(v) for k, v in (spec.get("driver_opts") or {}).items()}
        network.internal = _bool(spec.get("internal", False))
        network.attachable = _bool(spec.get("attachable", False))
        if spec.get("enable_ipv6") is not None:
            network.enable_ipv6 = _bool(spec["enable_ipv6"])
        network.labels = {
            k: v or "" for k, v in key_values(spec.get("labels"), none_for_bare=False).items()
        }
        if spec.get("ipam"):
            ipam = spec["ipam"]
            network.ipam = Ipam(
                driver=ipam.get("driver"),
                config=[
                    IpamPool(
                        subnet=pool.get("subnet"),
                        gateway=pool.get("gateway"),
                        ip_range=pool.get("ip_range"),
                        aux_addresses=dict(pool.get("aux_addresses") or {}),
                    )
                    for pool in ipam.get("config") or []
                ],
                options={k: scalar_str(v) for k, v in (ipam.get("options") or {}).items()},
            )
        networks[key] = network
    return networks


def _volumes(project: str, raw: dict) -> dict[str, Volume]:
    volumes = {}
    for key, spec in raw.items():
        spec = spec or {}
        name, external = _resource_name(project, key, spec)
        volumes[key] = Volume(
            name=name,
            driver=spec.get("driver"),
            driver_opts={k: scalar_str(v) for k, v in (spec.get("driver_opts") or {}).items()},
            external=external,
            labels={
                k: v or "" for k, v in key_values(spec.get("labels"), none_for_bare=False).items()
            },
        )
    return volumes
