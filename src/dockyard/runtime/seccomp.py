"""Seccomp: compile the OCI spec's `linux.seccomp` section with libseccomp and load it.

`compile_filter(spec)` does the heavy work (syscall name resolution, rule building, BPF
generation by libseccomp) and may run before fork; `Filter.load()` is a single seccomp(2) call
installing the ready BPF program, so it suits a forked child right before exec. `load(spec)` does both. libseccomp 2.x is called through
ctypes. As runc does, the filter does not set no_new_privs itself (the caller decides), syscall
names unknown to this libseccomp are skipped, and a rule whose action equals the default action
is left out.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import functools
import json
import os
from typing import Any

from dockyard.errors import InvalidParameter

_ACT_KILL_PROCESS = 0x80000000
_ACT_KILL_THREAD = 0x00000000
_ACT_TRAP = 0x00030000
_ACT_ERRNO = 0x00050000
_ACT_TRACE = 0x7FF00000
_ACT_LOG = 0x7FFC0000
_ACT_ALLOW = 0x7FFF0000

_FIXED_ACTIONS = {
    "SCMP_ACT_KILL": _ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": _ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": _ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": _ACT_TRAP,
    "SCMP_ACT_ALLOW": _ACT_ALLOW,
    "SCMP_ACT_LOG": _ACT_LOG,
}

_OPS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

_ATTR_CTL_NNP = 3

# OCI flag -> seccomp(2) SECCOMP_SET_MODE_FILTER flag.
_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
}

_SECCOMP_SET_MODE_FILTER = 1
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SOCK_FILTER_SIZE = 8
_SYS_SECCOMP = {
    "x86_64": 317,
    "aarch64": 277,
    "riscv64": 277,
    "ppc64le": 358,
    "s390x": 348,
    "i686": 354,
    "armv7l": 383,
}.get(os.uname().machine)

_NR_SCMP_ERROR = -1
_MAX_ARGS = 6


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int


class _Lib:
    """The libseccomp entry points we use, with their C signatures."""

    def __init__(self) -> None:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        vp = ctypes.c_void_p
        self.init = lib.seccomp_init
        self.init.argtypes = [ctypes.c_uint32]
        self.init.restype = vp
        self.release = lib.seccomp_release
        self.release.argtypes = [vp]
        self.release.restype = None
        self.arch_add = lib.seccomp_arch_add
        self.arch_add.argtypes = [vp, ctypes.c_uint32]
        self.arch_add.restype = ctypes.c_int
        self.arch_resolve_name = lib.seccomp_arch_resolve_name
        self.arch_resolve_name.argtypes = [ctypes.c_char_p]
        self.arch_resolve_name.restype = ctypes.c_uint32
        self.syscall_resolve_name = lib.seccomp_syscall_resolve_name
        self.syscall_resolve_name.argtypes = [ctypes.c_char_p]
        self.syscall_resolve_name.restype = ctypes.c_int
        self.rule_add_array = lib.seccomp_rule_add_array
        self.rule_add_array.argtypes = [
            vp,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(_ArgCmp),
        ]
        self.rule_add_array.restype = ctypes.c_int
        self.attr_set = lib.seccomp_attr_set
        self.attr_set.argtypes = [vp, ctypes.c_int, ctypes.c_uint32]
        self.attr_set.restype = ctypes.c_int
        self.export_bpf = lib.seccomp_export_bpf
        self.export_bpf.argtypes = [vp, ctypes.c_int]
        self.export_bpf.restype = ctypes.c_int


_lib: _Lib | None = None


def _libseccomp() -> _Lib:
    global _lib
    if _lib is None:
        _lib = _Lib()
    return _lib


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")


def _action(name: str, errno_ret: int | None) -> int:
    """The libseccomp action value of an OCI action name (errno defaults to EPERM, as runc)."""
    if name in _FIXED_ACTIONS:
        return _FIXED_ACTIONS[name]
    if name == "SCMP_ACT_ERRNO":
        return _ACT_ERRNO | ((errno_mod.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        return _ACT_TRACE | ((errno_mod.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if name == "SCMP_ACT_NOTIFY":
        raise InvalidParameter("seccomp action SCMP_ACT_NOTIFY is not supported")
    raise InvalidParameter(f"invalid seccomp action: {name!r}")


def _arch_token(lib: _Lib, name: str) -> int:
    """SCMP_ARCH_X86_64 -> libseccomp's token for "x86_64"."""
    if not name.startswith("SCMP_ARCH_"):
        raise InvalidParameter(f"invalid seccomp architecture: {name!r}")
    short = name[len("SCMP_ARCH_") :].lower()
    if short == "native":
        return 0
    token = lib.arch_resolve_name(short.encode())
    if token == 0:
        raise InvalidParameter(f"invalid seccomp architecture: {name!r}")
    return token


