"""The compose loader: a table of projects (files in, model out) and of bad projects."""

from __future__ import annotations

import pytest

from dockyard.compose import ComposeError, load_project
from dockyard.compose.model import (
    BindOptions,
    Dependency,
    Healthcheck,
    Logging,
    Mount,
    Port,
    ServiceNetwork,
    TmpfsOptions,
    Ulimit,
    VolumeOptions,
)

# (id, {file: text}, load kwargs, {service: {attribute: expected}})
CASES = [
    (
        "interpolation-forms",
        {
            "compose.yaml": """
            services:
              web:
                image: "${IMAGE}:$TAG"
                environment:
                  DEFAULT: ${UNSET:-fallback}
                  EMPTY_DEFAULT: ${EMPTY:-fallback}
                  DASH_EMPTY: ${EMPTY-fallback}
                  DASH_UNSET: ${UNSET-fallback}
                  PLUS: ${TAG:+replaced}
                  PLUS_EMPTY: ${EMPTY:+replaced}
                  PLUS_SET_EMPTY: ${EMPTY+replaced}
                  NESTED: ${UNSET:-${TAG}-x}
                  DOLLARS: "$$HOME $${TAG} costs 5$"
                  REQUIRED: ${TAG:?must be set}
                  LOWER: ${lower}
            """
        },
        {"environ": {"IMAGE": "busybox", "TAG": "1.36", "EMPTY": "", "lower": "yes"}},
        {
            "web": {
                "image": "busybox:1.36",
                "environment": {
                    "DEFAULT": "fallback",
                    "EMPTY_DEFAULT": "fallback",
                    "DASH_EMPTY": "",
                    "DASH_UNSET": "fallback",
                    "PLUS": "replaced",
                    "PLUS_EMPTY": "",
                    "PLUS_SET_EMPTY": "replaced",
                    "NESTED": "1.36-x",
                    "DOLLARS": "$HOME ${TAG} costs 5$",
                    "REQUIRED": "1.36",
                    "LOWER": "yes",
                },
            }
        },
    ),
    (
        "dotenv-and-shell",
        {
            ".env": """
            # comment
            TAG=from-dotenv
            export BASE=busybox
            QUOTED="a b"  # inline
            SINGLE='$TAG'
            DERIVED=${BASE}-x
            TAGGED=${TAG}-t
            """,
            "compose.yaml": """
            services:
              web:
                image: $BASE:$TAG
                labels: [quoted=$QUOTED, single=$SINGLE, derived=$DERIVED, tagged=$TAGGED]
            """,
        },
        {"environ": {"TAG": "from-shell"}},
        {
            "web": {
                "image": "busybox:from-shell",
                "labels": {
                    "quoted": "a b",
                    "single": "$TAG",
                    "derived": "busybox-x",
                    "tagged": "from-shell-t",  # the shell's TAG wins inside .env too
                },
            }
        },
    ),
    (
        "env-file-option-replaces-dotenv",
        {
            ".env": "TAG=dotenv\n",
            "other.env": "TAG=other\n",
            "compose.yaml": "services: {web: {image: 'busybox:${TAG}'}}\n",
        },
        {"env_file": ["other.env"]},
        {"web": {"image": "busybox:other"}},
    ),
    (
        "version-ignored-and-defaults",
        {"compose.yaml": "version: '3.9'\nservices:\n  web:\n    image: busybox\n"},
        {},
        {
            "web": {
                "networks": {"default": None},
                "scale": 1,
                "command": None,
                "entrypoint": None,
                "environment": {},
                "tty": False,
            }
        },
    ),
    (
        "ports-short-syntax",
        {
            "compose.yaml": """
            services:
              web:
                image: busybox
                ports:
                  - 80
                  - "8080:80"
                  - "127.0.0.1:9090:90"
                  - "127.0.0.1::91"
                  - "[::1]:92:92"
                  - "7000-7001:8000-8001"
                  - "6000-6005:60"
                  - "53:53/udp"
                  - target: 443
                    published: 8443
                    host_ip: 0.0.0.0
                    protocol: tcp
                    mode: host
            """
        },
        {},
        {
            "web": {
                "ports": [
                    Port(target=80),
                    Port(target=80, published="8080"),
                    Port(target=90, published="9090", host_ip="127.0.0.1"),
                    Port(target=91, host_ip="127.0.0.1"),
                    Port(target=92, published="92", host_ip="::1"),
                    Port(target=8000, published="7000"),
                    Port(target=8001, published="7001"),
                    Port(target=60, published="6000-6005"),
                    Port(target=53, published="53", protocol="udp"),
                    Port(target=443, published="8443", host_ip="0.0.0.0", mode="host"),
                ]
            }
        },
    ),
    (
        "volumes-short-and-long",
        {
            "compose.yaml": """
            services:
              web:
                image: busybox
                volumes:
                  - data:/data
                  - ./code:/code:ro
                  - ~/cache:/cache
                  - /abs:/abs:rw,z
                  - /anonymous
                  - type: tmpfs
                    target: /run
                    tmpfs: {size: 64m, mode: 1777}
                  - type: volume
                    source: data
                    target: /sub
                    volume: {nocopy: true, subpath: x}
                  - type: bind
                    source: ../shared
                    target: /shared
                    read_only: true
                    bind: {propagation: rshared}
            volumes:
              data: {}
            """
        },
        {},
        {
            "web": {
                "volumes": [
                    Mount("volume", "/data", "data"),
                    Mount(
                        "bind",
                        "/code",
                        "{root}/code",
                        read_only=True,
                        bind=BindOptions(create_host_path=True),
                    ),
                    Mount(
                        "bind",
                        "/cache",
                        "/home/user/cache",
                        bind=BindOptions(create_host_path=True),
                    ),
                    Mount(
                        "bind", "/abs", "/abs", bind=BindOptions(create_host_path=True, selinux="z")
                    ),
                    Mount("volume", "/anonymous"),
                    Mount("tmpfs", "/run", tmpfs=TmpfsOptions(size=64 * 1024 * 1024, mode=1777)),
                    Mount("volume", "/sub", "data", volume=VolumeOptions(nocopy=True, subpath="x")),
                    Mount(
                        "bind",
                        "/shared",
                        "{parent}/shared",
                        read_only=True,
                        bind=BindOptions(propagation="rshared"),
                    ),
                ]
            }
        },
    ),
    (
        "networks-list-and-map",
        {
            "compose.yaml": """
            services:
              web:
                image: busybox
                networks:
                  front:
                    aliases: [www, site]
                    ipv4_address: 10.201.7.10
                  back:
              db:
                image: busybox
                networks: [back]
            networks:
              front:
                ipam: {config: [{subnet: 10.201.7.0/24}]}
              back:
                external: true
                name: shared-back
            """
        },
        {},
        {
            "web": {
                "networks": {
                    "front": ServiceNetwork(aliases=["www", "site"], ipv4_address="10.201.7.10"),
                    "back": None,
                }
            },
            "db": {"networks": {"back": None}},
        },
    ),
    (
        "depends-on-forms",
        {
            "compose.yaml": """
            services:
              web:
                image: busybox
                depends_on:
                  db: {condition: service_healthy, restart: true}
                  init: {condition: service_completed_successfully}
                  cache: {condition: service_started, required: false}
              api:
                image: busybox
                depends_on: [db]
                links: ["cache:memcached"]
              db: {image: busybox}
              init: {image: busybox}
              cache: {image: busybox}
            """
        },
        {},
        {
            "web": {
                "depends_on": {
                    "db": Dependency("service_healthy", restart=True),
                    "init": Dependency("service_completed_successfully"),
                    "cache": Dependency("service_started", required=False),
                }
            },
            "api": {"depends_on": {"db": Dependency()}, "links": ["cache:memcached"]},
        },
    ),
    (
        "healthcheck-durations",
        {
            "compose.yaml": """
            services:
              web:
                image: busybox
                healthcheck:
                  test: ["CMD", "wget", "-q", "localhost"]
                  interval: 1m30s
                  timeout: 500ms
                  start_period: 2s
                  start_interval: 1s
                  retries: 5
              shell:
                image: busybox
                healthcheck: {test: "true"}
              off:
                image: busybox
                healthcheck: {disable: true}
            """
        },
        {},
        {
            "web": {
                "healthcheck": Healthcheck(
                    test=["CMD", "wget", "-q", "localhost"],
                    interval=90_000_000_000,
                    timeout=500_000_000,
                    start_period=2_000_000_000,
                    start_interval=1_000_000_000,
                    retries=5,
                )
            },
            "shell": {"healthcheck": Healthcheck(test=["CMD-SHELL", "true"])},
            "off": {"healthcheck": Healthcheck(test=["NONE"], disable=True)},
        },
    ),
    (
        "resources-and-misc",
        {
            "compose.yaml": """
            services:
              web:
                image: busybox
                entrypoint: /bin/sh -c 'echo "hi there"'
                command: ["echo", "1"]
                mem_limit: 512m
                cpus: "0.5"
                ulimits:
                  nproc: 65535
                  nofile: {soft: 1024, hard: 2048}
                extra_hosts: ["db:10.0.0.2", "cache=10.0.0.3"]
                dns: 1.1.1.1
                logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}
                cap_add: [NET_ADMIN]
                cap_drop: [ALL]
                user: "1000:1000"
                working_dir: /srv
                hostname: web1
                container_name: the-web
                stop_signal: SIGINT
                stop_grace_period: 1m
                init: true
                tty: true
                stdin_open: true
                read_only: true
                restart: unless-stopped
                labels: {com.example.n: 1, com.example.flag: true}
              hosts:
                image: busybox
                extra_hosts: {gateway: 10.0.0.1}
                restart: no
            """
        },
        {},
        {
            "web": {
                "entrypoint": ["/bin/sh", "-c", 'echo "hi there"'],
                "command": ["echo", "1"],
                "mem_limit": 512 * 1024 * 1024,
                "cpus": 0.5,
                "ulimits": {"nproc": Ulimit(65535, 65535), "nofile": Ulimit(1024, 2048)},
                "extra_hosts": ["db:10.0.0.2", "cache:10.0.0.3"],
                "dns": ["1.1.1.1"],
                "logging": Logging("json-file", {"max-size": "10m", "max-file": "3"}),
                "cap_add": ["NET_ADMIN"],
                "cap_drop": ["ALL"],
                "user": "1000:1000",
                "working_dir": "/srv",
                "hostname": "web1",
                "container_name": "the-web",
                "stop_signal": "SIGINT",
                "stop_grace_period": 60_000_000_000,
                "init": True,
                "tty": True,
                "stdin_open": True,
                "read_only": True,
                "restart": "unless-stopped",
                "labels": {"com.example.n": "1", "com.example.flag": "true"},
            },
            "hosts": {"extra_hosts": ["gateway:10.0.0.1"], "restart": "no"},
        },
    ),
    (
        "scale-and-replicas",
        {
            "compose.yaml": """
            services:
              a: {image: busybox, deploy: {replicas: 3}}
              b: {image: busybox, scale: 2}
              c: {image: busybox, scale: 4, deploy: {replicas: 4}}
            """
        },
        {},
        {"a": {"scale": 3}, "b": {"scale": 2}, "c": {"scale": 4}},
    ),
    (
        "environment-and-env-files",
        {
            "web.env": 'FROM_FILE=1\nOVERRIDDEN=file\nQUOTED="line1\\nline2"\n',
            "compose.yaml": """
            services:
              web:
                image: busybox
                env_file:
                  - web.env
                  - path: missing.env
                    required: false
                environment:
                  - OVERRIDDEN=compose
                  - FROM_SHELL
                  - NOT_SET
                  - EMPTY=
            """,
        },
        {"environ": {"FROM_SHELL": "shell"}},
        {
            "web": {
                "environment": {
                    "FROM_FILE": "1",
                    "OVERRIDDEN": "compose",
                    "QUOTED": "line1\nline2",
                    "FROM_SHELL": "shell",
                    "NOT_SET": None,
                    "EMPTY": "",
                },
                "env_file": ["{root}/web.env", "{root}/missing.env"],
            }
        },
    ),
    (
        "build-forms",
        {
            "compose.yaml": """
            services:
              short: {build: ./app}
              long:
                build:
                  context: ../ctx
                  dockerfile: docker/Dockerfile.dev
                  args: [VERSION=1, FROM_ENV, UNSET_ARG]
                  target: dev
                  labels: {a: b}
                image: myimage:dev
              remote:
                build: https://github.com/example/repo.git#main
            """
        },
        {"environ": {"FROM_ENV": "e"}},
        {
            "short": {"build.context": "{root}/app", "build.dockerfile": "Dockerfile"},
            "long": {
                "build.context": "{parent}/ctx",
                "build.dockerfile": "docker/Dockerfile.dev",
                "build.args": {"VERSION": "1", "FROM_ENV": "e", "UNSET_ARG": None},
                "build.target": "dev",
                "build.labels": {"a": "b"},
                "image": "myimage:dev",
            },
            "remote": {"build.context": "https://github.com/example/repo.git#main"},
        },
    ),
    (
        "merge-several-files",
        {
            "compose.yaml": """
            services:
              web:
                image: busybox:1
                command: ["old", "command"]
                environment: [A=1, B=2]
                labels: {keep: base, change: base}
                ports: ["8080:80", "9000:9000"]
                volumes: ["./a:/data", "logs:/logs"]
                depends_on: [db]
                cap_add: [NET_ADMIN]
                healthcheck: {test: ["CMD", "old"], interval: 10s}
                logging: {driver: json-file, options: {max-size: 1m}}
              db: {image: busybox}
            volumes: {logs: {}}
            """,
            "compose.override.yaml": """
            services:
              web:
                image: busybox:2
                command: new
                environment: {B: "20", C: "3"}
                labels: [change=override, added=x]
                ports: ["8081:80", "9000:9000"]
                volumes: ["./b:/data"]
                depends_on: {cache: {condition: service_healthy}}
                cap_add: [NET_ADMIN, SYS_TIME]
                healthcheck: {test: ["CMD", "new"]}
                logging: {driver: syslog}
              cache: {image: busybox}
            """,
        },
        {"files": ["compose.yaml", "compose.override.yaml"]},
        {
            "web": {
                "image": "busybox:2",
                "command": ["new"],
                "environment": {"A": "1", "B": "20", "C": "3"},
                "labels": {"keep": "base", "change": "override", "added": "x"},
                "ports": [
                    Port(target=80, published="8080"),
                    Port(target=80, published="8081"),
                    Port(target=9000, published="9000"),
                ],
                "volumes": [
                    Mount("volume", "/logs", "logs"),
                    Mount("bind", "/data", "{root}/b", bind=BindOptions(create_host_path=True)),
                ],
                "depends_on": {
                    "db": Dependency(),
                    "cache": Dependency("service_healthy"),
                },
                "cap_add": ["NET_ADMIN", "SYS_TIME"],
                "healthcheck": Healthcheck(test=["CMD", "new"], interval=10_000_000_000),
                "logging": Logging("syslog"),
            },
            "cache": {"image": "busybox"},
        },
    ),
    (
        "merge-reset-and-override",
        {
            "compose.yaml": """
            services:
              web:
                image: busybox
                ports: ["80:80"]
                environment: {A: "1", B: "2"}
                dns: [8.8.8.8]
            """,
            "second.yaml": """
            services:
              web:
                ports: !reset []
                environment: !override {C: "3"}
                dns: !reset null
            """,
        },
        {"files": ["compose.yaml", "second.yaml"]},
        {"web": {"ports": [], "environment": {"C": "3"}, "dns": []}},
    ),
    (
        "yaml-1.2-scalars",
        {
            "compose.yaml": """
            services:
              web:
                image: busybox
                ports: [80:80, 22:22]
                restart: no
                labels: {built: 2020-01-01, answer: yes, mode: 0755}
            """
        },
        {},
        {
            "web": {
                "ports": [Port(target=80, published="80"), Port(target=22, published="22")],
                "restart": "no",
                "labels": {"built": "2020-01-01", "answer": "yes", "mode": "493"},
            }
        },
    ),
    (
        "yaml-anchors-and-extensions",
        {
            "compose.yaml": """
            x-common: &common
              image: busybox
              restart: always
            services:
              a:
                <<: *common
                x-note: ignored
              b:
                <<: *common
                restart: "no"
            """
        },
        {},
        {"a": {"image": "busybox", "restart": "always"}, "b": {"restart": "no"}},
    ),
]


