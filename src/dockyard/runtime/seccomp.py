"""Seccomp: compile the OCI spec's `linux.seccomp` section with libseccomp and load it.

`compile_filter(spec)` does the heavy work (syscall name resolution, rule building, BPF
generation by libseccomp) and may run before fork; `Filter.load()` is a single seccomp(2) call
installing the ready BPF program, so it suits a forked child right before exec. `load(spec)`
does both. libseccomp 2.x is called through ctypes. As runc does, the filter does not set
no_new_privs itself (the caller decides), syscall names unknown to this libseccomp are skipped,
and a rule whose action equals the default action is left out.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import functools
import json
import os
import struct
from typing import Any

from dockyard.errors import InvalidParameter, SystemError_

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
        self.syscall_resolve_name_arch = lib.seccomp_syscall_resolve_name_arch
        self.syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
        self.syscall_resolve_name_arch.restype = ctypes.c_int
        self.arch_native = lib.seccomp_arch_native
        self.arch_native.argtypes = []
        self.arch_native.restype = ctypes.c_uint32
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
        if self.flags == 0:
            rc = _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, prog, 0, 0)
        elif _SYS_SECCOMP is not None:
            rc = _libc.syscall(_SYS_SECCOMP, _SECCOMP_SET_MODE_FILTER, self.flags, prog)
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
    return Filter(_enosys_prologue(lib, spec, default) + bpf, flags)


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


# --- the -ENOSYS prologue ----------------------------------------------------------------------
#
# Like runc, syscalls newer than every syscall the profile names get ENOSYS rather than the
# default errno: a program (glibc) then falls back to an older syscall, as on an older kernel,
# instead of failing with EPERM. A short BPF prologue, run before libseccomp's program (which
# reloads what it needs), compares the syscall number with the largest one the profile knows
# for the caller's architecture.

_AUDIT_ARCH_X86_64 = 0xC000003E
_SCMP_ARCH_X32 = 0x4000003E
_X32_SYSCALL_BIT = 0x40000000
_BPF_LD_W_ABS = 0x20
_BPF_JEQ = 0x15
_BPF_JGT = 0x25
_BPF_JSET = 0x45
_BPF_JA = 0x05
_BPF_RET = 0x06


def _largest_syscalls(lib: _Lib, spec: dict[str, Any]) -> dict[int, dict[str, int]]:
    """{audit arch: {"native"|"x32": largest syscall number the profile names}}."""
    tokens = {lib.arch_native()}
    for arch in spec.get("architectures") or []:
        token = _arch_token(lib, arch)
        tokens.add(token or lib.arch_native())
    names = {
        name.encode()
        for rule in spec.get("syscalls") or []
        for name in (rule.get("names") or ([rule["name"]] if rule.get("name") else []))
    }
    table: dict[int, dict[str, int]] = {}
    for token in tokens:
        numbers = [lib.syscall_resolve_name_arch(token, n) for n in names]
        largest = max((n for n in numbers if n >= 0), default=0)
        if largest:
            audit = _AUDIT_ARCH_X86_64 if token == _SCMP_ARCH_X32 else token
            kind = "x32" if token == _SCMP_ARCH_X32 else "native"
            table.setdefault(audit, {})[kind] = largest
    return table


def _enosys_prologue(lib: _Lib, spec: dict[str, Any], default: int) -> bytes:
    if default in (_ACT_ALLOW, _ACT_LOG) or default & 0xFFFF0000 == _ACT_TRACE:
        return b""
    if spec.get("defaultErrnoRet") == errno_mod.ENOSYS:
        return b""
    table = _largest_syscalls(lib, spec)
    if not table:
        return b""
    # Instructions with symbolic targets: (code, k, jt, jf) where jt/jf/ja-k are labels.
    program: list[tuple] = [("ld", 4)]
    for audit in table:
        program.append(("jeq", audit, f"arch{audit}", None))
    program.append(("ja", "filter"))
    for audit, largest in table.items():
        program.append(("label", f"arch{audit}"))
        program.append(("ld", 0))
        native, x32 = largest.get("native"), largest.get("x32")
        if audit == _AUDIT_ARCH_X86_64:
            # x32 calls share the arch and carry bit 30 in their number
            program.append(("jset", _X32_SYSCALL_BIT, "x32" if x32 else "filter", None))
            if native:
                program.append(("jgt", native, "enosys", "filter"))
            else:
                program.append(("ja", "filter"))
            if x32:
                program.append(("label", "x32"))
                program.append(("jgt", x32, "enosys", "filter"))
        else:
            program.append(("jgt", native, "enosys", "filter"))
    program.append(("label", "enosys"))
    program.append(("ret", _ACT_ERRNO | errno_mod.ENOSYS))
    program.append(("label", "filter"))
    return _assemble(program)


def _assemble(program: list[tuple]) -> bytes:
    """Resolve labels (a label names the next instruction) and encode struct sock_filter."""
    labels: dict[str, int] = {}
    index = 0
    for insn in program:
        if insn[0] == "label":
            labels[insn[1]] = index
        else:
            index += 1
    out = bytearray()
    index = 0
    for insn in program:
        op = insn[0]
        if op == "label":
            continue
        if op == "ld":
            code, k, jt, jf = _BPF_LD_W_ABS, insn[1], 0, 0
        elif op == "ret":
            code, k, jt, jf = _BPF_RET, insn[1], 0, 0
        elif op == "ja":
            code, k, jt, jf = _BPF_JA, labels[insn[1]] - (index + 1), 0, 0
        else:
            code = {"jeq": _BPF_JEQ, "jgt": _BPF_JGT, "jset": _BPF_JSET}[op]
            k = insn[1]
            jt = _relative(labels, insn[2], index)
            jf = _relative(labels, insn[3], index)
        out += struct.pack("=HBBI", code, jt, jf, k)
        index += 1
    return bytes(out)


def _relative(labels: dict[str, int], label: str | None, index: int) -> int:
    """A conditional jump's 8-bit offset from instruction `index` to `label` (None: next)."""
    if label is None:
        return 0
    offset = labels[label] - (index + 1)
    if not 0 <= offset <= 255:
        raise SystemError_("seccomp prologue: jump out of range")
    return offset


def load(seccomp_spec: dict[str, Any]) -> None:
    """Compile the OCI `linux.seccomp` object and install it into the calling process."""
    compile_filter(seccomp_spec).load()
