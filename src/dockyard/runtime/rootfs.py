"""The container's root filesystem: mounts, /dev, pivot_root, masked and read-only paths.

Runs in the container's init after it entered its new mount namespace, in runc's order:
root propagation, bind of the rootfs onto itself, the spec's mounts, default devices and /dev
links, (hooks, console), pivot_root, then read-only root, sysctls, read-only and masked paths.

Nothing here joins a path string under the rootfs: every path of the container is resolved
inside its root by dockyard.linux.pathrs (symlinks cannot lead out), and every mount is made
onto the descriptor that resolution returned (move_mount of a detached tree, or mount(2) on
/proc/self/fd/N), so a path swapped between the check and the use (CVE-2021-30465) cannot
redirect it. A rootfs whose /dev or /proc is a symlink is refused.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from dockyard.linux import pathrs
from dockyard.linux import syscalls as lsc
from dockyard.runtime import mountdest
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


# mount(2) flags -> mount_setattr(2) attributes (a bind's flags are set on the detached tree)
_MS_TO_ATTR = [
    (sc.MS_RDONLY, lsc.MOUNT_ATTR_RDONLY),
    (sc.MS_NOSUID, lsc.MOUNT_ATTR_NOSUID),
    (sc.MS_NODEV, lsc.MOUNT_ATTR_NODEV),
    (sc.MS_NOEXEC, lsc.MOUNT_ATTR_NOEXEC),
    (sc.MS_NODIRATIME, lsc.MOUNT_ATTR_NODIRATIME),
    (sc.MS_NOSYMFOLLOW, lsc.MOUNT_ATTR_NOSYMFOLLOW),
]
_MS_ATIME = [
    (sc.MS_NOATIME, lsc.MOUNT_ATTR_NOATIME),
    (sc.MS_STRICTATIME, lsc.MOUNT_ATTR_STRICTATIME),
    (sc.MS_RELATIME, lsc.MOUNT_ATTR_RELATIME),
]


def mount_attrs(flags: int) -> tuple[int, int]:
    """(attributes to set, attributes to clear) for the mount(2) `flags` of a bind."""
    attr_set = sum(attr for ms, attr in _MS_TO_ATTR if flags & ms)
    attr_clr = 0
    for ms, attr in _MS_ATIME:
        if flags & ms:
            attr_set |= attr
            attr_clr |= lsc.MOUNT_ATTR__ATIME
            break
    return attr_set, attr_clr


def _existing_flags(path: str) -> int:
    f_flag = os.statvfs(path).f_flag
    return sum(ms for st, ms in _ST_TO_MS if f_flag & st)


def prepare_root(rootfs: str, propagation: str | None) -> int:
    """Cut the container's mount tree from the host's events, make rootfs a mount point and
    return an O_PATH descriptor of it, after refusing a /dev or /proc that is a symlink."""
    flag = PROPAGATION_FLAGS.get(propagation or "", sc.MS_SLAVE | sc.MS_REC)
    sc.mount(None, "/", None, flag)
    if flag & sc.MS_SHARED:
        # pivot_root refuses a shared parent mount: make the mount holding rootfs private.
        sc.mount(None, _mount_point_of(os.path.dirname(rootfs)), None, sc.MS_PRIVATE)
    sc.mount(rootfs, rootfs, "bind", sc.MS_BIND | sc.MS_REC)
    root_fd = pathrs.open_root(rootfs)
    try:
        for name in ("dev", "proc"):
            os.close(pathrs.require_directory_entry(root_fd, name))
    except BaseException:
        os.close(root_fd)
        raise
    return root_fd


def _mount_point_of(path: str) -> str:
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best = mp
    return best


def _top_level(dest: str) -> str | None:
    parts = [p for p in dest.split("/") if p not in ("", ".")]
    return parts[0] if len(parts) == 1 and parts[0] in ("dev", "proc") else None


def mount_target(root_fd: int, dest: str, directory: bool) -> int:
    """An O_PATH descriptor of the mount point `dest` inside the root, made when missing (a
    directory, or an empty file for a file bind) and checked to be of that kind."""
    top = _top_level(dest)
    if top is not None:  # /dev, /proc: a real directory of the rootfs, never a symlink
        fd = pathrs.require_directory_entry(root_fd, top)
    elif directory:
        fd = pathrs.mkdir_all_in_root(root_fd, dest)
    else:
        for _ in range(16):
            try:
                fd = pathrs.open_in_root(root_fd, dest, os.O_PATH)
                break
            except FileNotFoundError:
                pass
            parent, name = pathrs.open_parent_in_root(root_fd, dest, mkdir=True)
            try:
                os.close(
                    os.open(
                        name,
                        os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                        0o644,
                        dir_fd=parent,
                    )
                )
            except FileExistsError:
                pass
            finally:
                os.close(parent)
        else:
            raise OSError(errno.EAGAIN, f"mount point {dest} keeps changing")
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode) != directory or stat.S_ISLNK(mode):
        os.close(fd)
        kind = "a directory" if directory else "a file"
        raise OSError(errno.ENOTDIR, f"mount point {dest} in the container is not {kind}")
    return fd


def mount_entry(
    root_fd: int,
    bundle: str,
    m: dict[str, Any],
    cgroup_dirs: list[tuple[str, str]],
    unified: bool,
) -> None:
    """Mount one entry of config.json's `mounts` inside the root `root_fd`."""
    options = list(m.get("options") or [])
    flags, propagation, data = parse_options(options)
    kind = m.get("type") or ""
    dest = m["destination"]
    source = m.get("source") or kind
    if kind == "bind" or flags & sc.MS_BIND:
        if not source.startswith("/"):
            source = os.path.join(bundle, source)
        try:  # the source is opened once; the mount is made from that descriptor
            tree = pathrs.clone_tree(source, recursive=bool(flags & sc.MS_REC))
        except FileNotFoundError:
            raise OSError(errno.ENOENT, f"bind mount source {source} does not exist") from None
        try:
            target = mount_target(root_fd, dest, stat.S_ISDIR(os.fstat(tree).st_mode))
            try:
                # where the mount point really is, after the image's symlinks (runc's check)
                mountdest.check_resolved(root_fd, target, "bind", source)
                attr_set, attr_clr = mount_attrs(flags & ~(sc.MS_BIND | sc.MS_REC))
                pathrs.set_attrs(tree, attr_set, attr_clr)
                if "rro" in options:
                    pathrs.set_attrs(tree, lsc.MOUNT_ATTR_RDONLY, recursive=True)
                pathrs.attach(tree, target, dest)
            finally:
                os.close(target)
            for p in propagation:
                pathrs.mount_on_fd(tree, None, None, p, None, f"propagation of {dest}")
        finally:
            os.close(tree)
        return
    if kind in ("proc", "sysfs"):
        _refuse_symlink_mount_point(root_fd, dest, kind)
    target = mount_target(root_fd, dest, directory=True)
    try:
        mountdest.check_resolved(root_fd, target, kind, source)
        if kind == "cgroup":
            _mount_cgroup(root_fd, target, dest, flags, data, cgroup_dirs, unified)
        else:
            pathrs.mount_on_fd(target, source, kind, flags, data or None, f"{kind} on {dest}")
    finally:
        os.close(target)
    if propagation:
        mounted = pathrs.open_in_root(root_fd, dest, os.O_PATH | os.O_DIRECTORY)
        try:
            for p in propagation:
                pathrs.mount_on_fd(mounted, None, None, p, None, f"propagation of {dest}")
        finally:
            os.close(mounted)