def _attr(obj: object, dotted: str) -> object:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _fill(value: object, root: str, parent: str) -> object:
    if isinstance(value, str):
        return value.replace("{root}", root).replace("{parent}", parent)
    if isinstance(value, list):
        return [_fill(v, root, parent) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, root, parent) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            setattr(value, name, _fill(getattr(value, name), root, parent))
    return value


@pytest.mark.parametrize(
    ("files", "kwargs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_project(project, files: dict, kwargs: dict, expected: dict) -> None:
    for name, text in files.items():
        project.write(name, text)
    kwargs = dict(kwargs)
    compose_files = kwargs.pop("files", ["compose.yaml"])
    loaded = project.load(*compose_files, **kwargs)
    root, parent = str(project.root), str(project.root.parent)
    for service, attributes in expected.items():
        for name, value in attributes.items():
            assert _attr(loaded.services[service], name) == _fill(value, root, parent), name


# (id, {file: text}, load kwargs, error message with {root} for the directory)
ERRORS = [
    (
        "yaml-syntax",
        {"compose.yaml": "services:\n  web:\n    image: busybox\n   bad: [\n"},
        {},
        "{root}/compose.yaml: yaml: line 4: ",
    ),
    (
        "yaml-duplicate-key",
        {"compose.yaml": "services:\n  web:\n    image: a\n    image: b\n"},
        {},
        '{root}/compose.yaml: yaml: line 4: mapping key "image" already defined at line 3',
    ),
    ("empty-file", {"compose.yaml": "# nothing\n"}, {}, "{root}/compose.yaml: empty compose file"),
    (
        "schema-unknown-property",
        {"compose.yaml": "services:\n  web:\n    image: busybox\n    colour: red\n"},
        {},
        "validating {root}/compose.yaml: services.web additional properties 'colour' not allowed",
    ),
    (
        "schema-wrong-type-in-list",
        {"compose.yaml": "services:\n  web:\n    image: busybox\n    ports: [{target: [1]}]\n"},
        {},
        "validating {root}/compose.yaml: services.web.ports[0].target must be ",
    ),
    (
        "schema-error-in-second-file",
        {
            "compose.yaml": "services: {web: {image: busybox}}\n",
            "other.yaml": "services:\n  web:\n    cap_add: NET_ADMIN\n",
        },
        {"files": ["compose.yaml", "other.yaml"]},
        "validating {root}/other.yaml: services.web.cap_add must be a list",
    ),
    (
        "unsupported-service-field",
        {"compose.yaml": "services:\n  web:\n    image: busybox\n    privileged: true\n"},
        {},
        "{root}/compose.yaml: services.web.privileged: unsupported by dockyard compose",
    ),
    (
        "unsupported-nested-field",
        {"compose.yaml": "services:\n  web:\n    image: x\n    deploy: {resources: {}}\n"},
        {},
        "{root}/compose.yaml: services.web.deploy.resources: unsupported by dockyard compose",
    ),
    (
        "unsupported-top-level",
        {"compose.yaml": "services: {web: {image: x}}\nsecrets: {s: {file: ./s}}\n"},
        {},
        "{root}/compose.yaml: secrets: unsupported by dockyard compose",
    ),
    (
        "unsupported-port-field",
        {"compose.yaml": "services:\n  web:\n    image: x\n    ports: [{target: 80, x-a: 1}]\n"},
        {},
        None,  # extensions are fine: no error
    ),
    (
        "required-variable",
        {"compose.yaml": "services:\n  web:\n    image: ${IMAGE:?set IMAGE please}\n"},
        {},
        "{root}/compose.yaml: error while interpolating services.web.image: "
        "required variable IMAGE is missing a value: set IMAGE please",
    ),
    (
        "required-variable-in-list",
        {"compose.yaml": "services:\n  web:\n    image: x\n    command: [a, '${B?}']\n"},
        {},
        "{root}/compose.yaml: error while interpolating services.web.command[1]: "
        "required variable B is missing a value",
    ),
    (
        "invalid-template",
        {"compose.yaml": "services:\n  web:\n    image: ${NOT VALID}\n"},
        {},
        "{root}/compose.yaml: invalid interpolation format for services.web.image.\n"
        "You may need to escape any $ with another $.\n${NOT VALID}",
    ),
    (
        "unknown-dependency",
        {"compose.yaml": "services:\n  web: {image: x, depends_on: [db]}\n"},
        {},
        "{root}/compose.yaml: services.web.depends_on: "
        'service "web" depends on undefined service "db": invalid compose project',
    ),
    (
        "unknown-link",
        {"compose.yaml": "services:\n  web: {image: x, links: ['db:database']}\n"},
        {},
        "{root}/compose.yaml: services.web.links: "
        'service "web" depends on undefined service "db": invalid compose project',
    ),
    (
        "dependency-cycle",
        {
            "compose.yaml": """
            services:
              a: {image: x, depends_on: [b]}
              b: {image: x, depends_on: [c]}
              c: {image: x, depends_on: [a]}
            """
        },
        {},
        "{root}/compose.yaml: services.a.depends_on: dependency cycle detected: a -> b -> c -> a",
    ),
    (
        "unknown-dependency-in-override",
        {
            "compose.yaml": "services:\n  web: {image: x}\n  db: {image: x}\n",
            "override.yaml": "services:\n  web: {depends_on: {cache: {condition: service_started}}}\n",
        },
        {"files": ["compose.yaml", "override.yaml"]},
        "{root}/override.yaml: services.web.depends_on: "
        'service "web" depends on undefined service "cache": invalid compose project',
    ),
    (
        "self-dependency",
        {"compose.yaml": "services:\n  a: {image: x, depends_on: [a]}\n"},
        {},
        "{root}/compose.yaml: services.a.depends_on: dependency cycle detected: a -> a",
    ),
    (
        "undefined-volume",
        {"compose.yaml": "services:\n  web: {image: x, volumes: ['data:/data']}\n"},
        {},
        'service "web" refers to undefined volume data: invalid compose project',
    ),
    (
        "undefined-network",
        {"compose.yaml": "services:\n  web: {image: x, networks: [front]}\n"},
        {},
        'service "web" refers to undefined network front: invalid compose project',
    ),
    (
        "no-image-no-build",
        {"compose.yaml": "services:\n  web: {command: ls}\n"},
        {},
        'service "web" has neither an image nor a build context specified: invalid compose project',
    ),
    (
        "scale-conflict",
        {"compose.yaml": "services:\n  web: {image: x, scale: 2, deploy: {replicas: 3}}\n"},
        {},
        "services.web: can't set distinct values on 'scale' and 'deploy.replicas': "
        "invalid compose project",
    ),
    (
        "container-name-and-scale",
        {"compose.yaml": "services:\n  web: {image: x, scale: 2, container_name: web-c}\n"},
        {},
        "can't set container_name and web as container name must be unique: "
        "invalid compose project",
    ),
    (
        "bad-port-protocol",
        {"compose.yaml": "services:\n  web: {image: x, ports: ['80/icmp']}\n"},
        {},
        "{root}/compose.yaml: services.web.ports[0]: invalid proto: icmp",
    ),
    (
        "bad-port-ranges",
        {"compose.yaml": "services:\n  web: {image: x, ports: ['1-3:1-2']}\n"},
        {},
        "{root}/compose.yaml: services.web.ports[0]: "
        "invalid ranges specified for container and host Ports: 1-2 and 1-3",
    ),
    (
        "bad-volume-spec",
        {"compose.yaml": "services:\n  web: {image: x, volumes: ['a:b:c:d']}\n"},
        {},
        "{root}/compose.yaml: services.web.volumes[0]: invalid spec: a:b:c:d: too many colons",
    ),
    (
        "bad-mem-limit",
        {"compose.yaml": "services:\n  web: {image: x, mem_limit: lots}\n"},
        {},
        "{root}/compose.yaml: services.web.mem_limit: invalid size: 'lots'",
    ),
    (
        "bad-duration",
        {"compose.yaml": "services:\n  web: {image: x, stop_grace_period: 10}\n"},
        {},
        "validating {root}/compose.yaml: services.web.stop_grace_period must be a string",
    ),
    (
        "bad-duration-text",
        {"compose.yaml": "services:\n  web: {image: x, stop_grace_period: 10 parsecs}\n"},
        {},
        "{root}/compose.yaml: services.web.stop_grace_period: time: ",
    ),
    (
        "bad-healthcheck-interval",
        {"compose.yaml": "services:\n  web: {image: x, healthcheck: {interval: 5 years}}\n"},
        {},
        "{root}/compose.yaml: services.web.healthcheck.interval: time: ",
    ),
    (
        "missing-env-file",
        {"compose.yaml": "services:\n  web: {image: x, env_file: nope.env}\n"},
        {},
        "env file {root}/nope.env not found: stat {root}/nope.env: no such file or directory",
    ),
    (
        "missing-compose-file",
        {},
        {"files": ["absent.yaml"]},
        "open {root}/absent.yaml: no such file or directory",
    ),
    (
        "disabled-dependency",
        {
            "compose.yaml": """
            services:
              web: {image: x, depends_on: [debug]}
              debug: {image: x, profiles: [debug]}
            """
        },
        {},
        'service "debug" was pulled in as a dependency of service "web" but is not enabled by '
        'the active profiles. You may fix this by adding a common profile to "debug" and "web".',
    ),
    (
        "invalid-project-name",
        {"compose.yaml": "services: {web: {image: x}}\n"},
        {"project_name": "Bad Name"},
        'invalid project name "Bad Name": must consist only of lowercase alphanumeric '
        "characters, hyphens, and underscores as well as start with a letter or number",
    ),
    (
        "unknown-service-named",
        {"compose.yaml": "services: {web: {image: x}}\n"},
        {"services": ["nope"]},
        "no such service: nope",
    ),
]


@pytest.mark.parametrize(
    ("files", "kwargs", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_errors(project, files: dict, kwargs: dict, message: str | None) -> None:
    for name, text in files.items():
        project.write(name, text)
    kwargs = dict(kwargs)
    compose_files = kwargs.pop("files", ["compose.yaml"])
    if message is None:
        project.load(*compose_files, **kwargs)
        return
    with pytest.raises(ComposeError) as info:
        project.load(*compose_files, **kwargs)
    assert str(info.value).startswith(message.replace("{root}", str(project.root)))
    assert info.value.status == 400


PROFILES = """
services:
  web: {image: x}
  debug: {image: x, profiles: [debug]}
  tools: {image: x, profiles: [tools, debug], depends_on: [web]}
  migrate: {image: x, profiles: [ops]}
"""


@pytest.mark.parametrize(
    ("kwargs", "active"),
    [
        ({}, ["web"]),
        ({"profiles": ["debug"]}, ["debug", "tools", "web"]),
        ({"profiles": ["tools"]}, ["tools", "web"]),
        ({"profiles": ["*"]}, ["debug", "migrate", "tools", "web"]),
        ({"services": ["migrate"]}, ["migrate", "web"]),
        ({"environ": {"COMPOSE_PROFILES": "ops,tools"}}, ["migrate", "tools", "web"]),
    ],
)
def test_profiles(project, kwargs: dict, active: list[str]) -> None:
    project.write("compose.yaml", PROFILES)
    loaded = project.load(**kwargs)
    assert sorted(loaded.services) == active
    assert sorted(loaded.disabled_services) == sorted(
        {"web", "debug", "tools", "migrate"} - set(active)
    )


@pytest.mark.parametrize(
    ("dirname", "kwargs", "file_name", "expected"),
    [
        ("My_App.v2", {}, None, "my_appv2"),
        ("_-Leading", {}, None, "leading"),
        ("myapp", {"project_name": "explicit"}, "fromfile", "explicit"),
        ("myapp", {"environ": {"COMPOSE_PROJECT_NAME": "fromenv"}}, "fromfile", "fromenv"),
        ("myapp", {}, "From File!", "fromfile"),
        ("myapp", {}, "${NAME:-interpolated}", "interpolated"),
    ],
)
def test_project_name(tmp_path, dirname: str, kwargs: dict, file_name: str | None, expected: str):
    root = tmp_path / dirname
    root.mkdir()
    text = "services: {web: {image: x}}\n"
    if file_name:
        text = f"name: '{file_name}'\n" + text
    (root / "compose.yaml").write_text(text)
    kwargs.setdefault("environ", {})
    assert load_project([str(root / "compose.yaml")], **kwargs).name == expected


def test_project_name_empty_after_normalisation(tmp_path) -> None:
    root = tmp_path / "___"
    root.mkdir()
    (root / "compose.yaml").write_text("services: {web: {image: x}}\n")
    with pytest.raises(ComposeError, match="project name must not be empty"):
        load_project([str(root / "compose.yaml")], environ={})


def test_default_files_and_working_dir(project) -> None:
    project.write("compose.yaml", "services: {web: {image: base}}\n")
    project.write("compose.override.yaml", "services: {web: {image: override}}\n")
    loaded = load_project(None, environ={}, working_dir=str(project.root))
    assert loaded.services["web"].image == "override"
    assert loaded.config_files == [
        str(project.root / "compose.yaml"),
        str(project.root / "compose.override.yaml"),
    ]
    assert loaded.working_dir == str(project.root)


def test_networks_and_volumes_top_level(project) -> None:
    project.write(
        "compose.yaml",
        """
        name: shop
        services:
          web: {image: x, volumes: [db:/db, ext:/ext], networks: [default, outside]}
        networks:
          outside: {external: true}
          named: {name: custom-net, driver: bridge, internal: true, labels: [a=b]}
        volumes:
          db: {driver: local, driver_opts: {type: tmpfs}}
          ext: {external: true, name: real-ext}
        """,
    )
    loaded = project.load()
    nets = {key: (n.name, n.external) for key, n in loaded.networks.items()}
    assert nets == {
        "outside": ("outside", True),
        "named": ("custom-net", False),
        "default": ("shop_default", False),
    }
    assert loaded.networks["named"].internal and loaded.networks["named"].labels == {"a": "b"}
    assert {k: (v.name, v.external) for k, v in loaded.volumes.items()} == {
        "db": ("shop_db", False),
        "ext": ("real-ext", True),
    }
    assert loaded.volumes["db"].driver_opts == {"type": "tmpfs"}


def test_unset_variable_warns(project) -> None:
    project.write("compose.yaml", "services: {web: {image: 'x${NOPE}', command: $NOPE}}\n")
    loaded = project.load()
    assert loaded.services["web"].image == "x"
    assert loaded.warnings == ['The "NOPE" variable is not set. Defaulting to a blank string.']


def test_service_order_and_config_round_trip(project) -> None:
    project.write(
        "compose.yaml",
        """
        services:
          web:
            build: .
            ports: ["5000:5000"]
            depends_on: {redis: {condition: service_healthy}}
            environment: {FLASK_RUN_HOST: 0.0.0.0}
            stop_grace_period: 1m30s
            healthcheck: {test: [CMD, "true"], interval: 5s}
          redis:
            image: redis
            volumes: [data:/data]
          worker:
            image: x
            depends_on: [redis, web]
        volumes: {data: {}}
        """,
    )
    loaded = project.load()
    assert loaded.service_order() == ["redis", "web", "worker"]
    assert loaded.service_order(["web"]) == ["redis", "web"]
    text = loaded.to_yaml()
    assert "stop_grace_period: 1m30s" in text
    again = project.root / "normalised.yaml"
    again.write_text(text)
    reloaded = load_project([str(again)], environ={}, working_dir=str(project.root))
    assert reloaded.to_dict() == loaded.to_dict()
