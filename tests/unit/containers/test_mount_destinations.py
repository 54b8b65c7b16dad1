"""Mount destinations checked as moby (absolute, not '/') and runc (nothing inside /proc but
its allow-list) check them: at create (containers/mounts.py, hostconfig.py) and in the
runtime's config.json validation."""

from __future__ import annotations

import json
import os

import pytest

from dockyard.containers import mounts
from dockyard.errors import InvalidParameter
from dockyard.runtime import mountdest
from dockyard.runtime.config import load_bundle
from dockyard.runtime.defaults import default_spec
from dockyard.runtime.hostconfig import adapt_host_config, verify_host_config


def test_bind_onto_root_after_normalisation():
    with pytest.raises(InvalidParameter) as e:
        mounts.parse_bind("/src:/x/../..")
    assert e.value.message == (
        "invalid volume specification: '/src:/x/../..': invalid mount config for type "
        "\"bind\": invalid specification: destination can't be '/'"
    )


@pytest.mark.parametrize("dest", ["/", "//", "/..", "/./", "/a/.."])
def test_root_destinations(dest):
    with pytest.raises(InvalidParameter, match="destination can't be '/'"):
        mounts.plan({}, {"Mounts": [{"Type": "tmpfs", "Target": dest}]})
    with pytest.raises(InvalidParameter, match="destination can't be '/'"):
        mounts.plan({"Volumes": {dest: {}}}, {})


def test_relative_destination():
    with pytest.raises(InvalidParameter, match="'x/y' mount path must be absolute"):
        mounts.parse_bind("/src:x/y")


@pytest.mark.parametrize(
    "dest", ["/proc/sys/kernel", "/proc/sys", "/proc/1/root", "//proc/self", "/x/../proc/kcore"]
)
def test_inside_proc_refused(dest):
    with pytest.raises(InvalidParameter) as e:
        mounts.parse_bind(f"/tmp:{dest}")
    assert "cannot be mounted because it is inside /proc" in e.value.message
    assert e.value.message.startswith(f"invalid volume specification: '/tmp:{dest}'")
    with pytest.raises(InvalidParameter, match='invalid mount config for type "volume"'):
        mounts.plan({}, {"Mounts": [{"Type": "volume", "Source": "v", "Target": dest}]})
    with pytest.raises(InvalidParameter, match="inside /proc"):
        verify_host_config(adapt_host_config({"Tmpfs": {dest: ""}}), {})


@pytest.mark.parametrize("dest", sorted(mountdest.ALLOWED_IN_PROC))
def test_runc_allow_list(dest):
    spec = mounts.parse_bind(f"/tmp:{dest}")
    assert spec["Destination"] == dest


def test_proc_itself_only_for_procfs():
    with pytest.raises(InvalidParameter, match="cannot be mounted because it is not of type proc"):
        mounts.parse_bind("/tmp:/proc")
    with pytest.raises(InvalidParameter, match="not of type proc"):
        mounts.plan({"Volumes": {"/proc": {}}}, {})
    assert mounts.parse_bind("/proc:/proc")["Destination"] == "/proc"  # runc accepts a procfs


# --- the runtime: config.json --------------------------------------------------------------


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return tmp_path


def _load(bundle, extra):
    conf = default_spec()
    conf["mounts"].append(extra)
    (bundle / "config.json").write_text(json.dumps(conf))
    return load_bundle(str(bundle))


@pytest.mark.parametrize(
    "mount,message",
    [
        (
            {"destination": "/proc/sys/kernel", "type": "bind", "source": "/tmp"},
            'check proc-safety of /proc/sys/kernel mount: "/proc/sys/kernel" cannot be mounted'
            " because it is inside /proc",
        ),
        (
            {"destination": "/proc/../proc/sysrq-trigger", "type": "tmpfs", "source": "tmpfs"},
            "inside /proc",
        ),
        ({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}, "not of type proc"),
        ({"destination": "/x/../..", "type": "tmpfs", "source": "tmpfs"}, "on the top of"),
        ({"destination": "relative", "type": "tmpfs", "source": "tmpfs"}, "absolute path"),
    ],
)
def test_runtime_refuses(bundle, mount, message):
    with pytest.raises(InvalidParameter, match=message.replace(".", r"\.")):
        _load(bundle, mount)


def test_runtime_accepts_allow_list_and_proc(bundle):
    _load(bundle, {"destination": "/proc/meminfo", "type": "bind", "source": "/proc/meminfo"})
    _load(bundle, {"destination": "/proc", "options": ["rbind"], "source": "/proc"})


# --- the runtime's check on the resolved mount point ----------------------------------------


def _fds(root, target):
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    target_fd = os.open(target, os.O_PATH)
    return root_fd, target_fd


def _check_resolved(root, target, kind="bind", source=None):
    root_fd, target_fd = _fds(root, target)
    try:
        mountdest.check_resolved(root_fd, target_fd, kind, source)
    finally:
        os.close(root_fd)
        os.close(target_fd)


def test_resolved_destination_inside_proc(tmp_path):
    (tmp_path / "proc" / "sys" / "kernel").mkdir(parents=True)
    (tmp_path / "x").symlink_to("proc/sys/kernel")  # what an image's symlink resolves to
    with pytest.raises(InvalidParameter, match='"/proc/sys/kernel" cannot be mounted because'):
        _check_resolved(tmp_path, tmp_path / "x")
    with pytest.raises(InvalidParameter, match="on the top of the rootfs"):
        _check_resolved(tmp_path, tmp_path)
    (tmp_path / "ok").mkdir()
    _check_resolved(tmp_path, tmp_path / "ok")


def test_resolved_destination_on_a_real_procfs():
    _check_resolved("/", "/proc/meminfo")
    with pytest.raises(InvalidParameter, match="inside /proc"):
        _check_resolved("/", "/proc/sys/kernel")
    with pytest.raises(InvalidParameter, match="outside of the rootfs"):
        _check_resolved("/proc/sys", "/")
