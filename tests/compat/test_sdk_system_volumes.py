"""The docker SDK for Python against our daemon: ping, version, info, volumes, events."""

from __future__ import annotations

import time

import docker
import pytest

from daemon_fixture import module_daemon  # noqa: F401  (fixture)


@pytest.fixture
def client(module_daemon):  # noqa: F811
    c = docker.DockerClient(base_url=module_daemon.host, version="auto", timeout=30)
    yield c
    c.close()


def test_ping_version_info(client):
    assert client.ping() is True
    v = client.version()
    assert v["ApiVersion"] == "1.47" and v["Platform"]["Name"] == "dockyard"
    assert client.api.api_version == "1.47"
    info = client.info()
    assert info["Driver"] == "overlay2"


def test_volumes(client):
    v = client.volumes.create("sdkvol", labels={"a": "b"})
    assert v.name == "sdkvol" and v.attrs["Labels"] == {"a": "b"}
    assert client.volumes.get("sdkvol").attrs["Driver"] == "local"
    assert "sdkvol" in [x.name for x in client.volumes.list()]
    assert [x.name for x in client.volumes.list(filters={"label": "a=b"})] == ["sdkvol"]
    v.remove()
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("sdkvol")
    with pytest.raises(docker.errors.APIError) as e:
        client.volumes.create("bad/name")
    assert e.value.status_code == 400
    anon = client.volumes.create()
    assert anon.name in client.volumes.prune()["VolumesDeleted"]


def test_events(client):
    since = time.time()
    client.volumes.create("sdkev").remove()
    evs = list(
        client.events(
            since=since, until=time.time() + 0.05, decode=True, filters={"type": "volume"}
        )
    )
    assert [(e["Action"], e["Actor"]["ID"]) for e in evs] == [
        ("create", "sdkev"),
        ("destroy", "sdkev"),
    ]


def test_older_api_versions(module_daemon):  # noqa: F811
    for version in ("1.24", "1.41"):
        c = docker.APIClient(base_url=module_daemon.host, version=version)
        assert c.version()["ApiVersion"] == "1.47"
        c.close()
    c = docker.APIClient(base_url=module_daemon.host, version="1.99")
    with pytest.raises(docker.errors.APIError) as e:
        c.version()
    assert "client version 1.99 is too new" in str(e.value)
    c.close()
