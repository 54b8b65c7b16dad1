"""Resolving paths inside a root directory and acting on what they resolve to by descriptor.

The model is runc's libpathrs. A path given "inside a root" (a container's rootfs, an image's
layer) is resolved as if the root were `/`: absolute symlinks start again at the root, `..`
never climbs above it, and magic links of /proc (`/proc/self/fd/N`, `/proc/<pid>/exe`, ...)
are refused (ELOOP). The result is a file descriptor, never a host path string, so nothing
can be swapped between the resolution and its use: mounts are made onto the descriptor
(`move_mount` of a detached tree, or `/proc/self/fd/N`), and files are made with the *at
calls at the descriptor of their parent directory.

The kernel does the work when it has openat2(2) (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
otherwise a walk opens one component at a time with O_NOFOLLOW and resolves symlinks itself,
inside the root, at most MAX_SYMLINKS of them.
"""

from __future__ import annotations

import errno
import os
import stat

from dockyard.linux import syscalls as sc

MAX_SYMLINKS = 40
_RESOLVE = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
_NOFOLLOW_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_RETRIES = 1024

# None: not probed yet. Tests set it to False to exercise the walk.
use_openat2: bool | None = None


class UnsafeRoot(OSError):
    """A root file system the runtime refuses to set up (its /dev or /proc is a symlink)."""

    def __str__(self) -> str:
        return str(self.strerror)


def _error(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def have_openat2() -> bool:
    """Whether the kernel has openat2(2) with RESOLVE_IN_ROOT (probed once)."""
    global use_openat2
    if use_openat2 is None:
        try:
            os.close(sc.openat2(sc.AT_FDCWD, "/", os.O_PATH, 0, _RESOLVE))
            use_openat2 = True
        except OSError as e:
            if e.errno not in (errno.ENOSYS, errno.E2BIG, errno.EINVAL, errno.EPERM):
                raise
            use_openat2 = False
    return use_openat2


def open_root(path: str) -> int:
    """An O_PATH descriptor of a root directory given by a trusted (host) path."""
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH, mode: int = 0o644) -> int:
    """Open `path` resolved inside the root `root_fd` with open(2) `flags` (O_CLOEXEC is
    added). A trailing symlink is followed (inside the root) unless flags has O_NOFOLLOW;
    O_CREAT creates the file inside the root, also through a dangling symlink."""
    if have_openat2():
        for _ in range(_MAX_RETRIES):
            try:
                return sc.openat2(root_fd, path or ".", flags, mode, _RESOLVE)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EINTR):  # a rename raced with ".."
                    continue
                raise _error(e.errno, path) from None
        raise _error(errno.EAGAIN, path)
    return _walk(root_fd, path, flags, mode, None)


def mkdir_all_in_root(root_fd: int, path: str, mode: int = 0o755) -> int:
    """Make the directory `path` and its missing parents inside the root (following symlinks
    inside it, as `mkdir -p` in a chroot would) and return an O_PATH descriptor of it.
    ENOTDIR when a component exists and is not a directory."""
    if have_openat2():
        try:
            return open_in_root(root_fd, path, os.O_PATH | os.O_DIRECTORY)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
    return _walk(root_fd, path, os.O_PATH | os.O_DIRECTORY, 0, mode)


def split_parent(path: str) -> tuple[str, str]:
    """(parent, name) of a path whose last component is a plain name."""
    parts = path.rstrip("/").rsplit("/", 1)
    parent, name = ("", parts[0]) if len(parts) == 1 else (parts[0] or "/", parts[1])
    if name in ("", ".", ".."):
        raise _error(errno.EINVAL, path)
    return parent or ".", name


def open_parent_in_root(root_fd: int, path: str, mkdir: bool = False) -> tuple[int, str]:
    """(O_PATH descriptor of the parent directory, last component) of `path` inside the root:
    the last component is then handled with *at calls, which never follow it."""
    parent, name = split_parent(path)
    if mkdir:
        return mkdir_all_in_root(root_fd, parent), name
    return open_in_root(root_fd, parent, os.O_PATH | os.O_DIRECTORY), name


