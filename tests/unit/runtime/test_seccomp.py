"""seccomp: compiling OCI profiles with libseccomp and enforcing them in a forked child.

No root needed: the child sets no_new_privs before loading, as an unprivileged process may.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
from collections.abc import Callable
from importlib import resources

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime import seccomp

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS = 38
ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def in_filtered_child(spec: dict, probe: Callable[[], int]) -> int:
    """Fork; in the child set no_new_privs, load `spec`, run `probe`; return its exit code."""
    flt = seccomp.compile_filter(spec)  # heavy work before fork, as the executor does
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            flt.load()
            code = probe()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def errno_of(call: Callable[[], object]) -> int:
    try:
        call()
    except OSError as e:
        return e.errno or 0
    return 0


def allow_all_but(rules: list[dict]) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES, "syscalls": rules}


def test_mkdir_denied_with_eperm(tmp_path):
    spec = allow_all_but([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])
    target = str(tmp_path / "d")
    assert in_filtered_child(spec, lambda: errno_of(lambda: os.mkdir(target))) == errno.EPERM
    assert not os.path.exists(target)


def test_errno_ret_is_returned():
    spec = allow_all_but(
        [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOTSUP}]
    )
    assert in_filtered_child(spec, lambda: errno_of(os.getcwd)) == errno.ENOTSUP


def test_default_errno_ret_applies_to_default_action():
    # Deny everything except what the child needs to run and exit.
    spec = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.ENOSYS,
        "architectures": ARCHES,
        "syscalls": [
            {
                "names": ["exit", "exit_group", "rt_sigreturn", "write", "getpid"],
                "action": "SCMP_ACT_ALLOW",
            }
        ],
    }

    def probe() -> int:
        os.getpid()  # allowed
        return errno_of(lambda: os.getcwd())

    assert in_filtered_child(spec, probe) == errno.ENOSYS


def test_without_filter_the_probe_succeeds(tmp_path):
    spec = allow_all_but([{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}])
    target = str(tmp_path / "ok")
    assert in_filtered_child(spec, lambda: errno_of(lambda: os.mkdir(target))) == 0
    assert os.path.isdir(target)


def test_arg_filter_like_dockers_personality_rule():
    # Docker allows personality(0), personality(8) and personality(0xffffffff) only.
    spec = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "architectures": ARCHES,
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [arg]}
            for arg in (
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"},
            )
        ]
        + [{"names": ["exit", "exit_group", "rt_sigreturn"], "action": "SCMP_ACT_ALLOW"}],
    }
    personality = _libc.personality
    personality.argtypes = [ctypes.c_ulong]

    def probe() -> int:
        ok = personality(0xFFFFFFFF)  # query: allowed
        refused = personality(0x0040000)  # ADDR_COMPAT_LAYOUT: refused
        err = ctypes.get_errno()
        return 0 if ok >= 0 and refused == -1 and err == errno.EPERM else 1

    assert in_filtered_child(spec, probe) == 0


def test_repeated_argument_conditions_are_or(tmp_path):
    # Two conditions on arg 0: libseccomp cannot AND them, runc adds one rule per condition.
    spec = allow_all_but(
        [
            {
                "names": ["umask"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 5,
                "args": [
                    {"index": 0, "value": 0o077, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 0o070, "op": "SCMP_CMP_EQ"},
                ],
            }
        ]
    )
    umask = _libc.umask
    umask.argtypes = [ctypes.c_uint]

    def probe() -> int:
        # umask cannot fail, so glibc passes the raw -errno of a filtered call through
        a = umask(0o077)
        b = umask(0o070)
        c = umask(0o022)
        return 0 if a == -5 and b == -5 and c >= 0 else 1

    assert in_filtered_child(spec, probe) == 0


def test_masked_eq_operator():
    # Refuse getpriority(which) when which & 0x2 == 0x2 (PRIO_USER=2), allow PRIO_PROCESS=0.
    spec = allow_all_but(
        [
            {
                "names": ["getpriority"],
                "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 2, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}],
            }
        ]
    )

    def probe() -> int:
        first = errno_of(lambda: os.getpriority(os.PRIO_PROCESS, 0))
        second = errno_of(lambda: os.getpriority(os.PRIO_USER, 0))
        return 0 if first == 0 and second == errno.EPERM else 1

    assert in_filtered_child(spec, probe) == 0


def test_unknown_syscall_names_are_skipped(tmp_path):
    spec = allow_all_but(
        [{"names": ["no_such_syscall_xyz", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    )
    target = str(tmp_path / "d")
    assert in_filtered_child(spec, lambda: errno_of(lambda: os.mkdir(target))) == errno.EPERM


def test_kill_process_action():
    spec = allow_all_but([{"names": ["getcwd"], "action": "SCMP_ACT_KILL_PROCESS"}])
    flt = seccomp.compile_filter(spec)
    pid = os.fork()
    if pid == 0:
        try:
            _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            flt.load()
            os.getcwd()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 31  # SIGSYS


def test_seccomp_mode_reported_in_proc_status():
    spec = allow_all_but([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])

    def probe() -> int:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":\t", 1) for line in f if ":\t" in line)
        return int(fields["Seccomp"].strip())

    assert in_filtered_child(spec, probe) == 2


def test_load_without_no_new_privs_needs_privilege():
    flt = seccomp.compile_filter(allow_all_but([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]))
    pid = os.fork()
    if pid == 0:
        code = 97
        try:
            if os.geteuid() == 0:  # give up CAP_SYS_ADMIN
                os.setgid(65534)
                os.setuid(65534)
            flt.load()
            code = 0
        except OSError as e:
            code = e.errno or 98
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == errno.EACCES


def _docker_default_profile_as_oci() -> dict:
    """Docker's default profile with every rule kept (no cap/arch conditions applied)."""
    prof = json.loads(resources.files("dockyard").joinpath("data/seccomp-default.json").read_text())
    return {
        "defaultAction": prof["defaultAction"],
        "defaultErrnoRet": prof.get("defaultErrnoRet"),
        "architectures": ARCHES,
        "syscalls": [
            {k: v for k, v in rule.items() if k in ("names", "action", "args", "errnoRet")}
            for rule in prof["syscalls"]
        ],
    }


