"""Fixtures for the runtime's root tests: bundles made from `runc spec`, a Runtime on a
temporary state root, unique ids and cgroup paths, and clean-up that removes whatever a failed
test left (containers under both runtimes, cgroup directories)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from dockyard.runtime import Runtime

CGROUP_V1 = "/sys/fs/cgroup"


class Bundles:
    """Makes bundles whose config.json comes from `runc spec` (terminal off, args changed)."""

    def __init__(self, base: str, rootfs: str, tag: str) -> None:
        self.base = base
        self.rootfs = rootfs
        self.tag = tag
        self.count = 0

    def cgroup_path(self, name: str) -> str:
        return f"/dockyard-rt-{self.tag}/{name}"

    def make(
        self, args: list[str], *, name: str | None = None, writable: bool = False, edit=None
    ) -> str:
        self.count += 1
        name = name or f"b{self.count}"
        bundle = os.path.join(self.base, name)
        os.makedirs(bundle)
        subprocess.run(["runc", "spec", "--bundle", bundle], check=True)
        with open(os.path.join(bundle, "config.json")) as f:
            conf = json.load(f)
        conf["process"]["terminal"] = False
        conf["process"]["args"] = args
        if writable:
            shutil.copytree(self.rootfs, os.path.join(bundle, "rootfs"), symlinks=True)
            conf["root"] = {"path": "rootfs", "readonly": False}
        else:
            conf["root"] = {"path": self.rootfs, "readonly": True}
        conf["linux"]["cgroupsPath"] = self.cgroup_path(name)
        if edit is not None:
            edit(conf)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(conf, f, indent=1)
        return bundle


def _cgroup_dirs(tag: str) -> list[str]:
    out = []
    for h in os.listdir(CGROUP_V1):
        d = os.path.join(CGROUP_V1, h, f"dockyard-rt-{tag}")
        if os.path.isdir(d):
            out.append(d)
    return out


def _remove_tree(d: str) -> None:
    for dirpath, dirnames, _ in sorted(os.walk(d), key=lambda t: -t[0].count("/")):
        for sub in dirnames:
            p = os.path.join(dirpath, sub)
            try:
                with open(os.path.join(p, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        try:
                            os.kill(int(pid), 9)
                        except ProcessLookupError:
                            pass
            except OSError:
                pass
    for dirpath, _, _ in sorted(os.walk(d), key=lambda t: -t[0].count("/")):
        for _ in range(100):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                import time

                time.sleep(0.02)


def container_children() -> list[int]:
    """Our child processes that a container set-up left: in another pid namespace, or zombies
    (other fixtures' children, such as daemons, live in ours and are not counted)."""
    me = os.getpid()
    own_ns = os.readlink("/proc/self/ns/pid")
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) != me:
            continue
        try:
            if fields[0] == "Z" or os.readlink(f"/proc/{name}/ns/pid") != own_ns:
                found.append(int(name))
        except OSError:
            found.append(int(name))
    return found


@pytest.fixture
def leftover_children():
    """The function container_children, for tests that check nothing was left."""
    return container_children


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def state_root(tmp_path) -> str:
    d = tmp_path / "state"
    d.mkdir()
    return str(d)


@pytest.fixture
def bundles(tmp_path, busybox_rootfs, tag, state_root):
    b = Bundles(str(tmp_path / "bundles"), busybox_rootfs, tag)
    os.makedirs(b.base)
    yield b
    # whatever a test left: containers of either runtime, then the cgroups
    rt = Runtime(state_root)
    for cid in rt.store.ids():
        try:
            rt.delete(cid, force=True)
        except Exception:  # noqa: BLE001 - best effort clean-up
            pass
    runc_root = os.path.join(state_root, "runc")
    if os.path.isdir(runc_root):
        for cid in os.listdir(runc_root):
            subprocess.run(
                ["runc", "--root", runc_root, "delete", "--force", cid], capture_output=True
            )
    for d in _cgroup_dirs(tag):
        _remove_tree(d)
    for d in _cgroup_dirs(tag):
        os.rmdir(d)


@pytest.fixture
def rt(state_root) -> Runtime:
    return Runtime(state_root)


@pytest.fixture
def runtime_cli(state_root):
    """Run `dockyard-runtime --root STATE ARGS...`; returns CompletedProcess."""
    exe = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")

    def run(*args: str, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run([exe, "--root", state_root, *args], **kw)

    return run


@pytest.fixture
def runc_cli(state_root):
    root = os.path.join(state_root, "runc")

    def run(*args: str, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run(["runc", "--root", root, *args], **kw)

    return run
