"""The docker SDK's networks against our daemon: create with an IPAM pool, connect a running
container with aliases, reach it by alias from a peer, disconnect, errors as SDK exceptions.

Subnets are random /24s from 10.201.0.0/16 upwards; traffic stays between test containers.
"""

from __future__ import annotations

import random
import secrets
import subprocess

import docker
import pytest

from daemon_fixture import running_daemon


def random_subnet() -> str:
    return f"10.{random.randint(201, 250)}.{random.randint(0, 255)}.0/24"


@pytest.fixture(scope="module")
def client(busybox_rootfs):
    with running_daemon() as d:
        d.import_busybox(busybox_rootfs)
        c = docker.DockerClient(base_url=d.host, version="auto", timeout=60)
        try:
            yield c
        finally:
            c.close()


@pytest.fixture
def made(client):
    """Containers and networks a test made; removed after it, even when it fails."""
    things: dict[str, list] = {"containers": [], "networks": []}
    try:
        yield things
    finally:
        for c in things["containers"]:
            try:
                c.remove(force=True)
            except docker.errors.NotFound:
                pass
        for n in things["networks"]:
            try:
                n.remove()
            except docker.errors.NotFound:
                pass
            bridge = n.attrs.get("Options", {}).get("com.docker.network.bridge.name")
            if bridge:
                subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def new_network(client, made, prefix: str):
    pool = docker.types.IPAMPool(subnet=random_subnet())
    net = client.networks.create(
        f"{prefix}-{secrets.token_hex(3)}",
        driver="bridge",
        ipam=docker.types.IPAMConfig(pool_configs=[pool]),
        options={"com.docker.network.bridge.name": f"dys{secrets.token_hex(4)}"},
        labels={"test": "connect"},
    )
    made["networks"].append(net)
    return net


def run(client, made, **kwargs):
    c = client.containers.run("busybox", "sleep 300", detach=True, **kwargs)
    made["containers"].append(c)
    return c


def test_sdk_connect_disconnect(client, made):
    front = new_network(client, made, "front")
    back = new_network(client, made, "back")
    assert front.attrs["Labels"] == {"test": "connect"}
    assert {n.name for n in client.networks.list(names=[front.name, back.name])} == {
        front.name,
        back.name,
    }
    app = run(client, made, network=front.name, name=f"app-{secrets.token_hex(3)}")
    db = run(client, made, network=back.name)

    back.connect(app, aliases=["api"])
    back.reload()
    assert app.id in {c.id for c in back.containers}
    app.reload()
    ep = app.attrs["NetworkSettings"]["Networks"][back.name]
    assert ep["Aliases"] == ["api"] and ep["IPAddress"] and ep["NetworkID"] == back.id
    code, out = db.exec_run(["ping", "-c1", "-W2", "api"])
    assert code == 0 and b"1 packets received" in out, out
    code, out = app.exec_run(["ip", "-o", "-4", "addr", "show", "eth1"])
    assert code == 0 and ep["IPAddress"].encode() in out

    with pytest.raises(docker.errors.APIError, match="already exists in network"):
        back.connect(app)

    back.disconnect(app)
    back.reload()
    assert app.id not in {c.id for c in back.containers}
    app.reload()
    assert set(app.attrs["NetworkSettings"]["Networks"]) == {front.name}
    assert app.exec_run(["ip", "link", "show", "eth1"])[0] != 0
    assert db.exec_run(["ping", "-c1", "-W2", "api"])[0] != 0
    with pytest.raises(docker.errors.APIError, match="is not connected to network"):
        back.disconnect(app)
    with pytest.raises(docker.errors.NotFound):
        client.networks.get("no-such-network-here")


def test_sdk_create_with_networking_config(client, made):
    net = new_network(client, made, "multi")
    subnet = net.attrs["IPAM"]["Config"][0]["Subnet"]
    fixed = subnet.rsplit(".", 1)[0] + ".77"
    c = client.containers.create(
        "busybox",
        "sleep 300",
        network=net.name,
        networking_config={
            net.name: client.api.create_endpoint_config(aliases=["svc"], ipv4_address=fixed)
        },
    )
    made["containers"].append(c)
    net2 = new_network(client, made, "extra")
    net2.connect(c, aliases=["svc2"])  # not running: recorded, attached at start
    c.reload()
    assert set(c.attrs["NetworkSettings"]["Networks"]) == {net.name, net2.name}
    c.start()
    c.reload()
    nets = c.attrs["NetworkSettings"]["Networks"]
    assert nets[net.name]["IPAddress"] == fixed and "svc" in nets[net.name]["Aliases"]
    assert nets[net2.name]["IPAddress"] and nets[net2.name]["Aliases"] == ["svc2"]
    peer = run(client, made, network=net2.name)
    code, out = peer.exec_run(["ping", "-c1", "-W2", "svc2"])
    assert code == 0, out