def _refuse_symlink_mount_point(root_fd: int, dest: str, kind: str) -> None:
    """runc: proc and sysfs only go on an ordinary directory (a symlink there was the way of
    several escapes)."""
    try:
        fd = pathrs.open_in_root(root_fd, dest, os.O_PATH | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise pathrs.UnsafeRoot(
                errno.ENOTDIR, f"filesystem {kind!r} must be mounted on ordinary directory"
            )
    finally:
        os.close(fd)


def _mount_cgroup(
    root_fd: int,
    target: int,
    dest: str,
    flags: int,
    data: str,
    cgroup_dirs: list[tuple[str, str]],
    unified: bool,
) -> None:
    """cgroup v2: mount cgroup2. v1: a tmpfs holding a bind of the container's own directory
    in every hierarchy, as runc does (read-only when the mount says ro)."""
    if unified:
        pathrs.mount_on_fd(target, "cgroup", "cgroup2", flags, data or None, f"cgroup2 on {dest}")
        return
    pathrs.mount_on_fd(
        target, "tmpfs", "tmpfs", flags & ~sc.MS_RDONLY, "mode=755", f"tmpfs on {dest}"
    )
    top = pathrs.open_in_root(root_fd, dest, os.O_PATH | os.O_DIRECTORY)  # the new tmpfs
    try:
        if lsc.fs_type(top) != lsc.TMPFS_MAGIC:
            raise OSError(errno.EXDEV, f"{dest}: the cgroup tmpfs is not where it was mounted")
        attr_set, attr_clr = mount_attrs(flags & ~(sc.MS_BIND | sc.MS_REC))
        for name, host_dir in cgroup_dirs:
            try:
                os.mkdir(name, 0o755, dir_fd=top)
            except FileExistsError:
                pass
            sub = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=top)
            try:
                tree = pathrs.bind_fd(
                    host_dir,
                    sub,
                    f"{dest}/{name}",
                    recursive=True,
                    attr_set=attr_set,
                    attr_clr=attr_clr,
                )
                os.close(tree)
            finally:
                os.close(sub)
            if "," in name:  # co-mounted controllers: cpu -> cpu,cpuacct
                for part in name.split(","):
                    try:
                        os.symlink(name, part, dir_fd=top)
                    except FileExistsError:
                        pass
    finally:
        os.close(top)