_DIR_NOFOLLOW = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_parent_beneath(top: str, path: str) -> tuple[int, str] | None:
    """(descriptor of the directory holding `path` below the trusted directory `top`, the
    last name), with no symlink followed at all on the way: for an image's layer or an
    overlay upper directory, where a link is content to look at, never a way to go (a link
    `/etc -> /host/dir` that a container planted leads nowhere). None when a component is
    missing or is not a real directory. The caller closes the descriptor."""
    parts = _components(path)
    if not parts or parts[-1] == "..":
        return None
    try:
        fd = os.open(top, _DIR_NOFOLLOW)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            if part == "..":
                raise _error(errno.EXDEV, path)  # never above `top`
            nxt = os.open(part, _DIR_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except OSError:
        os.close(fd)
        return None
    return fd, parts[-1]


def lstat_beneath(top: str, path: str) -> os.stat_result | None:
    """lstat of `path` below `top` without following any symlink (see open_parent_beneath);
    None when it is not there that way."""
    opened = open_parent_beneath(top, path)
    if opened is None:
        return None
    fd, name = opened
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_link_step(link_fd: int, path: str, hops: int) -> tuple[str, int]:
    """One symlink met on a walk: its target and the hops so far; closes `link_fd`. A magic
    link, or one link too many, is ELOOP for `path`."""
    try:
        target = os.readlink("", dir_fd=link_fd)
        magic = _is_magic_link(link_fd, target)
    finally:
        os.close(link_fd)
    hops += 1
    if magic or hops > MAX_SYMLINKS:
        raise _error(errno.ELOOP, path)
    return target, hops


def _is_magic_link(link_fd: int, target: str) -> bool:
    """A /proc link the kernel follows to an object rather than by its text (fd/N, exe,
    cwd, root, ns/*, map_files/*): their text is absolute or names no file (`pipe:[4]`)."""
    if sc.fs_type(link_fd) != sc.PROC_SUPER_MAGIC:
        return False
    return target.startswith("/") or ":" in target


def _walk(root_fd: int, path: str, flags: int, mode: int, mkdir_mode: int | None) -> int:
    """The fallback resolution: one O_NOFOLLOW open per component, symlinks expanded here."""
    parts = _components(path)
    stack: list[int] = []  # descriptors of the directories below the root, in order
    hops = 0
    retries = 0

    def close_all() -> None:
        while stack:
            os.close(stack.pop())

    try:
        while parts:
            name = parts.pop(0)
            if name == "..":
                if stack:
                    os.close(stack.pop())
                continue
            last = not parts
            cur = stack[-1] if stack else root_fd
            try:
                fd = os.open(name, _NOFOLLOW_PATH, dir_fd=cur)
            except FileNotFoundError:
                retries += 1
                if retries > _MAX_RETRIES:
                    raise _error(errno.EAGAIN, path) from None
                if last and flags & os.O_CREAT:
                    try:
                        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=cur)
                    except OSError as e:
                        if e.errno not in (errno.EEXIST, errno.ELOOP) or flags & os.O_EXCL:
                            raise _error(e.errno, path) from None
                        parts.insert(0, name)  # it appeared meanwhile: look again
                        continue
                if mkdir_mode is None:
                    raise _error(errno.ENOENT, path) from None
                try:
                    os.mkdir(name, mkdir_mode, dir_fd=cur)
                except FileExistsError:
                    pass
                parts.insert(0, name)
                continue
            except OSError as e:
                raise _error(e.errno, path) from None
            st_mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(st_mode) and not (last and flags & os.O_NOFOLLOW):
                target, hops = _read_link_step(fd, path, hops)
                if target.startswith("/"):
                    close_all()
                parts = _components(target) + parts
                continue
            if not last:
                if not stat.S_ISDIR(st_mode):
                    os.close(fd)
                    raise _error(errno.ENOTDIR, path)
                stack.append(fd)
                continue
            if (flags & os.O_DIRECTORY or mkdir_mode is not None) and not stat.S_ISDIR(st_mode):
                os.close(fd)
                raise _error(errno.ENOTDIR, path)
            if flags & os.O_PATH:
                return fd
            os.close(fd)
            if flags & os.O_CREAT and flags & os.O_EXCL:
                raise _error(errno.EEXIST, path)
            try:  # the real open, at the same parent and still without following
                return os.open(
                    name, (flags & ~os.O_CREAT) | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur
                )
            except OSError as e:
                retries += 1
                if e.errno in (errno.ELOOP, errno.ENOENT) and retries <= _MAX_RETRIES:
                    parts.insert(0, name)  # swapped since: resolve it again
                    continue
                raise _error(e.errno, path) from None
        cur = stack[-1] if stack else root_fd
        return os.open(".", flags & ~os.O_CREAT | os.O_CLOEXEC, dir_fd=cur)
    finally:
        close_all()


