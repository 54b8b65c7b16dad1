"""spec.py's neighbours: hostconfig.py (create-time HostConfig), seccomp_profile.py, devices.py."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime import hostconfig, seccomp_profile, spec


def test_spec_re_exports_the_moved_names():
    from dockyard.runtime import devices

    assert spec.devices_from_path is devices.devices_from_path
    assert spec.adapt_host_config is hostconfig.adapt_host_config
    assert spec.verify_host_config is hostconfig.verify_host_config
    assert spec.cgroup_unified is hostconfig.cgroup_unified
    assert spec.seccomp_from_profile is seccomp_profile.seccomp_from_profile


def test_container_ref():
    assert hostconfig.container_ref("container:abc") == "abc"
    assert hostconfig.container_ref("container:") is None
    assert hostconfig.container_ref("host") is None


def test_verify_refuses_with_dockers_words():
    with pytest.raises(InvalidParameter, match="invalid IPC mode: bogus"):
        hostconfig.verify_host_config({"IpcMode": "bogus"})
    with pytest.raises(InvalidParameter, match="Minimum memory limit allowed is 6MB"):
        hostconfig.verify_host_config({"Memory": 1024})


def test_profile_for():
    caps = ["CAP_CHOWN"]
    assert seccomp_profile.profile_for("unconfined", False, caps) is None
    assert seccomp_profile.profile_for("", True, caps) is None
    builtin = seccomp_profile.profile_for("", False, caps)
    assert builtin is not None and builtin["defaultAction"] == "SCMP_ACT_ERRNO"
    custom = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})
    assert seccomp_profile.profile_for(custom, True, caps) == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [],
    }
    with pytest.raises(InvalidParameter, match="Decoding seccomp profile failed"):
        seccomp_profile.profile_for("[1]", False, caps)