def dev_is_tmpfs(mounts: list[dict[str, Any]]) -> bool:
    """runc sets up /dev unless /dev comes from a bind mount."""
    for m in mounts:
        if os.path.normpath(m["destination"]) == "/dev":
            return m.get("type") != "bind" and "bind" not in (m.get("options") or [])
    return False


_DEVICE_KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create_devices(root_fd: int, devices: list[dict[str, Any]], defaults: bool) -> None:
    """mknod the default devices and those of linux.devices at the descriptor of their
    directory inside the root (bind the host's device on EPERM)."""
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
            kind = _DEVICE_KINDS.get(d.get("type", "c"))
            if kind is None:
                raise OSError(errno.EINVAL, f"device {d['path']}: unknown type {d.get('type')}")
            parent, name = pathrs.open_parent_in_root(root_fd, d["path"], mkdir=True)
            try:
                _make_device(parent, name, d, kind)
            finally:
                os.close(parent)
    finally:
        os.umask(old)


def _make_device(parent: int, name: str, d: dict[str, Any], kind: int) -> None:
    mode = d.get("fileMode", 0o666) & 0o7777
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass
    try:
        os.mknod(name, kind | mode, os.makedev(d.get("major", 0), d.get("minor", 0)), dir_fd=parent)
    except PermissionError:
        flags = os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        os.close(os.open(name, flags, 0o644, dir_fd=parent))
        target = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            if not stat.S_ISREG(os.fstat(target).st_mode):
                raise OSError(errno.EEXIST, f"device {d['path']}: changed while made") from None
            os.close(pathrs.bind_fd(d["path"], target, d["path"]))
        finally:
            os.close(target)
        return
    os.chown(name, d.get("uid", 0), d.get("gid", 0), dir_fd=parent, follow_symlinks=False)


