"""The local volume driver: named and anonymous volumes under DATA_ROOT/volumes.

Each volume is a directory `NAME/` holding `volume.json` (its record) and `_data/` (the
content containers see). `DriverOpts` make a volume a mount instead (type=tmpfs, o=bind with a
device, or any file system with a device), mounted while containers use it and unmounted
when the last one lets go, as Docker's local driver does. The service is synchronous and
thread-safe; the API runs its slow calls in threads.
"""

from __future__ import annotations

import datetime
import os
import re
import secrets
import shutil
import stat
import threading
from collections.abc import Callable
from typing import Any

from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.faults import crash_point
from dockyard.filters import labels_match
from dockyard.fsutil import frees_space, fsync_dir, read_json, write_json
from dockyard.volumes import mounts
from dockyard.volumes.copyup import copy_tree as _copy_tree

LOCAL = "local"
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z", re.ASCII)
_VALID_OPTS = ("type", "device", "o", "size")
_LIST_FILTERS = ("name", "label", "dangling", "driver")
_PRUNE_FILTERS = ("label", "label!", "all")

UsageProbe = Callable[[str], list[str]]


def validate_name(name: str) -> None:
    """Docker's rule for local volume names, with Docker's message (the name quoted as Go's
    %q quotes it: a newline shows as \\n)."""
    if len(name) == 1:
        raise InvalidParameter(
            "volume name is too short, names should be at least two alphanumeric characters"
        )
    if not _NAME_RE.match(name):
        raise InvalidParameter(
            f"{_go_quote(name)} includes invalid characters for a local volume name, only "
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _go_quote(text: str) -> str:
    """Go's strconv.Quote: printable characters as they are, the rest escaped."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _now() -> str:
    """RFC 3339 in local time, seconds precision, `Z` for UTC (Go's time.RFC3339)."""
    stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return stamp[:-6] + "Z" if stamp.endswith("+00:00") else stamp


COPY_UP_MARK = "copy-up.incomplete"  # beside _data while a copy-up fills it
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class VolumeService:
    """Create, list, inspect, remove, prune and mount local volumes."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, mode=0o701, exist_ok=True)
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}
        self._refs: dict[str, set[str]] = {}
        self._copy_locks: dict[str, threading.Lock] = {}  # one copy-up at a time per volume
        self._usage_probe: UsageProbe = lambda name: []
        self._load()

    # -- wiring -----------------------------------------------------------------------------

    def set_usage_probe(self, probe: UsageProbe) -> None:
        """`probe(name)` returns the ids of containers that use the volume (the containers
        service provides it); remove, prune and the dangling filter ask it."""
        self._usage_probe = probe

    def _load(self) -> None:
        for name in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, name, "volume.json")
            if not _NAME_RE.match(name):
                continue
            try:
                self._records[name] = read_json(path)
            except (OSError, ValueError):
                if os.path.isdir(os.path.join(self.root, name, "_data")):
                    # A volume made by hand or whose record was lost: adopt it.
                    self._records[name] = self._new_record(name, {}, {})
                    write_json(path, self._records[name])

    def reconcile(self) -> None:
        """Start-up: drop half-created volumes (a directory without `_data`), and empty the
        volumes whose copy-up a crash cut short: every later mount, with copy-up or without
        (`nocopy`), finds the volume as new, never a part of the image's directory."""
        with self._lock:
            for name in os.listdir(self.root):
                vdir = os.path.join(self.root, name)
                if name.startswith(".tmp-") and os.path.isdir(vdir):
                    shutil.rmtree(vdir, ignore_errors=True)
                elif os.path.exists(os.path.join(vdir, COPY_UP_MARK)):
                    self._forget_copy_up(name)

    def _forget_copy_up(self, name: str) -> None:
        """Empty a volume a copy-up left half filled, then drop its mark."""
        if (self._records.get(name) or {}).get("Options"):
            return  # its files live on what it mounts at use: the next copy-up redoes them
        mp = self._mountpoint(name)
        fd = os.open(mp, _DIR_FLAGS)
        try:
            _empty_dir(fd)
        finally:
            os.close(fd)
        os.unlink(os.path.join(self.root, name, COPY_UP_MARK))
        fsync_dir(os.path.join(self.root, name))

    # -- helpers ----------------------------------------------------------------------------

    def _new_record(self, name: str, labels: dict, options: dict) -> dict[str, Any]:
        return {
            "Name": name,
            "Driver": LOCAL,
            "Labels": dict(labels),
            "Options": dict(options),
            "CreatedAt": _now(),
        }

    def _mountpoint(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def _view(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {
            "CreatedAt": rec["CreatedAt"],
            "Driver": rec["Driver"],
            "Labels": dict(rec.get("Labels") or {}),
            "Mountpoint": self._mountpoint(rec["Name"]),
            "Name": rec["Name"],
            "Options": dict(rec.get("Options") or {}),
            "Scope": "local",
        }

    def _get(self, name: str) -> dict[str, Any]:
        rec = self._records.get(name)
        if rec is None:
            raise NotFound(f"get {name}: no such volume")
        return rec

    # -- the API ----------------------------------------------------------------------------

    def create(
        self,
        name: str | None = None,
        driver: str | None = None,
        driver_opts: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create a volume (or return the existing one of that name), Docker's inspect shape."""
        driver = driver or LOCAL
        if driver != LOCAL:
            raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
        labels = dict(labels or {})
        opts = dict(driver_opts or {})
        for key in opts:
            if key not in _VALID_OPTS:
                raise InvalidParameter(f'invalid option: "{key}"')
        if opts:
            self._check_opts(opts)
        if not name:
            name = secrets.token_hex(32)
            labels[ANONYMOUS_LABEL] = ""
        validate_name(name)
        with self._lock:
            rec = self._records.get(name)
            if rec is not None:
                return self._view(rec)
            rec = self._new_record(name, labels, opts)
            tmp = os.path.join(self.root, f".tmp-{name}")
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(os.path.join(tmp, "_data"), mode=0o755)
            write_json(os.path.join(tmp, "volume.json"), rec)
            crash_point("volume.create.written")
            os.rename(tmp, os.path.join(self.root, name))
            self._records[name] = rec
            return self._view(rec)

    @staticmethod
    def _check_opts(opts: dict[str, str]) -> None:
        fstype = opts.get("type", "")
        o = opts.get("o", "")
        if "size" in opts and fstype != "tmpfs":
            raise InvalidParameter("invalid option: \"size\" is only supported for type 'tmpfs'")
        if fstype == "tmpfs" or (fstype == "" and "size" in opts):
            return
        flags, _ = mounts.parse_options(o)
        if not opts.get("device"):
            raise InvalidParameter('missing required option: "device"')
        if not fstype:
            raise InvalidParameter('missing required option: "type"')
        if flags & mounts.MS_BIND and not os.path.isabs(opts["device"]):
            raise InvalidParameter('invalid option: "device" must be an absolute path for bind')

    def inspect(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self._view(self._get(name))

    def exists(self, name: str) -> bool:
        return name in self._records

    def list(self, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """Volumes matching Docker's filters: name (substring), label, dangling, driver."""
        filters = filters or {}
        for key in filters:
            if key not in _LIST_FILTERS:
                raise InvalidParameter(f"invalid filter '{key}'")
        dangling = _bool_filter(filters, "dangling")
        out = []
        with self._lock:
            records = list(self._records.values())
        for rec in records:
            if "name" in filters and not any(n in rec["Name"] for n in filters["name"]):
                continue
            if "driver" in filters and rec["Driver"] not in filters["driver"]:
                continue
            if "label" in filters and not labels_match(rec.get("Labels") or {}, filters["label"]):
                continue
            if dangling is not None and bool(self._usage_probe(rec["Name"])) == dangling:
                continue
            out.append(self._view(rec))
        return out

    @frees_space
    def remove(self, name: str, force: bool = False) -> None:
        """Remove a volume; Conflict while containers use it, NotFound unless force."""
        with self._lock:
            rec = self._records.get(name)
            if rec is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = self._usage_probe(name)
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            detached = self._detach(name)
        crash_point("volume.remove.detached")
        _rmtree(detached)

    def _detach(self, name: str) -> str:
        """Forget the volume and move its directory aside (call with the lock held); returns
        the moved directory, for the caller to delete once the lock is released."""
        vdir = os.path.join(self.root, name)
        mp = self._mountpoint(name)
        if mounts.is_mountpoint(mp):
            mounts.unmount(mp)
        self._refs.pop(name, None)
        tmp = os.path.join(self.root, f".tmp-rm-{name}")
        os.rename(vdir, tmp)
        del self._records[name]
        self._copy_locks.pop(name, None)
        return tmp

    @frees_space
    def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """Remove unused volumes: only anonymous ones unless the filter all=true (API >= 1.42)."""
        filters = filters or {}
        for key in filters:
            if key not in _PRUNE_FILTERS:
                raise InvalidParameter(f"invalid filter '{key}'")
        all_ = bool(_bool_filter(filters, "all"))
        deleted: list[str] = []
        detached: list[str] = []
        with self._lock:
            for name, rec in list(self._records.items()):
                labels = rec.get("Labels") or {}
                if not all_ and ANONYMOUS_LABEL not in labels:
                    continue
                if "label" in filters and not labels_match(labels, filters["label"]):
                    continue
                if "label!" in filters and labels_match(labels, filters["label!"]):
                    continue
                if self._usage_probe(name):
                    continue
                detached.append(self._detach(name))
                deleted.append(name)
        reclaimed = 0
        for path in detached:  # measured and deleted without the lock
            reclaimed += max(_tree_size(os.path.join(path, "_data")), 0)
            _rmtree(path)
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}

    def size(self, name: str) -> int:
        """Bytes used by the volume's files (what `system df` shows); -1 if unknown."""
        return _tree_size(self._mountpoint(name))

    # -- containers use these -------------------------------------------------------------------

    def mount(self, name: str, ref: str) -> str:
        """Make the volume ready for container `ref`; returns the host path to bind."""
        with self._lock:
            rec = self._get(name)
            opts = rec.get("Options") or {}
            mp = self._mountpoint(name)
            refs = self._refs.setdefault(name, set())
            if opts and not refs and not mounts.is_mountpoint(mp):
                self._mount_opts(opts, mp)
            refs.add(ref)
            return mp

    def unmount(self, name: str, ref: str) -> None:
        """Container `ref` no longer uses the volume; the last one out unmounts it."""
        with self._lock:
            rec = self._records.get(name)
            refs = self._refs.get(name)
            if rec is None or refs is None:
                return
            refs.discard(ref)
            if not refs:
                del self._refs[name]
                if rec.get("Options") and mounts.is_mountpoint(self._mountpoint(name)):
                    mounts.unmount(self._mountpoint(name))

    @staticmethod
    def _mount_opts(opts: dict[str, str], mp: str) -> None:
        fstype = opts.get("type", "")
        flags, data = mounts.parse_options(opts.get("o", ""))
        if fstype == "tmpfs" or (not fstype and "size" in opts):
            if "size" in opts:
                data = ",".join(x for x in (data, f"size={opts['size']}") if x)
            mounts.mount("tmpfs", mp, "tmpfs", flags, data)
            return
        device = opts.get("device", "")
        if flags & mounts.MS_BIND:
            mounts.mount(device, mp, "", flags, data)
        else:
            mounts.mount(device, mp, fstype, flags, data)

    def copy_up(self, name: str, source: str | int) -> bool:
        """Fill an empty volume with the content of `source` (files, modes, owners, links), as
        Docker does for a named volume mounted over image content. `source` is a directory,
        or a descriptor of one opened inside a container's root (the caller keeps it).
        Returns True if copied.

        A copy is marked incomplete in the volume's directory (beside _data) until it has
        finished: one that a crash interrupted is emptied and done again, never half kept."""
        mp = self._mountpoint(name)
        marker = os.path.join(self.root, name, COPY_UP_MARK)
        with self._lock:
            self._get(name)
            copy_lock = self._copy_locks.setdefault(name, threading.Lock())
        # The copy runs without the service lock (other volumes stay usable meanwhile); the
        # container being created holds the volume, so it cannot be removed under the copy.
        with copy_lock:
            # both sides by fd (copyup.copy_tree): the source is a container's root, and
            # another container that has the volume may change it while it is filled
            try:
                src = os.open(source, _DIR_FLAGS) if isinstance(source, str) else os.dup(source)
            except OSError:
                return False
            try:
                dst = os.open(mp, _DIR_FLAGS)
                try:
                    if os.path.exists(marker):
                        _empty_dir(dst)  # a copy-up that a crash cut short
                    elif os.listdir(dst):
                        return False
                    write_json(marker, {"Source": "copy-up"})
                    _copy_tree(src, dst)
                    st = os.fstat(src)
                    os.fchown(dst, st.st_uid, st.st_gid)
                    os.fchmod(dst, stat.S_IMODE(st.st_mode))
                    os.fsync(dst)
                    os.unlink(marker)
                    fsync_dir(os.path.dirname(marker))
                finally:
                    os.close(dst)
            finally:
                os.close(src)
            return True


def _empty_dir(dir_fd: int) -> None:
    """Remove everything inside the directory `dir_fd` (by descriptor, never following)."""
    for name in os.listdir(dir_fd):
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)


def _tree_size(mp: str) -> int:
    """Bytes of the files below `mp`, hard links counted once; -1 if it cannot be walked."""
    total = 0
    seen: set[tuple[int, int]] = set()
    try:
        for dirpath, dirnames, filenames in os.walk(mp):
            for fn in filenames + dirnames:
                try:
                    st = os.lstat(os.path.join(dirpath, fn))
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    except OSError:
        return -1
    return total


def _rmtree(path: str) -> None:
    # Never follow a mount out of the volume: unmount anything still below it first.
    try:
        with open("/proc/self/mountinfo") as f:
            below = [
                line.split()[4] for line in f if line.split()[4].startswith(path.rstrip("/") + "/")
            ]
        for mp in sorted(below, key=len, reverse=True):
            mounts.unmount(mp)
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)


def _bool_filter(filters: dict[str, list[str]], key: str) -> bool | None:
    values = filters.get(key)
    if not values:
        return None
    value = values[-1].lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise InvalidParameter(f"invalid filter '{key}={values[-1]}'")
