"""Acceptance 5 of issue 2: after a batch of 50 containers (run, killed, deleted while
created, force-deleted while running) nothing remains: no mounts, cgroups, processes, state."""

from __future__ import annotations

import os
import signal

from dockyard.runtime import wait_status


def _mountinfo() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return f.read().splitlines()


def _processes_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(name))
        except OSError:
            continue
    return found


def _cgroup_dirs(tag: str) -> list[str]:
    out = []
    for h in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", h)
        for dirpath, _, _ in os.walk(top):
            if tag in dirpath:
                out.append(dirpath)
    return out


def test_fifty_containers_leave_nothing(
    bundles, rt, tag, tmp_path, busybox_rootfs, leftover_children
):
    # (other tests may mount things on the host meanwhile: look only at our paths)
    ours = (str(tmp_path), busybox_rootfs)
    mounts_before = [m for m in _mountinfo() if any(p in m for p in ours)]
    marker = f"DOCKYARD_MARK={tag}"

    def edit(conf):
        conf["process"]["env"].append(marker)
        # a bind mount too, so that a leak into the host's mount table would show
        conf["mounts"].append(
            {
                "destination": "/mnt",
                "type": "bind",
                "source": str(tmp_path),
                "options": ["rbind", "ro"],
            }
        )

    quick = bundles.make(["sh", "-c", "echo hi > /dev/null"], name="quick", edit=edit)
    slow = bundles.make(["sleep", "30"], name="slow", edit=edit)
    null = os.open("/dev/null", os.O_RDWR)
    try:
        for i in range(50):
            kind = i % 4
            cid = f"batch-{i}"
            if kind == 0:
                assert rt.run(cid, quick, stdout=null, stderr=null) == 0
            elif kind == 1:  # created, then deleted without start
                pid = rt.create(cid, slow, stdout=null, stderr=null)
                rt.delete(cid)
                assert wait_status(pid) == 137
            elif kind == 2:  # running, force-deleted
                pid = rt.create(cid, slow, stdout=null, stderr=null)
                rt.start(cid)
                rt.delete(cid, force=True)
                assert wait_status(pid) == 137
            else:  # running, killed, reaped, then deleted
                pid = rt.create(cid, slow, stdout=null, stderr=null)
                rt.start(cid)
                rt.kill(cid, signal.SIGKILL)
                assert wait_status(pid) == 137
                rt.delete(cid)
    finally:
        os.close(null)
    assert rt.list() == []
    assert os.listdir(rt.root) == []
    assert [m for m in _mountinfo() if any(p in m for p in ours)] == mounts_before == []
    assert _cgroup_dirs(f"dockyard-rt-{tag}") == []
    assert _processes_with(marker) == []
    assert leftover_children() == []  # no zombie or process in another pid namespace either
