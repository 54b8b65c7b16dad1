"""The container's root filesystem: mounts, /dev, pivot_root, masked and read-only paths.

Runs in the container's init after it entered its new mount namespace, in runc's order:
root propagation, bind of the rootfs onto itself, the spec's mounts, default devices and /dev
links, (hooks, console), pivot_root, then read-only root, sysctls, read-only and masked paths.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from dockyard.runtime import syscalls as sc

# option -> (clear?, flag)
MOUNT_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, sc.MS_SYNCHRONOUS),
    "atime": (True, sc.MS_NOATIME),
    "bind": (False, sc.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, sc.MS_NODEV),
    "diratime": (True, sc.MS_NODIRATIME),
    "dirsync": (False, sc.MS_DIRSYNC),
    "exec": (True, sc.MS_NOEXEC),
    "mand": (False, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME),
    "nodev": (False, sc.MS_NODEV),
    "nodiratime": (False, sc.MS_NODIRATIME),
    "noexec": (False, sc.MS_NOEXEC),
    "nomand": (True, sc.MS_MANDLOCK),
    "norelatime": (True, sc.MS_RELATIME),
    "nostrictatime": (True, sc.MS_STRICTATIME),
    "nosuid": (False, sc.MS_NOSUID),
    "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME),
    "remount": (False, sc.MS_REMOUNT),
    "ro": (False, sc.MS_RDONLY),
    "rw": (True, sc.MS_RDONLY),
    "strictatime": (False, sc.MS_STRICTATIME),
    "suid": (True, sc.MS_NOSUID),
    "sync": (False, sc.MS_SYNCHRONOUS),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW),
    "symfollow": (True, sc.MS_NOSYMFOLLOW),
    "lazytime": (False, sc.MS_LAZYTIME),
    "nolazytime": (True, sc.MS_LAZYTIME),
}
PROPAGATION_FLAGS: dict[str, int] = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

DEFAULT_DEVICES = [  # path, major, minor
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
]
DEV_SYMLINKS = [
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
]

# statvfs f_flag bits -> mount flags that a bind remount must keep
_ST_TO_MS = [
    (1, sc.MS_RDONLY),
    (2, sc.MS_NOSUID),
    (4, sc.MS_NODEV),
    (8, sc.MS_NOEXEC),
    (1024, sc.MS_NOATIME),
    (2048, sc.MS_NODIRATIME),
    (4096, sc.MS_RELATIME),
]


def parse_options(options: list[str]) -> tuple[int, list[int], str]:
    """Split mount options into flags, propagation flags and the data string. "rro"
    (recursively read-only, as Docker asks for read-only binds) is MS_RDONLY here; the caller
    applies it to the submounts too."""
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    for opt in options:
        if opt == "rro":
            flags |= sc.MS_RDONLY
        elif opt in MOUNT_FLAGS:
            clear, flag = MOUNT_FLAGS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in PROPAGATION_FLAGS:
            propagation.append(PROPAGATION_FLAGS[opt])
        else:
            data.append(opt)
    return flags, propagation, ",".join(data)


def secure_join(root: str, unsafe: str) -> str:
    """Resolve `unsafe` inside `root` as if `root` were "/": symlinks (absolute or with "..")
    never lead out of it. Missing components (and what follows a non-directory) are kept as
    they are, with ".." still taken lexically, as Docker's filepath-securejoin does."""
    parts = [p for p in unsafe.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except OSError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 255:
                raise OSError(errno.ELOOP, f"too many levels of symbolic links: {unsafe}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def _mkdir_all(path: str, mode: int = 0o755) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def _ensure_file(path: str) -> None:
    _mkdir_all(os.path.dirname(path))
    if not os.path.lexists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _existing_flags(path: str) -> int:
    f_flag = os.statvfs(path).f_flag
    return sum(ms for st, ms in _ST_TO_MS if f_flag & st)


def prepare_root(rootfs: str, propagation: str | None) -> None:
    """Cut the container's mount tree from the host's events and make rootfs a mount point."""
    flag = PROPAGATION_FLAGS.get(propagation or "", sc.MS_SLAVE | sc.MS_REC)
    sc.mount(None, "/", None, flag)
    if flag & sc.MS_SHARED:
        # pivot_root refuses a shared parent mount: make the mount holding rootfs private.
        sc.mount(None, _mount_point_of(os.path.dirname(rootfs)), None, sc.MS_PRIVATE)
    sc.mount(rootfs, rootfs, "bind", sc.MS_BIND | sc.MS_REC)


def _mount_point_of(path: str) -> str:
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best = mp
    return best


def mount_entry(
    rootfs: str, bundle: str, m: dict[str, Any], cgroup_dirs: list[tuple[str, str]], unified: bool
) -> None:
    """Mount one entry of config.json's `mounts` under rootfs."""
    options = list(m.get("options") or [])
    flags, propagation, data = parse_options(options)
    kind = m.get("type") or ""
    dest = secure_join(rootfs, m["destination"])
    source = m.get("source") or kind
    if kind == "bind" or flags & sc.MS_BIND:
        if not source.startswith("/"):
            source = os.path.join(bundle, source)
        if not os.path.exists(source):
            raise OSError(errno.ENOENT, f"bind mount source {source} does not exist")
        if os.path.isdir(source):
            _mkdir_all(dest)
        else:
            _ensure_file(dest)
        sc.mount(source, dest, "bind", sc.MS_BIND | (flags & sc.MS_REC))
        extra = flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
        if extra:
            sc.mount(
                None,
                dest,
                None,
                sc.MS_BIND
                | sc.MS_REMOUNT
                | (flags & sc.MS_REC)
                | extra
                | (_existing_flags(dest) & ~sc.MS_RDONLY),
            )
        if "rro" in options:
            sc.mount_setattr_recursive(dest, sc.MOUNT_ATTR_RDONLY)
    elif kind == "cgroup":
        _mount_cgroup(dest, flags, data, cgroup_dirs, unified)
    else:
        _mkdir_all(dest)
        sc.mount(source, dest, kind, flags, data or None)
    for p in propagation:
        sc.mount(None, dest, None, p)


def _mount_cgroup(
    dest: str, flags: int, data: str, cgroup_dirs: list[tuple[str, str]], unified: bool
) -> None:
    """cgroup v2: mount cgroup2. v1: a tmpfs holding a bind of the container's own directory
    in every hierarchy, as runc does (read-only when the mount says ro)."""
    _mkdir_all(dest)
    if unified:
        sc.mount("cgroup", dest, "cgroup2", flags, data or None)
        return
    sc.mount("tmpfs", dest, "tmpfs", flags & ~sc.MS_RDONLY, "mode=755")
    for name, host_dir in cgroup_dirs:
        target = os.path.join(dest, name)
        _mkdir_all(target)
        sc.mount(host_dir, target, "bind", sc.MS_BIND | sc.MS_REC)
        sc.mount(
            None,
            target,
            None,
            sc.MS_BIND | sc.MS_REMOUNT | sc.MS_REC | (flags & ~(sc.MS_BIND | sc.MS_REC)),
        )
        if "," in name:  # co-mounted controllers: cpu -> cpu,cpuacct
            for sub in name.split(","):
                link = os.path.join(dest, sub)
                if not os.path.lexists(link):
                    os.symlink(name, link)


def dev_is_tmpfs(mounts: list[dict[str, Any]]) -> bool:
    """runc sets up /dev unless /dev comes from a bind mount."""
    for m in mounts:
        if os.path.normpath(m["destination"]) == "/dev":
            return m.get("type") != "bind" and "bind" not in (m.get("options") or [])
    return False


def create_devices(rootfs: str, devices: list[dict[str, Any]], defaults: bool) -> None:
    """mknod the default devices and those of linux.devices (bind the host's on EPERM)."""
    wanted: list[dict[str, Any]] = []
    if defaults:
        wanted = [
            {
                "path": p,
                "type": "c",
                "major": ma,
                "minor": mi,
                "fileMode": 0o666,
                "uid": 0,
                "gid": 0,
            }
            for p, ma, mi in DEFAULT_DEVICES
        ]
    paths = {d["path"] for d in devices}
    wanted = [d for d in wanted if d["path"] not in paths] + list(devices)
    old = os.umask(0)
    try:
        for d in wanted:
            dest = secure_join(rootfs, d["path"])
            _mkdir_all(os.path.dirname(dest))
            kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}.get(
                d.get("type", "c")
            )
            if kind is None:
                raise OSError(errno.EINVAL, f"device {d['path']}: unknown type {d.get('type')}")
            mode = d.get("fileMode", 0o666) & 0o7777
            if os.path.lexists(dest):
                os.unlink(dest)
            try:
                os.mknod(dest, kind | mode, os.makedev(d.get("major", 0), d.get("minor", 0)))
            except PermissionError:
                _ensure_file(dest)
                sc.mount(d["path"], dest, "bind", sc.MS_BIND)
                continue
            os.chown(dest, d.get("uid", 0), d.get("gid", 0))
    finally:
        os.umask(old)


def create_dev_symlinks(rootfs: str) -> None:
    links = list(DEV_SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    for target, link in links:
        path = os.path.join(rootfs, link.lstrip("/"))
        if not os.path.lexists(path):
            os.symlink(target, path)
    ptmx = os.path.join(rootfs, "dev/ptmx")
    if os.path.lexists(ptmx):
        os.unlink(ptmx)
    os.symlink("pts/ptmx", ptmx)


def pivot_root(rootfs: str) -> None:
    """pivot_root(".", ".") and lazily detach the old root, as runc does: no directory for
    the old root is needed and no fd to the host's tree survives."""
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new)
        sc.pivot_root(".", ".")
        os.fchdir(old)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def remount_readonly(path: str) -> None:
    sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _existing_flags(path))


def readonly_path(path: str) -> None:
    """Bind `path` onto itself read-only; a missing path is skipped."""
    try:
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise
    sc.mount(
        None,
        path,
        None,
        sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | _existing_flags(path),
    )


def mask_path(path: str) -> None:
    """Hide `path`: /dev/null over a file, an empty read-only tmpfs over a directory."""
    try:
        sc.mount("/dev/null", path, None, sc.MS_BIND)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        if e.errno == errno.ENOTDIR:
            sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
            return
        raise


def write_sysctl(key: str, value: str) -> None:
    path = os.path.join("/proc/sys", key.replace(".", "/"))
    with open(path, "w") as f:
        f.write(value)