def resolve_path(root_fd: int, path: str) -> str:
    """The path (from "/") that `path` resolves to inside the root, for reporting or for the
    callers that still need a string: symlinks resolved inside the root; components missing
    (or below a non-directory) kept as they are, with ".." after them taken lexically, as
    Docker's filepath-securejoin does. ELOOP past MAX_SYMLINKS links or on a magic link."""
    parts = _components(path)
    names: list[str] = []
    fds: list[int | None] = []  # the directory each name opened, None past a missing one
    hops = 0
    try:
        while parts:
            name = parts.pop(0)
            if name == "..":
                if names:
                    names.pop()
                    fd = fds.pop()
                    if fd is not None:
                        os.close(fd)
                continue
            cur = fds[-1] if fds else root_fd
            if cur is None:
                names.append(name)
                fds.append(None)
                continue
            try:
                fd = os.open(name, _NOFOLLOW_PATH, dir_fd=cur)
            except (FileNotFoundError, NotADirectoryError):
                names.append(name)
                fds.append(None)
                continue
            st_mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(st_mode):
                target, hops = _read_link_step(fd, path, hops)
                if target.startswith("/"):
                    names.clear()
                    for held in fds:
                        if held is not None:
                            os.close(held)
                    fds.clear()
                parts = _components(target) + parts
                continue
            names.append(name)
            if stat.S_ISDIR(st_mode):
                fds.append(fd)
            else:
                os.close(fd)
                fds.append(None)
        return "/" + "/".join(names)
    finally:
        for held in fds:
            if held is not None:
                os.close(held)


# ---------------------------------------------------------------- checks on descriptors
def is_char_device(fd: int, major: int, minor: int) -> bool:
    st = os.fstat(fd)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(major, minor)


def require_directory_entry(root_fd: int, name: str) -> int:
    """An O_PATH descriptor of the top-level directory `name` of the root (dev, proc),
    refusing a symlink as runc does: following it before pivot_root would act on the host."""
    try:
        fd = os.open(name, _NOFOLLOW_PATH, dir_fd=root_fd)
    except FileNotFoundError:
        os.mkdir(name, 0o755, dir_fd=root_fd)
        fd = os.open(name, _NOFOLLOW_PATH, dir_fd=root_fd)
    st_mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(st_mode):
        return fd
    os.close(fd)
    if stat.S_ISLNK(st_mode):
        raise UnsafeRoot(errno.ELOOP, f"rootfs /{name} cannot be a symlink")
    raise UnsafeRoot(errno.ENOTDIR, f"rootfs /{name} is not a directory")


# ---------------------------------------------------------------- mounts on descriptors
def proc_fd_path(fd: int) -> str:
    """/proc/self/fd/N, after checking that /proc is a procfs: the mount(2) path that the
    kernel follows to exactly the object `fd` holds."""
    proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if sc.fs_type(proc) != sc.PROC_SUPER_MAGIC:
            raise OSError(errno.EXDEV, "/proc is not a procfs: refusing to mount through it")
    finally:
        os.close(proc)
    return f"/proc/self/fd/{fd}"


def mount_on_fd(
    target_fd: int, source: str | None, fstype: str | None, flags: int, data: str | None, what: str
) -> None:
    """mount(2) of a new file system (or a remount / propagation change when flags say so)
    onto the object `target_fd` holds."""
    sc.mount(source, proc_fd_path(target_fd), fstype, flags, data, f"mount {what}")


def clone_tree(source: int | str, recursive: bool) -> int:
    """A detached copy of the mount at `source` (a descriptor, or a trusted host path):
    open_tree(OPEN_TREE_CLONE). Its attributes can be set with set_attrs before attach."""
    rec = sc.AT_RECURSIVE if recursive else 0
    if isinstance(source, int):
        return sc.open_tree(source, "", sc.OPEN_TREE_CLONE | sc.AT_EMPTY_PATH | rec)
    return sc.open_tree(sc.AT_FDCWD, source, sc.OPEN_TREE_CLONE | rec)


def set_attrs(mount_fd: int, attr_set: int, attr_clr: int = 0, recursive: bool = False) -> None:
    if attr_set or attr_clr:
        sc.mount_setattr(mount_fd, attr_set, attr_clr, recursive)


def attach(tree_fd: int, target_fd: int, what: str) -> None:
    """move_mount the detached tree onto the object `target_fd` holds."""
    sc.move_mount(tree_fd, target_fd, what)


def bind_fd(
    source: int | str,
    target_fd: int,
    what: str,
    *,
    recursive: bool = False,
    attr_set: int = 0,
    attr_clr: int = 0,
    attrs_recursive: bool = False,
) -> int:
    """Bind `source` onto `target_fd` with its mount attributes set before it is visible.
    Returns the descriptor of the new mount (the caller closes it)."""
    tree = clone_tree(source, recursive)
    try:
        set_attrs(tree, attr_set, attr_clr, attrs_recursive)
        attach(tree, target_fd, what)
    except BaseException:
        os.close(tree)
        raise
    return tree