def test_docker_default_profile_loads_and_true_runs():
    flt = seccomp.compile_filter(_docker_default_profile_as_oci())
    pid = os.fork()
    if pid == 0:
        try:
            _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            flt.load()
            os.execv("/bin/true", ["true"])
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_load_in_one_call(tmp_path):
    target = str(tmp_path / "d")
    spec = allow_all_but([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            seccomp.load(spec)
            code = errno_of(lambda: os.mkdir(target))
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == errno.EPERM


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"defaultAction": "SCMP_ACT_BOGUS"}, "invalid seccomp action"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["X86"]}, "architecture"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]}, "architec"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_X"]}, "flag"),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 7, "value": 0, "op": "SCMP_CMP_EQ"}],
                    }
                ],
            },
            "index",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_SIMILAR"}],
                    }
                ],
            },
            "operator",
        ),
        ({"defaultAction": "SCMP_ACT_NOTIFY"}, "NOTIFY"),
    ],
)
def test_malformed_profiles_are_refused(spec, fragment):
    with pytest.raises(InvalidParameter, match=fragment):
        seccomp.compile_filter(spec)


def test_flags_are_accepted():
    spec = allow_all_but([{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}])
    spec["flags"] = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    assert in_filtered_child(spec, lambda: errno_of(os.getcwd)) == errno.EPERM


def test_compiled_programs_are_cached_by_content():
    spec = allow_all_but([{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}])
    first = seccomp.compile_filter(spec)
    assert seccomp.compile_filter(json.loads(json.dumps(spec))) is first
    other = allow_all_but([{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}])
    assert seccomp.compile_filter(other).bpf != first.bpf


x86_64_only = pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 numbers")
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def raw_errno(number: int) -> Callable[[], int]:
    def probe() -> int:
        ctypes.set_errno(0)
        rc = _syscall(ctypes.c_long(number), 0, 0, 0)
        return ctypes.get_errno() if rc == -1 else 0

    return probe


@x86_64_only
def test_syscalls_newer_than_the_profile_get_enosys():
    # as runc: beyond the profile's largest syscall, ENOSYS, so glibc falls back
    spec = _docker_default_profile_as_oci()
    assert in_filtered_child(spec, raw_errno(1000)) == errno.ENOSYS
    assert in_filtered_child(spec, raw_errno(0x40000000 + 1000)) == errno.ENOSYS  # x32
    # within the profile's range, a syscall it does not allow gets the default errno
    assert in_filtered_child(spec, raw_errno(250)) == errno.EPERM  # keyctl
    assert in_filtered_child(spec, raw_errno(0x40000000 + 250)) == errno.EPERM


@x86_64_only
def test_enosys_prologue_also_spares_a_killing_default():
    spec = {
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "architectures": ARCHES,
        "syscalls": [
            {
                "names": ["exit", "exit_group", "rt_sigreturn", "write", "getpid", "mkdir"],
                "action": "SCMP_ACT_ALLOW",
            }
        ],
    }
    assert in_filtered_child(spec, raw_errno(1000)) == errno.ENOSYS
    flt = seccomp.compile_filter(spec)
    pid = os.fork()
    if pid == 0:
        try:
            _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            flt.load()
            _syscall(ctypes.c_long(79), 0, 0)  # getcwd (79) is below mkdir (83): killed
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 31
