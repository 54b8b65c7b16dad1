"""Linux capabilities: names and numbers, Docker's default set, and the syscalls that set them.

The setters (`drop_bounding`, `set_caps`, `set_ambient`) use ctypes on libc only: they run in a
forked child just before exec, where importing or allocating much is unwelcome.
"""

from __future__ import annotations

import ctypes
import os

from dockyard.errors import InvalidParameter

# Index in this list is the capability number (linux/capability.h).
ALL_CAPS: list[str] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]

_NUMBERS: dict[str, int] = {name: i for i, name in enumerate(ALL_CAPS)}

# moby oci/caps/defaults.go: the capabilities a container gets unless told otherwise.
DOCKER_DEFAULT_CAPS: list[str] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]

_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int
_capset = _libc.capset
_capset.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
_capset.restype = ctypes.c_int


def cap_number(name: str) -> int:
    """The number of a capability named as in the OCI spec ("CAP_NET_ADMIN" -> 12)."""
    try:
        return _NUMBERS[name]
    except KeyError:
        raise InvalidParameter(f'unknown capability: "{name}"') from None


def normalize(name: str) -> str:
    """Docker's spelling of a user-given capability: upper case with the CAP_ prefix.

    "ALL" stays "ALL"; an unknown name raises InvalidParameter as Docker does.
    """
    upper = name.strip().upper()
    if upper == "ALL":
        return "ALL"
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in _NUMBERS:
        raise InvalidParameter(f'unknown capability: "{upper}"')
    return upper


def caps_mask(names: list[str]) -> int:
    """A bit mask with the bit of every named capability set."""
    mask = 0
    for name in names:
        mask |= 1 << cap_number(name)
    return mask


def mask_names(mask: int) -> list[str]:
    """The names of the capabilities whose bits are set in `mask`, by number."""
    return [name for i, name in enumerate(ALL_CAPS) if mask >> i & 1]


def last_cap() -> int:
    """The highest capability number the running kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(ALL_CAPS) - 1


def supported_caps() -> list[str]:
    """Every capability name the running kernel knows (what Docker's "ALL" means)."""
    return ALL_CAPS[: last_cap() + 1]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def drop_bounding(keep_mask: int) -> None:
    """Drop from the bounding set every capability the kernel knows that `keep_mask` lacks."""
    for cap in range(last_cap() + 1):
        if keep_mask >> cap & 1:
            continue
        if _prctl(_PR_CAPBSET_READ, cap, 0, 0, 0) == 0:
            continue  # already gone
        _check(_prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0), f"prctl(PR_CAPBSET_DROP, {cap})")


def set_caps(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's effective, permitted and inheritable sets (capset(2))."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for word in (0, 1):
        shift = 32 * word
        data[word].effective = (effective >> shift) & 0xFFFFFFFF
        data[word].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[word].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_capset(ctypes.byref(header), data), "capset")


def set_ambient(mask: int) -> None:
    """Make the ambient set exactly `mask`: clear it, then raise each capability in it.

    A capability can only be ambient when it is both permitted and inheritable.
    """
    _check(_prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient caps")
    for cap in range(len(ALL_CAPS)):
        if mask >> cap & 1:
            _check(
                _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, cap, 0, 0),
                f"raise ambient cap {ALL_CAPS[cap]}",
            )
