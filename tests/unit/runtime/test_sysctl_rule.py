"""runc's sysctl rule (runtime/sysctls.py): the daemon's check at create and the runtime's
check of config.json, with runc's wording."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime import sysctls
from dockyard.runtime.config import load_bundle
from dockyard.runtime.defaults import default_spec
from dockyard.runtime.hostconfig import adapt_host_config, verify_host_config

PRIVATE = {"ipc_private": True, "net_private": True, "uts_private": True}
HOST = {"ipc_private": False, "net_private": False, "uts_private": False}


@pytest.mark.parametrize(
    "key",
    [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
        "fs.mqueue.msg_max",
        "net.ipv4.ip_forward",
        "net/ipv4/conf/eth0/rp_filter",
        "net.ipv4.conf.eno2/100.rp_filter",
        "kernel.domainname",
    ],
)
def test_namespaced_keys_are_allowed_with_private_namespaces(key):
    sysctls.check(key, **PRIVATE)


@pytest.mark.parametrize(
    "key,message",
    [
        ("kernel.printk_ratelimit", 'sysctl "kernel.printk_ratelimit" is not in a separate'),
        ("kernel.core_pattern", 'sysctl "kernel.core_pattern" is not in a separate kernel'),
        ("kernel/core_pattern", 'sysctl "kernel.core_pattern" is not in a separate kernel'),
        ("vm.overcommit_memory", "is not in a separate kernel namespace"),
        ("fs.file-max", "is not in a separate kernel namespace"),
        ("kernel.msgmaxx", "is not in a separate kernel namespace"),
        ("kernel.hostname", 'conflicts with the OCI "hostname" field'),
        ("user.max_user_namespaces", "setting ucounts without a user namespace not allowed"),
        ("net.ipv4/../../kernel/core_pattern", "invalid sysctl key"),
        ("net..ipv4", "invalid sysctl key"),
        ("net.ipv4.ip_forward\n", "invalid sysctl key"),
        ("", "invalid sysctl key"),
    ],
)
def test_other_keys_are_refused(key, message):
    with pytest.raises(InvalidParameter, match=message.replace(".", r"\.")):
        sysctls.check(key, **PRIVATE)


@pytest.mark.parametrize(
    "key,message",
    [
        ("kernel.shmmax", 'sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace'),
        ("fs.mqueue.queues_max", "is not allowed in the hosts ipc namespace"),
        ("net.core.somaxconn", 'sysctl "net.core.somaxconn" not allowed in host network'),
        ("kernel.domainname", 'sysctl "kernel.domainname" is not in a separate kernel'),
    ],
)
def test_namespaced_keys_need_their_namespace(key, message):
    with pytest.raises(InvalidParameter, match=message.replace(".", r"\.")):
        sysctls.check(key, **HOST)


def _verify(hc):
    verify_host_config(adapt_host_config(hc), {})


def test_daemon_check_names_key_and_rule():
    with pytest.raises(InvalidParameter) as e:
        _verify({"Sysctls": {"kernel.printk_ratelimit": "9"}})
    msg = e.value.message
    assert msg.startswith('invalid sysctl: sysctl "kernel.printk_ratelimit" is not in a separate')
    assert "kernel.shmmax" in msg and "fs.mqueue.*" in msg and "net.*" in msg


def test_daemon_check_follows_the_modes():
    _verify({"Sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"}})
    _verify({"NetworkMode": "none", "Sysctls": {"net.ipv4.ip_forward": "1"}})
    # container:<id> shares that container's private namespace (Docker and runc accept it)
    _verify({"NetworkMode": "container:abc", "Sysctls": {"net.ipv4.ip_forward": "1"}})
    _verify({"IpcMode": "container:abc", "Sysctls": {"kernel.sem": "1 2 3 4"}})
    with pytest.raises(InvalidParameter, match="not allowed in host network namespace"):
        _verify({"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}})
    with pytest.raises(InvalidParameter, match="not allowed in the hosts ipc namespace"):
        _verify({"IpcMode": "host", "Sysctls": {"kernel.sem": "1 2 3 4"}})
    with pytest.raises(InvalidParameter, match="not in a separate kernel namespace"):
        _verify({"UTSMode": "host", "Sysctls": {"kernel.domainname": "x"}})


# --- the runtime: config.json --------------------------------------------------------------


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return tmp_path


def _load(bundle, sysctl, namespaces=None):
    conf = default_spec()
    conf["linux"]["sysctl"] = sysctl
    if namespaces is not None:
        conf["linux"]["namespaces"] = namespaces
    (bundle / "config.json").write_text(json.dumps(conf))
    return load_bundle(str(bundle))


def test_runtime_refuses_host_sysctls(bundle):
    with pytest.raises(InvalidParameter, match='"kernel.core_pattern" is not in a separate'):
        _load(bundle, {"kernel.core_pattern": "|/x"})


def test_runtime_accepts_namespaced_sysctls(bundle):
    _load(bundle, {"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"})


def test_runtime_checks_against_the_spec_namespaces(bundle):
    spec_ns = [n for n in default_spec()["linux"]["namespaces"] if n["type"] != "network"]
    with pytest.raises(InvalidParameter, match="not allowed in host network namespace"):
        _load(bundle, {"net.ipv4.ip_forward": "1"}, spec_ns)
    # joining the runtime's own network namespace by path is the host's namespace
    joined = spec_ns + [{"type": "network", "path": "/proc/self/ns/net"}]
    with pytest.raises(InvalidParameter, match="not allowed in host network namespace"):
        _load(bundle, {"net.ipv4.ip_forward": "1"}, joined)
    no_ipc = [n for n in default_spec()["linux"]["namespaces"] if n["type"] != "ipc"]
    with pytest.raises(InvalidParameter, match="not allowed in the hosts ipc namespace"):
        _load(bundle, {"kernel.shmmni": "10"}, no_ipc)


def test_runtime_refuses_non_string_values(bundle):
    with pytest.raises(InvalidParameter, match="must be a string"):
        _load(bundle, {"net.ipv4.ip_forward": 1})


def test_dotted_form_is_runcs():
    assert sysctls.dotted("net/ipv4/conf/eno2.100/rp_filter") == "net.ipv4.conf.eno2/100.rp_filter"
    assert sysctls.dotted("net.ipv4.ip_forward") == "net.ipv4.ip_forward"