def _conditions(args: list[dict[str, Any]]) -> list[list[_ArgCmp]]:
    """The argument conditions of a rule, as groups each added as one libseccomp rule.

    libseccomp cannot AND two conditions on the same argument; like runc, when an argument
    appears more than once each condition becomes a rule of its own (OR).
    """
    conds: list[_ArgCmp] = []
    seen: set[int] = set()
    repeated = False
    for arg in args:
        index = arg.get("index")
        op = _OPS.get(arg.get("op", ""))
        if not isinstance(index, int) or not 0 <= index < _MAX_ARGS:
            raise InvalidParameter(f"invalid seccomp argument index: {index!r}")
        if op is None:
            raise InvalidParameter(f"invalid seccomp compare operator: {arg.get('op')!r}")
        repeated |= index in seen
        seen.add(index)
        value = int(arg.get("value", 0)) & 0xFFFFFFFFFFFFFFFF
        value_two = int(arg.get("valueTwo", 0)) & 0xFFFFFFFFFFFFFFFF
        conds.append(_ArgCmp(index, op, value, value_two))
    if not conds:
        return [[]]
    if repeated:
        return [[c] for c in conds]
    return [conds]


class Filter:
    """A compiled seccomp filter: the BPF program libseccomp generated, and the load flags.

    Plain bytes, so it survives fork and pickling; `load()` is one seccomp(2) call.
    """

    def __init__(self, bpf: bytes, flags: int) -> None:
        if not bpf or len(bpf) % _SOCK_FILTER_SIZE:
            raise ValueError("invalid BPF program")
        self.bpf = bpf
        self.flags = flags
        self._buffer = ctypes.create_string_buffer(bpf, len(bpf))
        self._prog = _SockFprog(len(bpf) // _SOCK_FILTER_SIZE, ctypes.addressof(self._buffer))

    def load(self) -> None:
        """Install the filter into the calling process (needs no_new_privs or CAP_SYS_ADMIN)."""
        prog = ctypes.byref(self._prog)
        if _SYS_SECCOMP is not None:
            rc = _libc.syscall(_SYS_SECCOMP, _SECCOMP_SET_MODE_FILTER, self.flags, prog)
        elif self.flags == 0:
            rc = _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, prog, 0, 0)
        else:
            raise OSError(errno_mod.ENOSYS, "seccomp(2) number unknown on this machine")
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"loading seccomp filter: {os.strerror(err)}")


def compile_filter(spec: dict[str, Any]) -> Filter:
    """Build the BPF program of the OCI `linux.seccomp` object; raise InvalidParameter for a
    malformed one. Programs are cached by content: containers sharing a profile (Docker's
    default, usually) pay for libseccomp's work once per process."""
    if not isinstance(spec, dict):
        raise InvalidParameter("linux.seccomp must be an object")
    try:
        key = json.dumps(spec, sort_keys=True)
    except (TypeError, ValueError):
        raise InvalidParameter("linux.seccomp is not valid JSON data") from None
    return _compile_cached(key)


@functools.lru_cache(maxsize=32)
def _compile_cached(key: str) -> Filter:
    return _compile(json.loads(key))


def _compile(spec: dict[str, Any]) -> Filter:
    lib = _libseccomp()
    default = _action(spec.get("defaultAction", ""), spec.get("defaultErrnoRet"))
    if spec.get("listenerPath"):
        raise InvalidParameter("seccomp listenerPath is not supported")
    flags = 0
    for flag in spec.get("flags") or []:
        if flag not in _FLAGS:
            raise InvalidParameter(f"seccomp flag {flag!r} is not supported")
        flags |= _FLAGS[flag]
    ctx = lib.init(default)
    if not ctx:
        raise OSError(errno_mod.EINVAL, "seccomp_init failed")
    try:
        _check(lib.attr_set(ctx, _ATTR_CTL_NNP, 0), "seccomp_attr_set(CTL_NNP)")
        for arch in spec.get("architectures") or []:
            rc = lib.arch_add(ctx, _arch_token(lib, arch))
            if rc < 0 and rc != -errno_mod.EEXIST:
                _check(rc, f"seccomp_arch_add({arch})")
        for rule in spec.get("syscalls") or []:
            _add_rule(lib, ctx, rule, default)
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            _check(lib.export_bpf(ctx, fd), "seccomp_export_bpf")
            size = os.lseek(fd, 0, os.SEEK_END)
            bpf = os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        lib.release(ctx)
    return Filter(bpf, flags)


def _add_rule(lib: _Lib, ctx: int, rule: dict[str, Any], default: int) -> None:
    action = _action(rule.get("action", ""), rule.get("errnoRet"))
    if action == default:
        return  # libseccomp refuses rules that repeat the default action; runc skips them
    groups = _conditions(rule.get("args") or [])
    names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
    for name in names:
        nr = lib.syscall_resolve_name(name.encode())
        if nr == _NR_SCMP_ERROR:
            continue  # unknown to this libseccomp: skipped, as runc does
        for group in groups:
            array = (_ArgCmp * len(group))(*group) if group else None
            rc = lib.rule_add_array(ctx, action, nr, len(group), array)
            _check(rc, f"seccomp_rule_add({name})")


def load(seccomp_spec: dict[str, Any]) -> None:
    """Compile the OCI `linux.seccomp` object and install it into the calling process."""
    compile_filter(seccomp_spec).load()
