"""Sysctls that are not namespaced never reach the host: refused at create by the daemon (a
400 naming the key and the rule, nothing stored) and again by the runtime before it creates
anything; namespaced ones (net.*, kernel.shm*) are set in the container only."""

from __future__ import annotations

import json
import os
import shutil
import uuid

import pytest

from daemon_fixture import running_daemon
from dockyard.client import APIClient, APIError
from dockyard.errors import InvalidParameter
from dockyard.runtime.defaults import default_spec
from dockyard.runtime.runtime import Runtime
from support import is_root

pytestmark = pytest.mark.skipif(not is_root(), reason="needs root (a real daemon)")


def _host(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read()


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


def _names(c: APIClient) -> list[str]:
    return sorted(x["Names"][0] for x in c.containers.list(all=True))


def test_cli_run_with_a_host_sysctl_fails_and_changes_nothing(d):
    before = _host("kernel.printk_ratelimit")
    for cli in (d.dockyard, d.docker):
        r = cli("run", "--rm", "--sysctl", "kernel.printk_ratelimit=9", "busybox", "true")
        assert r.returncode != 0
        assert "kernel.printk_ratelimit" in r.stderr
        assert _host("kernel.printk_ratelimit") == before
    assert "is not in a separate kernel namespace" in r.stderr or "not allowed" in r.stderr


@pytest.mark.parametrize(
    ("sysctls", "mode", "message"),
    [
        (
            {"kernel.core_pattern": "|/x"},
            {},
            'invalid sysctl: sysctl "kernel.core_pattern" is not in a separate kernel namespace',
        ),
        ({"kernel/core_pattern": "|/x"}, {}, '"kernel.core_pattern" is not in a separate'),
        ({"kernel.printk_ratelimit": "9"}, {}, "is not in a separate kernel namespace"),
        ({"vm.drop_caches": "3"}, {}, '"vm.drop_caches" is not in a separate kernel namespace'),
        ({"kernel.hostname": "x"}, {}, 'conflicts with the OCI "hostname" field'),
        ({"user.max_user_namespaces": "0"}, {}, "without a user namespace not allowed"),
        ({"net.ipv4.ip_forward": "0"}, {"NetworkMode": "host"}, "not allowed in host network"),
        ({"kernel.shmmax": "1"}, {"IpcMode": "host"}, "not allowed in the hosts ipc namespace"),
        ({"kernel.domainname": "x"}, {"UTSMode": "host"}, "not in a separate kernel namespace"),
        ({"net.ipv4/../../kernel/core_pattern": "|/x"}, {}, "invalid sysctl key"),
    ],
)
def test_api_create_refuses_and_stores_nothing(d, sysctls, mode, message):
    c = APIClient(d.host)
    before, core = _names(c), _host("kernel.core_pattern")
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Sysctls": sysctls, **mode}}
    with pytest.raises(APIError) as e:
        c.containers.create(body, name=f"sys{uuid.uuid4().hex[:8]}")
    assert e.value.status == 400
    assert message in e.value.message
    assert "namespaced sysctls" in e.value.message or "invalid sysctl key" in e.value.message
    assert _names(c) == before
    assert _host("kernel.core_pattern") == core


def test_namespaced_sysctls_are_set_in_the_container_only(d):
    host_somaxconn, host_shmmni = _host("net.core.somaxconn"), _host("kernel.shmmni")
    r = d.docker(
        "run",
        "--rm",
        "--sysctl",
        "net.core.somaxconn=77",
        "--sysctl",
        "kernel.shmmni=99",
        "busybox",
        "sh",
        "-c",
        "cat /proc/sys/net/core/somaxconn /proc/sys/kernel/shmmni",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["77", "99"]
    assert (_host("net.core.somaxconn"), _host("kernel.shmmni")) == (host_somaxconn, host_shmmni)


def test_container_network_mode_shares_a_private_namespace(d):
    c = APIClient(d.host)
    name = f"netowner{uuid.uuid4().hex[:6]}"
    owner = c.containers.create({"Image": "busybox", "Cmd": ["sleep", "30"]}, name=name)["Id"]
    try:
        c.containers.start(owner)
        r = d.docker(
            "run",
            "--rm",
            f"--network=container:{name}",
            "--sysctl",
            "net.ipv4.ip_default_ttl=33",
            "busybox",
            "cat",
            "/proc/sys/net/ipv4/ip_default_ttl",
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "33"
    finally:
        c.containers.remove(owner, force=True)


# --- the runtime alone: config.json asking for a host sysctl --------------------------------


def test_runtime_refuses_core_pattern_before_writing_anything(tmp_path, busybox_rootfs):
    bundle = tmp_path / "bundle"
    shutil.copytree(busybox_rootfs, bundle / "rootfs", symlinks=True)
    conf = default_spec()
    conf["process"]["args"] = ["true"]
    conf["linux"]["sysctl"] = {"kernel.core_pattern": "|/tmp/pwned %p"}
    (bundle / "config.json").write_text(json.dumps(conf))
    state_root = tmp_path / "state"
    rt = Runtime(str(state_root))
    core = _host("kernel.core_pattern")
    cid = f"sysctl-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InvalidParameter, match='"kernel.core_pattern" is not in a separate'):
        rt.create(cid, str(bundle))
    assert _host("kernel.core_pattern") == core
    assert not os.path.exists(state_root / cid)
    assert cid not in [s.get("id") for s in rt.list()]