def create_dev_symlinks(root_fd: int) -> None:
    """/dev/fd, /dev/std*, /dev/core and /dev/ptmx, made at the descriptor of /dev, which
    must be a real directory of the container (an image's /dev symlink is refused)."""
    links = list(DEV_SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    dev = pathrs.require_directory_entry(root_fd, "dev")
    try:
        for target, link in links:
            try:
                os.symlink(target, link[len("/dev/") :], dir_fd=dev)
            except FileExistsError:
                pass
        try:
            os.unlink("ptmx", dir_fd=dev)
        except FileNotFoundError:
            pass
        os.symlink("pts/ptmx", "ptmx", dir_fd=dev)
    finally:
        os.close(dev)


def pivot_root(root_fd: int) -> None:
    """pivot_root(".", ".") and lazily detach the old root, as runc does: no directory for
    the old root is needed and no fd to the host's tree survives."""
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(root_fd)
        sc.pivot_root(".", ".")
        os.fchdir(old)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old)
        os.close(root_fd)


def remount_readonly(path: str) -> None:
    sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _existing_flags(path))


def readonly_paths(paths: list[str]) -> None:
    """Bind each path (resolved inside the container's root) onto itself read-only, its
    submounts too; a missing path is skipped."""
    root = pathrs.open_root("/")
    try:
        for path in paths:
            try:
                target = pathrs.open_in_root(root, path, os.O_PATH)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                tree = pathrs.bind_fd(
                    target,
                    target,
                    path,
                    recursive=True,
                    attr_set=lsc.MOUNT_ATTR_RDONLY,
                    attrs_recursive=True,
                )
                os.close(tree)
            finally:
                os.close(target)
    finally:
        os.close(root)


def mask_paths(paths: list[str]) -> None:
    """Hide each path: the container's /dev/null over a file, after checking that it is the
    1:3 character device (CVE-2025-31133: a /dev/null swapped for a symlink would bind
    something else there), and a read-only empty tmpfs over a directory. As in runc, the
    check is made once, before anything is masked, and a missing path is skipped."""
    if not paths:
        return
    root = pathrs.open_root("/")
    try:
        null = _container_dev_null(root)
        try:
            for path in dict.fromkeys(paths):
                _mask_one(root, null, path)
        finally:
            os.close(null)
    finally:
        os.close(root)


def _mask_one(root: int, null: int, path: str) -> None:
    try:
        target = pathrs.open_in_root(root, path, os.O_PATH)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        if not stat.S_ISDIR(os.fstat(target).st_mode):
            try:
                os.close(pathrs.bind_fd(null, target, path))
            except OSError as e:  # e.g. the checked /dev/null was unlinked meanwhile
                raise OSError(
                    e.errno, f"can't mask paths: binding /dev/null onto {path}: {e.strerror}"
                ) from None
            return
        pathrs.mount_on_fd(target, "tmpfs", "tmpfs", sc.MS_RDONLY, None, f"mask {path}")
    finally:
        os.close(target)


def _container_dev_null(root: int) -> int:
    try:
        null = pathrs.open_in_root(root, "/dev/null", os.O_PATH)
    except OSError as e:
        raise OSError(e.errno, f"can't mask paths: /dev/null: {e.strerror}") from None
    if not pathrs.is_char_device(null, 1, 3):
        os.close(null)
        raise pathrs.UnsafeRoot(
            errno.EPERM,
            "can't mask paths: container's /dev/null is invalid (not the 1:3 character device)",
        )
    return null


def write_sysctl(key: str, value: str) -> None:
    """Write /proc/sys/<key> of the container (after pivot_root), resolved inside its root
    and checked to be on a procfs."""
    path = "/proc/sys/" + key.replace(".", "/")
    root = pathrs.open_root("/")
    try:
        fd = pathrs.open_in_root(root, path, os.O_WRONLY | os.O_TRUNC)
    finally:
        os.close(root)
    try:
        if lsc.fs_type(fd) != lsc.PROC_SUPER_MAGIC:
            raise OSError(errno.EXDEV, f"sysctl {key}: {path} is not on a procfs")
        os.write(fd, value.encode())
    finally:
        os.close(fd)
