"""An image whose /dev or /proc is a symlink out of the root (absolute, or climbing with ..):
before the fix the runtime followed /dev on the host before pivot_root, deleted the host's
`ptmx` there and made `fd`, `stdin`, ... `ptmx` symlinks in that host directory. Now the
container is refused with a clear error and the host directory is unchanged."""

from __future__ import annotations

import json

import pytest

from daemon_fixture import raw_request, running_daemon


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


@pytest.mark.parametrize("entry", ["dev", "proc"])
@pytest.mark.parametrize("how", ["absolute", "climbing"])
def test_image_dev_or_proc_symlink_is_refused(d, busybox_rootfs, sentinel, hx, entry, how):
    target = sentinel.path if how == "absolute" else sentinel.climb()
    links = {entry: hx.symlink_entry(target), hx.climb_link: hx.symlink_entry(".")}
    tag = hx.import_image(d, hx.image_tar(busybox_rootfs, links))
    before, mounts = sentinel.digest(), hx.host_mounts()
    for cli in (d.docker, d.dockyard):
        r = cli("run", "--rm", tag, "true")
        assert r.returncode != 0, r.stdout
        assert f"rootfs /{entry} cannot be a symlink" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    assert sentinel.digest() == before
    assert sentinel.path not in hx.host_mounts().replace(mounts, "")
    # refused at create, through the API, with a 400: nothing is made
    body = json.dumps({"Image": tag, "Cmd": ["true"]}).encode()
    assert raw_request(d.sock, "POST", "/containers/create", body, "application/json") == 400
    assert d.docker("ps", "-aq").stdout.strip() == ""
    assert sentinel.digest() == before


def test_control_the_same_image_with_a_real_dev_runs(d, busybox_rootfs, hx):
    """The refusal is about the symlink: the same image with directories works."""
    tag = hx.import_image(d, hx.image_tar(busybox_rootfs, {}))
    r = d.docker("run", "--rm", tag, "sh", "-c", "ls -l /dev/ptmx /dev/fd && cat /proc/1/comm")
    assert r.returncode == 0, r.stderr
    assert "/dev/ptmx -> pts/ptmx" in r.stdout
