"""HostConfig is checked at create as dockerd does (not first at start), and the daemon's
container defaults (daemon.json log-opts, default-ulimits, no-new-privileges,
default-shm-size) reach the container."""

from __future__ import annotations

import os

import pytest

from dockyard.containers.defaults import ContainerDefaults
from dockyard.containers.init import find_init
from dockyard.containers.service import ContainerService
from dockyard.errors import InvalidParameter


@pytest.mark.parametrize(
    ("host_config", "message"),
    [
        ({"Runtime": "dockyard"}, "unknown or invalid runtime name: dockyard"),
        ({"Runtime": "crun"}, "unknown or invalid runtime name: crun"),
        ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
        ({"OomScoreAdj": 5000}, "range for oom score adj"),
        ({"Tmpfs": {"relative": ""}}, "relative"),
        ({"CpuCount": 2}, "CpuCount"),
        ({"Memory": "1g"}, "cannot unmarshal string"),
    ],
)
def test_invalid_host_config_fails_at_create(engine, host_config, message):
    svc = engine.containers
    before = svc.ids()
    with pytest.raises(InvalidParameter, match=message):
        svc.create(None, {"Image": "busybox", "Cmd": ["true"]}, host_config)
    assert svc.ids() == before


def test_runc_runtime_name_is_accepted(engine):
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["true"]}, {"Runtime": "runc"})["Id"]
    svc.start(cid)
    assert svc.wait(cid, timeout=10)["StatusCode"] == 0


@pytest.fixture
def defaults_service(engine):
    defaults = ContainerDefaults.from_settings(
        {
            "log-opts": {"max-size": "1m", "max-file": "2"},
            "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 321, "Hard": 654}},
            "no-new-privileges": True,
            "default-shm-size": "16M",
        }
    )
    svc = ContainerService(
        os.path.join(engine.root, "containers"),
        images=engine.images,
        snapshotter=engine.snapshots,
        volumes=engine.volumes,
        runtime=engine.runtime,
        runtime_root=os.path.join(engine.run_dir, "rt"),
        run_dir=os.path.join(engine.run_dir, "c"),
        cgroup_parent=engine.cgroup_parent,
        init_path=find_init(),
        defaults=defaults,
    )
    try:
        yield svc
    finally:
        for cid in svc.ids():
            svc.remove(cid, force=True, volumes=True)
        svc.close()


def test_daemon_defaults_reach_the_container(defaults_service):
    svc = defaults_service
    script = (
        "ulimit -Sn; ulimit -Hn; grep NoNewPrivs /proc/self/status; "
        "df -k /dev/shm | tail -1 | awk '{print $2}'"
    )
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["sh", "-c", script]}, {})["Id"]
    hc = svc.inspect(cid)["HostConfig"]
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}
    svc.start(cid)
    assert svc.wait(cid, timeout=10)["StatusCode"] == 0
    out = b"".join(d for _, d in svc.logs(cid)).decode().split()
    assert out == ["321", "654", "NoNewPrivs:", "1", str(16 * 1024)]
