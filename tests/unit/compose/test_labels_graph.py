"""Compose labels, names, config hash and the dependency graph."""

from __future__ import annotations

import dataclasses

import pytest

from dockyard.compose import ComposeError, labels
from dockyard.compose.graph import dependency_order, dependents_order, find_cycle
from dockyard.compose.model import Dependency, Project, Service


def _project(project) -> Project:
    project.write(
        "compose.yaml",
        """
        name: shop
        services:
          web:
            image: busybox
            labels: {own: label}
            depends_on: {db: {condition: service_healthy}}
          db: {image: busybox}
        networks: {front: {labels: {tier: front}}}
        volumes: {data: {}}
        """,
    )
    return project.load()


def test_container_labels_and_names(project) -> None:
    loaded = _project(project)
    web = loaded.services["web"]
    got = labels.container_labels(loaded, web, 2)
    assert got == {
        "own": "label",
        "com.docker.compose.project": "shop",
        "com.docker.compose.service": "web",
        "com.docker.compose.container-number": "2",
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.config-hash": labels.config_hash(web),
        "com.docker.compose.project.working_dir": str(project.root),
        "com.docker.compose.project.config_files": str(project.root / "compose.yaml"),
        "com.docker.compose.version": labels.COMPOSE_VERSION,
        "com.docker.compose.depends_on": "db:service_healthy:false",
    }
    assert labels.container_labels(loaded, web, 1, oneoff=True)[labels.ONEOFF] == "True"
    assert labels.container_name(loaded, web, 3) == "shop-web-3"
    assert labels.container_name(loaded, web, 1, oneoff=True) == "shop-web-run-1"
    named = dataclasses.replace(web, container_name="custom")
    assert labels.container_name(loaded, named, 1) == "custom"
    assert labels.network_labels(loaded, "front") == {
        "tier": "front",
        "com.docker.compose.project": "shop",
        "com.docker.compose.network": "front",
        "com.docker.compose.version": labels.COMPOSE_VERSION,
    }
    assert labels.volume_labels(loaded, "data")[labels.VOLUME] == "data"
    assert labels.project_filter("shop") == {"label": ["com.docker.compose.project=shop"]}


def test_config_hash(project) -> None:
    web = _project(project).services["web"]
    digest = labels.config_hash(web)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert labels.config_hash(dataclasses.replace(web)) == digest
    # What makes a container different changes the hash...
    assert labels.config_hash(dataclasses.replace(web, image="busybox:2")) != digest
    assert labels.config_hash(dataclasses.replace(web, environment={"A": "1"})) != digest
    # ...scale, dependencies, build and profiles do not (Docker Compose's ServiceHash).
    assert labels.config_hash(dataclasses.replace(web, scale=3)) == digest
    assert labels.config_hash(dataclasses.replace(web, depends_on={})) == digest
    assert labels.config_hash(dataclasses.replace(web, profiles=["x"])) == digest


def _services(deps: dict[str, list[str]]) -> dict[str, Service]:
    return {
        name: Service(name=name, image="x", depends_on={d: Dependency() for d in needs})
        for name, needs in deps.items()
    }


def test_dependency_order() -> None:
    services = _services({"web": ["db", "cache"], "db": [], "cache": ["db"], "alone": []})
    assert dependency_order(services) == ["alone", "db", "cache", "web"]
    assert dependency_order(services, ["cache"]) == ["db", "cache"]
    assert dependents_order(services) == ["web", "cache", "db", "alone"]
    assert find_cycle(services) is None


def test_links_count_as_dependencies() -> None:
    services = _services({"web": [], "db": []})
    services["web"].links = ["db:database"]
    assert dependency_order(services) == ["db", "web"]


def test_cycles() -> None:
    services = _services({"a": ["b"], "b": ["c"], "c": ["b"], "d": []})
    assert find_cycle(services) == ["b", "c", "b"]
    with pytest.raises(ComposeError, match="dependency cycle detected: b -> c -> b"):
        dependency_order(services)


def test_image_name_and_environment_file_label(project) -> None:
    project.write(".env", "TAG=1\n")
    project.write("compose.yaml", "services: {web: {build: .}, db: {image: 'busybox:${TAG}'}}\n")
    loaded = project.load()
    assert labels.image_name(loaded, loaded.services["web"]) == "myapp-web"
    assert labels.image_name(loaded, loaded.services["db"]) == "busybox:1"
    got = labels.container_labels(loaded, loaded.services["db"], 1)
    assert got[labels.ENVIRONMENT_FILE] == str(project.root / ".env")
    assert loaded.env_files == [str(project.root / ".env")]


def test_project_select(project) -> None:
    loaded = _project(project)
    assert loaded.select() == ["db", "web"]
    assert loaded.select(["web"]) == ["db", "web"]
    assert loaded.select(["web"], with_deps=False) == ["web"]
    with pytest.raises(ComposeError, match="no such service: nope"):
        loaded.select(["nope"])
