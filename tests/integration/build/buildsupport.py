"""Helpers for build tests: an engine (stores, containers, builder) on a temporary data
root with a busybox base image, context tars, and a build call that keeps the messages."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from dataclasses import dataclass, field

from dockyard.build.service import BuildService
from dockyard.containers.service import ContainerService
from dockyard.content.store import ContentStore
from dockyard.images.service import ImageService
from dockyard.snapshots.snapshotter import Snapshotter

BUSYBOX_CHANGES = [
    'CMD ["sh"]',
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
]


class BuildEngine:
    """The services a daemon wires for building, on a temporary data root."""

    def __init__(self, busybox_tar: bytes) -> None:
        self.root = tempfile.mkdtemp(prefix="dyb-", dir="/var/tmp")
        self.run_dir = tempfile.mkdtemp(prefix="dyb", dir="/tmp")
        self.cgroup_parent = f"dybuild-{uuid.uuid4().hex[:8]}"
        self.content = ContentStore(os.path.join(self.root, "content"))
        self.snapshots = Snapshotter(os.path.join(self.root, "snapshots"))
        self.images = ImageService(os.path.join(self.root, "images"), self.content, self.snapshots)
        self.containers = ContainerService(
            os.path.join(self.root, "containers"),
            images=self.images,
            snapshotter=self.snapshots,
            runtime_root=os.path.join(self.run_dir, "rt"),
            run_dir=os.path.join(self.run_dir, "c"),
            cgroup_parent=self.cgroup_parent,
        )
        self.builder = BuildService(
            os.path.join(self.root, "build"),
            images=self.images,
            snapshots=self.snapshots,
            containers=self.containers,
        )
        self.busybox = self.images.import_rootfs(
            io.BytesIO(busybox_tar), "busybox:latest", changes=BUSYBOX_CHANGES
        )

    def busybox_history(self) -> list[dict]:
        return list(self.images.get(self.busybox).config.get("history") or [])

    def leftovers(self) -> list[str]:
        """Containers, mounts and build snapshots a build should not leave behind."""
        problems = [f"container {c}" for c in self.containers.ids()]
        with open("/proc/self/mountinfo") as f:
            problems += ["mount " + line.split()[4] for line in f if self.root in line]
        problems += [
            f"snapshot {info.name}" for info in self.snapshots.walk() if info.kind != "committed"
        ]
        return problems

    def destroy(self) -> None:
        for cid in self.containers.ids():
            try:
                self.containers.remove(cid, force=True, volumes=True)
            except Exception:  # noqa: BLE001
                pass
        self.containers.close()
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f if self.root in line]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        for ctrl in os.listdir("/sys/fs/cgroup"):
            path = f"/sys/fs/cgroup/{ctrl}/{self.cgroup_parent}"
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
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def tar_of(files: dict[str, bytes | str | tuple], gz: bool = False) -> io.BytesIO:
    """A context tar: name -> content (bytes/str), ("dir",), ("link", target), or
    (content, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for name, value in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if isinstance(value, tuple) and value[0] == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
                continue
            if isinstance(value, tuple) and value[0] == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = value[1]
                tar.addfile(info)
                continue
            mode = 0o644
            if isinstance(value, tuple):
                value, mode = value
            data = value.encode() if isinstance(value, str) else value
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@dataclass
class Result:
    image_id: str | None
    messages: list[dict] = field(default_factory=list)
    error: Exception | None = None

    @property
    def output(self) -> str:
        return "".join(m.get("stream", "") for m in self.messages)


def build(engine: BuildEngine, files: dict, **kwargs) -> Result:
    """Build; an error is returned in the Result, not raised."""
    messages: list[dict] = []
    try:
        image_id = engine.builder.build(tar_of(files), on_message=messages.append, **kwargs)
    except Exception as err:  # noqa: BLE001
        return Result(None, messages, err)
    return Result(image_id, messages)


@dataclass
class Entry:
    """A file in an image: its type ("file", "dir", "link"), content or target, owner, mode."""

    kind: str
    data: bytes | str | None
    uid: int
    gid: int
    mode: int


def read_tree(engine: BuildEngine, image_id: str, paths: list[str]) -> dict[str, Entry | None]:
    """What `paths` are in the image (None: absent), read through a read-only view."""
    from dockyard.snapshots.mount import mount_all, unmount_all

    image = engine.images.get(image_id)
    out: dict[str, Entry | None] = {}
    target = tempfile.mkdtemp(prefix="dyb-view-")
    key = f"test-view-{uuid.uuid4().hex}"
    try:
        if image.chain_id is not None:
            mount_all(engine.snapshots.view(key, image.chain_id), target)
        try:
            for path in paths:
                full = os.path.join(target, path.lstrip("/"))
                try:
                    st = os.lstat(full)
                except FileNotFoundError:
                    out[path] = None
                    continue
                mode = st.st_mode & 0o7777
                if os.path.islink(full):
                    out[path] = Entry("link", os.readlink(full), st.st_uid, st.st_gid, mode)
                elif os.path.isdir(full):
                    out[path] = Entry("dir", None, st.st_uid, st.st_gid, mode)
                else:
                    with open(full, "rb") as f:
                        out[path] = Entry("file", f.read(), st.st_uid, st.st_gid, mode)
        finally:
            if image.chain_id is not None:
                unmount_all(target)
    finally:
        if engine.snapshots.exists(key):
            engine.snapshots.remove(key)
        os.rmdir(target)
    return out
