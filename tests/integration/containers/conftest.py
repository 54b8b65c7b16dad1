"""Fixtures for the containers service: a whole engine (content, snapshots, images, volumes,
containers) on a temporary data root, a busybox image, and cleanup that leaves nothing."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid

import pytest

from dockyard.containers.service import ContainerService
from dockyard.content.store import ContentStore
from dockyard.images.service import ImageService
from dockyard.snapshots.snapshotter import Snapshotter
from dockyard.volumes.service import VolumeService

BUSYBOX_CHANGES = [
    'CMD ["sh"]',
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
]


class Engine:
    """The services a daemon would wire, for one test."""

    def __init__(self, root: str, run_dir: str, cgroup_parent: str, runtime: str) -> None:
        self.root = root
        self.run_dir = run_dir
        self.cgroup_parent = cgroup_parent
        self.runtime = runtime
        self.content = ContentStore(os.path.join(root, "content"))
        self.snapshots = Snapshotter(os.path.join(root, "snapshots"))
        self.images = ImageService(os.path.join(root, "images"), self.content, self.snapshots)
        self.volumes = VolumeService(os.path.join(root, "volumes"))
        self.events: list[tuple[str, str, str, dict]] = []
        self.containers = self.new_service()

    def new_service(self) -> ContainerService:
        return ContainerService(
            os.path.join(self.root, "containers"),
            images=self.images,
            snapshotter=self.snapshots,
            volumes=self.volumes,
            events=lambda t, a, i, attrs: self.events.append((t, a, i, attrs)),
            runtime=self.runtime,
            runtime_root=os.path.join(self.run_dir, "rt"),
            run_dir=os.path.join(self.run_dir, "c"),
            cgroup_parent=self.cgroup_parent,
            init_path=_init_binary(),
        )

    def actions(self, cid: str) -> list[str]:
        return [a for t, a, i, _ in self.events if i == cid]


def _init_binary() -> str | None:
    from dockyard.containers.init import find_init

    return find_init()


def _tar_of(directory: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(os.listdir(directory)):
            tar.add(os.path.join(directory, name), arcname=name)
    return buf.getvalue()


@pytest.fixture(scope="session")
def busybox_tar(busybox_rootfs) -> bytes:
    return _tar_of(busybox_rootfs)


def _leftovers(engine: Engine) -> list[str]:
    problems = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if engine.root in line or engine.run_dir in line:
                problems.append("mount: " + line.split()[4])
    for ctrl in ("memory", "pids", "freezer", "cpu,cpuacct"):
        path = f"/sys/fs/cgroup/{ctrl}/{engine.cgroup_parent}"
        if os.path.isdir(path):
            subs = [d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))]
            if subs:
                problems.append(f"cgroups in {path}: {subs}")
    return problems


def _remove_cgroups(parent: str) -> None:
    for ctrl in os.listdir("/sys/fs/cgroup"):
        path = f"/sys/fs/cgroup/{ctrl}/{parent}"
        if os.path.isdir(path):
            for d in os.listdir(path):
                if os.path.isdir(os.path.join(path, d)):
                    try:
                        os.rmdir(os.path.join(path, d))
                    except OSError:
                        pass
            try:
                os.rmdir(path)
            except OSError:
                pass


def make_engine(busybox_tar: bytes, runtime: str = "dockyard.runtime:Runtime"):
    root = tempfile.mkdtemp(prefix="dyc-", dir="/var/tmp")
    run_dir = tempfile.mkdtemp(prefix="dy", dir="/tmp")
    parent = f"dytest-{uuid.uuid4().hex[:8]}"
    engine = Engine(root, run_dir, parent, runtime)
    engine.images.import_rootfs(io.BytesIO(busybox_tar), "busybox:latest", changes=BUSYBOX_CHANGES)
    return engine


def destroy_engine(engine: Engine) -> list[str]:
    """Remove every container and everything the engine made; return what was left behind."""
    svc = engine.containers
    for cid in svc.ids():
        try:
            svc.remove(cid, force=True, volumes=True)
        except Exception:  # noqa: BLE001
            pass
    svc.close()
    problems = _leftovers(engine)
    # Belt and braces so that one failing test does not poison the machine.
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if engine.root in line]
    for m in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    _remove_cgroups(engine.cgroup_parent)
    shutil.rmtree(engine.root, ignore_errors=True)
    shutil.rmtree(engine.run_dir, ignore_errors=True)
    return problems


@pytest.fixture
def engine(busybox_tar):
    engine = make_engine(busybox_tar)
    try:
        yield engine
    finally:
        problems = destroy_engine(engine)
        assert not problems, problems


@pytest.fixture
def runc_engine(busybox_tar):
    """An engine whose monitors drive runc instead of dockyard's runtime."""
    engine = make_engine(busybox_tar, runtime="dockyard.containers.runc:RuncRuntime")
    try:
        yield engine
    finally:
        problems = destroy_engine(engine)
        assert not problems, problems
