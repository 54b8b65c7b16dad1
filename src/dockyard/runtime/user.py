"""User resolution as Docker does it: a `--user` spec against the image's /etc/passwd and
/etc/group, giving the uid, gid and supplementary gids of the container's process.

The files are read inside the root filesystem: symbolic links are resolved as if the rootfs
were `/`, so no link can lead the lookup to a file of the host.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from dockyard.errors import InvalidParameter
from dockyard.linux import pathrs

_MAX_ID = (1 << 31) - 1
_MAX_FILE = 16 << 20
_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass
class _Passwd:
    name: str = ""
    uid: int = 0
    gid: int = 0


@dataclass
class _Group:
    name: str = ""
    gid: int = 0
    members: list[str] = field(default_factory=list)


def _read_in_root(rootfs: str, path: str) -> str | None:
    """The text of a regular file inside rootfs, or None when it is absent or not regular
    (or a symlink loop). Opened by descriptor inside the root, never by a host path."""
    try:
        root = pathrs.open_root(os.path.realpath(rootfs))
    except OSError:
        return None
    try:
        fd = pathrs.open_in_root(root, path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:  # absent, a loop, a magic link
        return None
    finally:
        os.close(root)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(_MAX_FILE).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _atoi(text: str) -> int:
    """Go's strconv.Atoi with the error ignored, as the passwd parser does: 0 on junk."""
    return int(text) if _INTEGER.fullmatch(text) else 0


def _fields(line: str, count: int) -> list[str]:
    parts = line.split(":")
    return (parts + [""] * count)[:count]


def _parse_passwd(text: str | None) -> list[_Passwd]:
    users = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _pw, uid, gid = _fields(line, 4)
        users.append(_Passwd(name, _atoi(uid), _atoi(gid)))
    return users


def _parse_group(text: str | None) -> list[_Group]:
    groups = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _pw, gid, members = _fields(line, 4)
        groups.append(_Group(name, _atoi(gid), members.split(",") if members else []))
    return groups


def _numeric(value: str) -> int | None:
    """The id a numeric user or group argument names, None for a name; range-checked."""
    if not _INTEGER.fullmatch(value):
        return None
    number = int(value)
    if not 0 <= number <= _MAX_ID:
        raise InvalidParameter(f"uids and gids must be in range 0-{_MAX_ID}")
    return number


def resolve_user(rootfs: str, user: str) -> tuple[int, int, list[int]]:
    """Resolve Docker's `--user` ("", "name", "uid", "name:group", "uid:gid") in the image.

    Returns (uid, gid, supplementary gids); the supplementary gids are those of the groups
    that list the user as a member, and only when no group was given (as Docker does).
    """
    user_arg, group_arg = _fields(user, 2)
    uid_arg = _numeric(user_arg)
    gid_arg = _numeric(group_arg)
    passwd_text = _read_in_root(rootfs, "/etc/passwd")
    group_text = _read_in_root(rootfs, "/etc/group")

    uid, gid, sgids = 0, 0, []
    if not user_arg:
        matches = [u for u in _parse_passwd(passwd_text) if u.uid == 0]
    elif uid_arg is not None:
        matches = [u for u in _parse_passwd(passwd_text) if u.uid == uid_arg]
    else:
        matches = [u for u in _parse_passwd(passwd_text) if u.name == user_arg]
    matched_name = ""
    if matches:
        matched_name, uid, gid = matches[0].name, matches[0].uid, matches[0].gid
    elif user_arg:
        if uid_arg is None:
            raise InvalidParameter(
                f"unable to find user {user_arg}: no matching entries in passwd file"
            )
        uid = uid_arg

    if group_arg:
        groups = _parse_group(group_text)
        if gid_arg is not None:
            found = [g for g in groups if g.gid == gid_arg]
        else:
            found = [g for g in groups if g.name == group_arg]
        if found:
            gid = found[0].gid
        elif gid_arg is None:
            raise InvalidParameter(
                f"unable to find group {group_arg}: no matching entries in group file"
            )
        else:
            gid = gid_arg
    elif matched_name:
        sgids = [g.gid for g in _parse_group(group_text) if matched_name in g.members]
    return uid, gid, sgids


def group_ids(rootfs: str, names_or_ids: list[str]) -> list[int]:
    """The gids of HostConfig.GroupAdd entries: group names from the image's /etc/group, or
    numbers (used as they are when the file lacks them). Order kept, duplicates dropped."""
    groups = _parse_group(_read_in_root(rootfs, "/etc/group")) if names_or_ids else []
    gids: list[int] = []
    for entry in names_or_ids:
        number = _numeric(entry)
        if number is not None:
            match = [g for g in groups if g.gid == number]
        else:
            match = [g for g in groups if g.name == entry]
        if match:
            gid = match[0].gid
            if not 0 <= gid <= _MAX_ID:
                raise InvalidParameter(f"uids and gids must be in range 0-{_MAX_ID}")
        elif number is not None:
            gid = number
        else:
            raise InvalidParameter(
                f"unable to find group {entry}: no matching entries in group file"
            )
        if gid not in gids:
            gids.append(gid)
    return gids
