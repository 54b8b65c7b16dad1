"""The spec generator: config.json as Docker 28 would write it, for a range of run options."""

from __future__ import annotations

import json
import os

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime import capabilities as caps
from dockyard.runtime import spec as specmod
from dockyard.runtime.spec import generate

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMAGE = {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "IMG=1"],
    "Cmd": ["sh"],
}
DOCKER_CAPS = [
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

# What the docker CLI 28 sends for a plain `docker run busybox` (zero values everywhere).
CLI_DEFAULT_HOST_CONFIG = {
    "Binds": None,
    "ContainerIDFile": "",
    "LogConfig": {"Type": "", "Config": {}},
    "NetworkMode": "bridge",
    "PortBindings": {},
    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False,
    "VolumeDriver": "",
    "VolumesFrom": None,
    "ConsoleSize": [40, 120],
    "CapAdd": None,
    "CapDrop": None,
    "CgroupnsMode": "",
    "Dns": [],
    "DnsOptions": [],
    "DnsSearch": [],
    "ExtraHosts": None,
    "GroupAdd": None,
    "IpcMode": "",
    "Cgroup": "",
    "Links": None,
    "OomScoreAdj": 0,
    "PidMode": "",
    "Privileged": False,
    "PublishAllPorts": False,
    "ReadonlyRootfs": False,
    "SecurityOpt": None,
    "UTSMode": "",
    "UsernsMode": "",
    "ShmSize": 0,
    "Isolation": "",
    "CpuShares": 0,
    "Memory": 0,
    "NanoCpus": 0,
    "CgroupParent": "",
    "BlkioWeight": 0,
    "BlkioWeightDevice": [],
    "BlkioDeviceReadBps": [],
    "BlkioDeviceWriteBps": [],
    "BlkioDeviceReadIOps": [],
    "BlkioDeviceWriteIOps": [],
    "CpuPeriod": 0,
    "CpuQuota": 0,
    "CpuRealtimePeriod": 0,
    "CpuRealtimeRuntime": 0,
    "CpusetCpus": "",
    "CpusetMems": "",
    "Devices": [],
    "DeviceCgroupRules": None,
    "DeviceRequests": None,
    "MemoryReservation": 0,
    "MemorySwap": 0,
    "MemorySwappiness": None,
    "OomKillDisable": None,
    "PidsLimit": None,
    "Ulimits": [],
    "CpuCount": 0,
    "CpuPercent": 0,
    "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0,
    "MaskedPaths": None,
    "ReadonlyPaths": None,
    "Init": None,
}


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
    )
    (root / "etc" / "group").write_text(
        "root:x:0:\nwheel:x:10:root\nusers:x:100:app\napp:x:1000:\naudio:x:29:\n"
    )
    return str(root)


def gen(rootfs, config=None, host_config=None, image=IMAGE, **kw):
    hc = dict(CLI_DEFAULT_HOST_CONFIG)
    hc.update(host_config or {})
    kw.setdefault("container_id", "c0ffee")
    kw.setdefault("hostname", "c0ffee")
    kw.setdefault("cgroups_path", "/dockyard/c0ffee")
    return generate(image, dict(config or {}), hc, rootfs=rootfs, **kw)


def mount(spec, dest):
    found = [m for m in spec["mounts"] if m["destination"] == dest]
    return found[0] if found else None


def seccomp_names(spec) -> set[str]:
    return {n for rule in spec["linux"]["seccomp"]["syscalls"] for n in rule["names"]}


# --- Docker's defaults ----------------------------------------------------------------------


def test_defaults_match_docker(rootfs):
    s = gen(rootfs)
    assert s["ociVersion"].startswith("1.")
    assert s["root"] == {"path": rootfs, "readonly": False}
    assert s["hostname"] == "c0ffee"
    p = s["process"]
    assert p["args"] == ["sh"]
    assert p["cwd"] == "/"
    assert p["terminal"] is False
    assert p["user"] == {"uid": 0, "gid": 0, "additionalGids": [0, 10]}
    assert p["env"] == [DEFAULT_PATH, "HOSTNAME=c0ffee", "IMG=1"]
    assert p["capabilities"] == {
        "bounding": DOCKER_CAPS,
        "effective": DOCKER_CAPS,
        "permitted": DOCKER_CAPS,
    }
    assert "inheritable" not in p["capabilities"] and "ambient" not in p["capabilities"]
    assert caps.caps_mask(p["capabilities"]["effective"]) == 0xA80425FB
    assert p["oomScoreAdj"] == 0
    assert "noNewPrivileges" not in p
    assert "rlimits" not in p
    linux = s["linux"]
    assert linux["cgroupsPath"] == "/dockyard/c0ffee"
    assert linux["devices"] == []
    assert linux["readonlyPaths"] == [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    for path in (
        "/proc/asound",
        "/proc/acpi",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ):
        assert path in linux["maskedPaths"]
    ns = [n["type"] for n in linux["namespaces"]]
    expected_ns = ["mount", "network", "uts", "pid", "ipc"]
    if specmod.cgroup_unified():
        expected_ns.append("cgroup")
    assert ns == expected_ns
    assert linux["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
    allowed = {(r["major"], r["minor"]) for r in linux["resources"]["devices"] if r.get("allow")}
    assert allowed == {(1, 3), (1, 5), (1, 8), (1, 9), (5, 0), (5, 1)}
    assert linux["resources"]["memory"] == {"disableOOMKiller": False}
    assert "cpu" not in linux["resources"] and "pids" not in linux["resources"]


def test_default_mounts_match_docker(rootfs):
    s = gen(rootfs)
    assert [m["destination"] for m in s["mounts"]] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/mqueue",
        "/dev/shm",
    ]
    assert mount(s, "/dev/pts")["options"] == [
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
        "gid=5",
    ]
    assert "ro" in mount(s, "/sys")["options"]
    assert "ro" in mount(s, "/sys/fs/cgroup")["options"]
    assert mount(s, "/dev/shm")["options"] == [
        "nosuid",
        "noexec",
        "nodev",
        "mode=1777",
        "size=67108864",
    ]
    assert mount(s, "/dev")["options"] == ["nosuid", "strictatime", "mode=755", "size=65536k"]


def test_default_seccomp_follows_caps_and_arch(rootfs):
    s = gen(rootfs)
    sec = s["linux"]["seccomp"]
    assert sec["defaultAction"] == "SCMP_ACT_ERRNO"
    assert sec["defaultErrnoRet"] == 1
    if os.uname().machine == "x86_64":
        assert sec["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        assert "arch_prctl" in seccomp_names(s)
    names = seccomp_names(s)
    assert {"read", "write", "execve", "clone", "personality"} <= names
    # rules conditioned on caps the container lacks are left out
    for absent in ("mount", "umount2", "reboot", "unshare", "setns", "keyctl", "bpf", "syslog"):
        assert absent not in names
    assert "chroot" in names  # CAP_SYS_CHROOT is a default capability
    # clone is restricted by flags (no new namespaces) without CAP_SYS_ADMIN, clone3 -> ENOSYS
    clone_rules = [r for r in sec["syscalls"] if "clone" in r["names"]]
    assert clone_rules and all(r.get("args") for r in clone_rules)
    clone3 = [r for r in sec["syscalls"] if "clone3" in r["names"]]
    assert clone3 == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    for rule in sec["syscalls"]:
        assert set(rule) <= {"names", "action", "errnoRet", "args"}


def test_default_seccomp_compiles_with_libseccomp(rootfs):
    from dockyard.runtime import seccomp

    seccomp.compile_filter(gen(rootfs)["linux"]["seccomp"])
    seccomp.compile_filter(gen(rootfs, host_config={"CapAdd": ["ALL"]})["linux"]["seccomp"])


def test_default_sysctls_follow_network_mode(rootfs):
    s = gen(rootfs)
    if os.path.exists("/proc/sys/net/ipv4/ip_unprivileged_port_start"):
        assert s["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"] == "0"
    if os.path.exists("/proc/sys/net/ipv4/ping_group_range"):
        assert s["linux"]["sysctl"]["net.ipv4.ping_group_range"] == "0 2147483647"
    host = gen(rootfs, host_config={"NetworkMode": "host"})
    assert host["linux"]["sysctl"] == {}
    assert "network" not in [n["type"] for n in host["linux"]["namespaces"]]


# --- capabilities -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "add, drop, expected",
    [
        (["NET_ADMIN"], None, DOCKER_CAPS + ["CAP_NET_ADMIN"]),
        (
            ["cap_sys_time"],
            ["MKNOD", "cap_chown"],
            [c for c in DOCKER_CAPS if c not in ("CAP_MKNOD", "CAP_CHOWN")] + ["CAP_SYS_TIME"],
        ),
        (None, ["ALL"], []),
        (["KILL"], ["ALL"], ["CAP_KILL"]),
        (["ALL"], ["NET_ADMIN"], [c for c in caps.supported_caps() if c != "CAP_NET_ADMIN"]),
        (["ALL"], None, caps.supported_caps()),
    ],
)
def test_cap_add_drop(rootfs, add, drop, expected):
    s = gen(rootfs, host_config={"CapAdd": add, "CapDrop": drop})
    c = s["process"]["capabilities"]
    assert c["bounding"] == c["effective"] == c["permitted"] == expected


def test_cap_add_sys_admin_opens_seccomp_rules(rootfs):
    s = gen(rootfs, host_config={"CapAdd": ["SYS_ADMIN"]})
    names = seccomp_names(s)
    assert {"mount", "umount2", "unshare", "setns"} <= names
    clone_rules = [r for r in s["linux"]["seccomp"]["syscalls"] if "clone" in r["names"]]
    assert any(not r.get("args") for r in clone_rules)


def test_unknown_capability(rootfs):
    with pytest.raises(InvalidParameter, match='unknown capability: "CAP_FLY"'):
        gen(rootfs, host_config={"CapAdd": ["fly"]})


# --- privileged, read-only, security options -------------------------------------------------


def test_privileged(rootfs):
    s = gen(rootfs, host_config={"Privileged": True})
    c = s["process"]["capabilities"]
    assert c["bounding"] == caps.supported_caps() == c["effective"]
    assert "seccomp" not in s["linux"]
    assert "maskedPaths" not in s["linux"] and "readonlyPaths" not in s["linux"]
    assert "ro" not in mount(s, "/sys")["options"]
    assert "ro" not in mount(s, "/sys/fs/cgroup")["options"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    paths = {d["path"] for d in s["linux"]["devices"]}
    assert "/dev/null" in paths and "/dev/console" not in paths
    if not specmod.cgroup_unified():
        assert "cgroup" not in [n["type"] for n in s["linux"]["namespaces"]]


def test_privileged_with_custom_profile_keeps_it(rootfs):
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}],
    }
    s = gen(
        rootfs, host_config={"Privileged": True, "SecurityOpt": ["seccomp=" + json.dumps(profile)]}
    )
    assert s["linux"]["seccomp"]["syscalls"] == [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]


def test_readonly_rootfs(rootfs):
    s = gen(
        rootfs,
        host_config={"ReadonlyRootfs": True, "Tmpfs": {"/run": "size=1m"}},
        extra_mounts=[
            {"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind"]}
        ],
    )
    assert s["root"]["readonly"] is True
    assert "ro" in mount(s, "/sys/fs/cgroup")["options"]
    for dest in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/run", "/data"):
        assert "ro" not in mount(s, dest)["options"], dest


@pytest.mark.parametrize(
    "opts, nnp, has_seccomp",
    [
        (["seccomp=unconfined"], False, False),
        (["seccomp:unconfined"], False, False),
        (["no-new-privileges"], True, True),
        (["no-new-privileges=true"], True, True),
        (["no-new-privileges:false"], False, True),
        (["seccomp=builtin", "apparmor=unconfined", "label=disable"], False, True),
    ],
)
def test_security_opts(rootfs, opts, nnp, has_seccomp):
    s = gen(rootfs, host_config={"SecurityOpt": opts})
    assert s["process"].get("noNewPrivileges", False) is nnp
    assert ("seccomp" in s["linux"]) is has_seccomp


@pytest.mark.parametrize(
    "opt, message",
    [
        ("bogus", 'invalid --security-opt 1: "bogus"'),
        ("foo=bar", 'invalid --security-opt 2: "foo=bar"'),
        ("no-new-privileges=maybe", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
        ("seccomp={not json", "Decoding seccomp profile failed"),
    ],
)
def test_bad_security_opts(rootfs, opt, message):
    with pytest.raises(InvalidParameter) as e:
        gen(rootfs, host_config={"SecurityOpt": [opt]})
    assert message in str(e.value)


def test_custom_seccomp_profile_with_conditions(rootfs):
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {
                "names": ["mount"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"caps": ["CAP_SYS_ADMIN"]},
            },
            {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_KILL"]}},
            {"name": "write", "action": "SCMP_ACT_ALLOW"},
            {"names": ["old"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
            {"names": ["new"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "2.6"}},
        ],
    }
    s = gen(rootfs, host_config={"SecurityOpt": ["seccomp=" + json.dumps(profile)]})
    assert s["linux"]["seccomp"] == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
        ],
    }


# --- resources ------------------------------------------------------------------------------


def test_nano_cpus(rootfs):
    s = gen(rootfs, host_config={"NanoCpus": 1_500_000_000})
    assert s["linux"]["resources"]["cpu"] == {"period": 100000, "quota": 150000}


def test_cpu_options(rootfs):
    s = gen(
        rootfs,
        host_config={
            "CpuShares": 512,
            "CpuPeriod": 50000,
            "CpuQuota": 25000,
            "CpusetCpus": "0",
            "CpusetMems": "0",
        },
    )
    assert s["linux"]["resources"]["cpu"] == {
        "shares": 512,
        "period": 50000,
        "quota": 25000,
        "cpus": "0",
        "mems": "0",
    }


@pytest.mark.parametrize(
    "memory, swap, expected",
    [
        (64 << 20, 0, {"limit": 64 << 20, "swap": 128 << 20}),  # swap unset: twice memory
        (64 << 20, -1, {"limit": 64 << 20}),  # -1: unlimited swap
        (64 << 20, 100 << 20, {"limit": 64 << 20, "swap": 100 << 20}),
        (32 << 20, 32 << 20, {"limit": 32 << 20, "swap": 32 << 20}),  # no swap at all
    ],
)
def test_memory_and_swap(rootfs, memory, swap, expected):
    s = gen(rootfs, host_config={"Memory": memory, "MemorySwap": swap})
    assert s["linux"]["resources"]["memory"] == dict(expected, disableOOMKiller=False)


def test_memory_extras_and_pids(rootfs):
    s = gen(
        rootfs,
        host_config={
            "Memory": 64 << 20,
            "MemoryReservation": 32 << 20,
            "MemorySwappiness": 10,
            "OomKillDisable": True,
            "PidsLimit": 100,
        },
    )
    mem = s["linux"]["resources"]["memory"]
    assert mem["reservation"] == 32 << 20 and mem["swappiness"] == 10
    assert mem["disableOOMKiller"] is True
    assert s["linux"]["resources"]["pids"] == {"limit": 100}
    assert gen(rootfs, host_config={"PidsLimit": 0})["linux"]["resources"]["pids"] == {"limit": -1}


@pytest.mark.parametrize(
    "hc, message",
    [
        ({"Memory": 1 << 20}, "Minimum memory limit allowed is 6MB"),
        ({"Memory": 64 << 20, "MemorySwap": 32 << 20}, "Minimum memoryswap limit"),
        ({"MemorySwap": 32 << 20}, "You should always set the Memory limit"),
        ({"MemorySwappiness": 101}, "valid memory swappiness range is 0-100"),
        ({"NanoCpus": 10**9, "CpuQuota": 50000}, "Nano CPUs and CPU Quota"),
        ({"NanoCpus": 10**9, "CpuPeriod": 50000}, "Nano CPUs and CPU Period"),
        ({"NanoCpus": 10**15}, "range of CPUs is from 0.01 to"),
        ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms"),
        ({"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms"),
        ({"CpuShares": -2}, "invalid CPU shares (-2)"),
        ({"OomScoreAdj": 1001}, "range for oom score adj is [-1000, 1000]"),
        ({"ShmSize": -1}, "SHM size can not be less than 0"),
        ({"IpcMode": "weird"}, "invalid IPC mode: weird"),
        ({"PidMode": "container:"}, "invalid PID mode: container:"),
        ({"UTSMode": "private"}, "invalid UTS mode: private"),
        ({"CgroupnsMode": "shared"}, "invalid cgroup namespace mode: shared"),
        ({"Tmpfs": {"run": ""}}, "mount path must be absolute"),
        ({"Tmpfs": {"/run": "bogus"}}, 'invalid tmpfs option ["bogus"]'),
        ({"Ulimits": [{"Name": "nofiles", "Soft": 1, "Hard": 1}]}, "invalid ulimit type"),
        ({"Ulimits": [{"Name": "nofile", "Soft": 2, "Hard": 1}]}, "soft limit must be less"),
        ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
        (
            {"Memory": "64m"},
            "cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory",
        ),
        ({"PidsLimit": 1.5}, "HostConfig.PidsLimit"),
        ({"DeviceCgroupRules": ["x 1:2 r"]}, "invalid device cgroup format 'x 1:2 r'"),
        (
            {
                "Devices": [
                    {
                        "PathOnHost": "/proc/version",
                        "PathInContainer": "/dev/x",
                        "CgroupPermissions": "rwm",
                    }
                ]
            },
            "not a device node",
        ),
    ],
)
def test_docker_checks(rootfs, hc, message):
    with pytest.raises(InvalidParameter) as e:
        gen(rootfs, host_config=hc)
    assert message in str(e.value)


@pytest.mark.parametrize(
    "hc, field",
    [
        ({"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1}]}, "BlkioDeviceReadBps"),
        ({"BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 10}]}, "BlkioWeightDevice"),
        ({"CpuCount": 2}, "CpuCount"),
        ({"CpuPercent": 50}, "CpuPercent"),
        ({"KernelMemoryTCP": 1 << 20}, "KernelMemoryTCP"),
        ({"Cgroup": "container:x"}, "Cgroup"),
        ({"UsernsMode": "private"}, "USER mode"),
        ({"Runtime": "kata"}, "runtime"),
        ({"Isolation": "hyperv"}, "isolation"),
        ({"StorageOpt": {"size": "1G"}}, "storage-opt"),
        ({"IOMaximumIOps": 5}, "Maximum IO"),
        ({"DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]}, "gpu"),
        ({"Init": True}, "Init"),
    ],
)
def test_unsupported_fields_are_named(rootfs, hc, field):
    with pytest.raises(InvalidParameter) as e:
        gen(rootfs, host_config=hc)
    assert field in str(e.value)


def test_cli_zero_values_are_accepted(rootfs):
    # the zero values of every field the CLI and SDK send must not trip the checks
    gen(rootfs, host_config=CLI_DEFAULT_HOST_CONFIG)
    gen(rootfs, host_config={k: None for k in CLI_DEFAULT_HOST_CONFIG})
    gen(
        rootfs,
        host_config={
            "KernelMemory": 0,
            "KernelMemoryTCP": 0,
            "StorageOpt": {},
            "Runtime": "runc",
            "Isolation": "default",
            "MemorySwappiness": -1,
            "Annotations": {},
        },
    )


# --- ulimits, sysctls, oom, tmpfs, groups ---------------------------------------------------


def test_ulimits_sysctls_oom(rootfs):
    s = gen(
        rootfs,
        host_config={
            "Ulimits": [
                {"Name": "nofile", "Soft": 1024, "Hard": 2048},
                {"Name": "nproc", "Soft": -1, "Hard": -1},
            ],
            "Sysctls": {"net.core.somaxconn": "1024", "net.ipv4.ip_unprivileged_port_start": "80"},
            "OomScoreAdj": 500,
        },
        config={"Domainname": "example.org"},
    )
    assert s["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048},
        {"type": "RLIMIT_NPROC", "soft": 2**64 - 1, "hard": 2**64 - 1},
    ]
    sysctl = s["linux"]["sysctl"]
    assert sysctl["net.core.somaxconn"] == "1024"
    assert sysctl["net.ipv4.ip_unprivileged_port_start"] == "80"  # HostConfig wins
    assert sysctl["kernel.domainname"] == "example.org"
    assert s["process"]["oomScoreAdj"] == 500


def test_tmpfs_mounts(rootfs):
    s = gen(rootfs, host_config={"Tmpfs": {"/run": "", "/tmp/x": "exec,size=10m,mode=1770"}})
    assert mount(s, "/run") == {
        "destination": "/run",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["noexec", "nosuid", "nodev", "rprivate"],
    }
    assert mount(s, "/tmp/x")["options"] == [
        "nosuid",
        "nodev",
        "rprivate",
        "exec",
        "size=10m",
        "mode=1770",
    ]


def test_user_mount_replaces_default_and_dev(rootfs):
    s = gen(
        rootfs,
        extra_mounts=[
            {"destination": "/dev/shm", "type": "bind", "source": "/tmp", "options": ["rbind"]},
            {"destination": "/a/b/c", "type": "bind", "source": "/tmp", "options": ["rbind"]},
            {"destination": "/a", "type": "bind", "source": "/tmp", "options": ["rbind"]},
        ],
    )
    assert mount(s, "/dev/shm")["type"] == "bind"
    dests = [m["destination"] for m in s["mounts"]]
    assert dests.count("/dev/shm") == 1
    assert dests.index("/a") < dests.index("/a/b/c")  # sorted by depth, as Docker does
    s = gen(
        rootfs,
        extra_mounts=[
            {"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]}
        ],
    )
    assert [d for d in (m["destination"] for m in s["mounts"]) if d.startswith("/dev")] == ["/dev"]


def test_ipc_modes(rootfs):
    none = gen(rootfs, host_config={"IpcMode": "none"})
    assert mount(none, "/dev/shm") is None
    host = gen(rootfs, host_config={"IpcMode": "host"})
    assert "ipc" not in [n["type"] for n in host["linux"]["namespaces"]]
    assert mount(host, "/dev/shm")["source"] == "/dev/shm"
    joined = gen(rootfs, host_config={"IpcMode": "container:abc"}, ipc_ns_path="/proc/9/ns/ipc")
    assert {"type": "ipc", "path": "/proc/9/ns/ipc"} in joined["linux"]["namespaces"]
    assert mount(joined, "/dev/shm") == {
        "destination": "/dev/shm",
        "type": "bind",
        "source": "/proc/9/root/dev/shm",
        "options": ["rbind", "rprivate"],
    }
    given = gen(
        rootfs,
        host_config={"IpcMode": "container:abc"},
        ipc_ns_path="/run/x/ipc",
        shm_source="/var/lib/dockyard/containers/abc/shm",
    )
    assert mount(given, "/dev/shm")["source"] == "/var/lib/dockyard/containers/abc/shm"
    with pytest.raises(InvalidParameter):
        gen(rootfs, host_config={"IpcMode": "container:abc"})
    with pytest.raises(InvalidParameter, match="/dev/shm"):
        gen(rootfs, host_config={"IpcMode": "container:abc"}, ipc_ns_path="/run/x/ipc")
    sized = gen(rootfs, host_config={"ShmSize": 1 << 20})
    assert mount(sized, "/dev/shm")["options"][-1] == "size=1048576"


def test_pid_uts_cgroup_and_network_namespaces(rootfs):
    s = gen(
        rootfs,
        host_config={"PidMode": "host", "UTSMode": "host", "CgroupnsMode": "private"},
        netns_path="/run/netns/x",
    )
    ns = s["linux"]["namespaces"]
    assert {"type": "network", "path": "/run/netns/x"} in ns
    types = [n["type"] for n in ns]
    assert "pid" not in types and "uts" not in types and "cgroup" in types
    assert s["hostname"] == ""
    joined = gen(rootfs, host_config={"PidMode": "container:x"}, pid_ns_path="/proc/7/ns/pid")
    assert {"type": "pid", "path": "/proc/7/ns/pid"} in joined["linux"]["namespaces"]
    disabled = gen(rootfs, config={"NetworkDisabled": True}, netns_path="/run/netns/x")
    assert {"type": "network"} in disabled["linux"]["namespaces"]


def test_group_add_and_user(rootfs):
    s = gen(rootfs, config={"User": "app"}, host_config={"GroupAdd": ["audio", "4242"]})
    assert s["process"]["user"] == {
        "uid": 1000,
        "gid": 1000,
        "additionalGids": [1000, 100, 29, 4242],
    }
    s = gen(rootfs, image=dict(IMAGE, User="1000:29"))
    assert s["process"]["user"] == {"uid": 1000, "gid": 29, "additionalGids": [29]}
    with pytest.raises(InvalidParameter, match="unable to find user nobody2"):
        gen(rootfs, config={"User": "nobody2"})


def test_init(rootfs):
    s = gen(rootfs, host_config={"Init": True}, init_path="/usr/bin/tini")
    assert s["process"]["args"] == ["/sbin/docker-init", "--", "sh"]
    assert mount(s, "/sbin/docker-init") == {
        "destination": "/sbin/docker-init",
        "type": "bind",
        "source": "/usr/bin/tini",
        "options": ["bind", "ro"],
    }
    s = gen(rootfs, host_config={"Init": True, "PidMode": "host"})
    assert s["process"]["args"] == ["sh"]


def test_devices(rootfs):
    s = gen(
        rootfs,
        host_config={
            "Devices": [
                {
                    "PathOnHost": "/dev/null",
                    "PathInContainer": "/dev/mynull",
                    "CgroupPermissions": "rw",
                }
            ],
            "DeviceCgroupRules": ["c 42:* rmw", "a *:* m"],
        },
    )
    assert s["linux"]["devices"][0]["path"] == "/dev/mynull"
    assert (s["linux"]["devices"][0]["major"], s["linux"]["devices"][0]["minor"]) == (1, 3)
    rules = s["linux"]["resources"]["devices"]
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"} in rules
    assert {"allow": True, "type": "c", "major": 42, "access": "rmw"} in rules
    assert {"allow": True, "type": "a", "access": "m"} in rules


def test_masked_and_readonly_paths_override(rootfs):
    s = gen(rootfs, host_config={"MaskedPaths": [], "ReadonlyPaths": ["/proc/sys"]})
    assert s["linux"]["maskedPaths"] == [] and s["linux"]["readonlyPaths"] == ["/proc/sys"]


def test_linked_env(rootfs):
    s = gen(
        rootfs,
        config={"Env": ["DB_PORT=override"]},
        linked_env=["DB_PORT=tcp://172.17.0.2:5432", "DB_NAME=/web/db"],
    )
    assert s["process"]["env"][2:] == ["DB_PORT=override", "DB_NAME=/web/db", "IMG=1"]


def test_tty_and_console_size(rootfs):
    s = gen(rootfs, config={"Tty": True, "Env": ["TERM=vt100"]})
    assert s["process"]["terminal"] is True
    assert s["process"]["consoleSize"] == {"height": 40, "width": 120}
    assert "TERM=vt100" in s["process"]["env"] and "TERM=xterm" not in s["process"]["env"]
    s = gen(rootfs, config={"Tty": True})
    assert s["process"]["env"][:3] == [DEFAULT_PATH, "HOSTNAME=c0ffee", "TERM=xterm"]


def test_working_dir_is_created_inside_rootfs(rootfs, tmp_path):
    s = gen(rootfs, config={"WorkingDir": "/srv/app/../app"})
    assert s["process"]["cwd"] == "/srv/app"
    assert os.path.isdir(os.path.join(rootfs, "srv/app"))
    os.symlink("/nonexistent-host-dir-xyz", os.path.join(rootfs, "escape"))
    gen(rootfs, config={"WorkingDir": "/escape/inner"})
    assert not os.path.exists("/nonexistent-host-dir-xyz")
    assert os.path.isdir(os.path.join(rootfs, "nonexistent-host-dir-xyz/inner"))
    with open(os.path.join(rootfs, "file"), "w"):
        pass
    with pytest.raises(InvalidParameter, match="is not a directory"):
        gen(rootfs, config={"WorkingDir": "/file"})
    with pytest.raises(InvalidParameter, match="needs to be an absolute path"):
        gen(rootfs, config={"WorkingDir": "relative"})


def test_annotations_and_default_cgroups_path(rootfs):
    s = gen(rootfs, host_config={"Annotations": {"a": "b"}}, cgroups_path="")
    assert s["annotations"] == {"a": "b"}
    assert s["linux"]["cgroupsPath"] == "/dockyard/c0ffee"


# --- env, entrypoint and cmd precedence -----------------------------------------------------


@pytest.mark.parametrize(
    "image, config, args",
    [
        ({"Cmd": ["sh"]}, {}, ["sh"]),
        ({"Cmd": ["sh"]}, {"Cmd": ["id"]}, ["id"]),
        ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, {}, ["/ep", "a"]),
        ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, {"Cmd": ["b"]}, ["/ep", "b"]),
        # an Entrypoint in Config drops the image's Cmd
        ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, {"Entrypoint": ["/x"]}, ["/x"]),
        ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, {"Entrypoint": ["/x"], "Cmd": ["c"]}, ["/x", "c"]),
        # --entrypoint "" clears the image's entrypoint (and its Cmd), keeps a given Cmd
        ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, {"Entrypoint": [""], "Cmd": ["c"]}, ["c"]),
        # an empty, non-null Entrypoint keeps the image's Cmd but not its Entrypoint
        ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, {"Entrypoint": []}, ["a"]),
    ],
)
def test_entrypoint_cmd_precedence(rootfs, image, config, args):
    assert gen(rootfs, image=image, config=config)["process"]["args"] == args


def test_no_command(rootfs):
    with pytest.raises(InvalidParameter, match="no command specified"):
        gen(rootfs, image={"Entrypoint": ["/ep"], "Cmd": ["a"]}, config={"Entrypoint": [""]})
    with pytest.raises(InvalidParameter, match="no command specified"):
        gen(rootfs, image={})


def test_env_precedence(rootfs):
    image = {"Env": ["PATH=/img/bin", "A=image", "B=image"], "Cmd": ["sh"]}
    s = gen(
        rootfs,
        image=image,
        config={"Env": ["B=user", "C=user", "HOSTNAME=mine", "A"]},
        hostname="h1",
    )
    # PATH from the image replaces the default in place; user values win over the image's;
    # a bare name removes the variable
    assert s["process"]["env"] == ["PATH=/img/bin", "HOSTNAME=mine", "B=user", "C=user"]
    s = gen(rootfs, image={"Cmd": ["sh"]}, config={}, hostname="h2")
    assert s["process"]["env"] == [DEFAULT_PATH, "HOSTNAME=h2"]


def test_already_merged_config(rootfs):
    merged = specmod.merge_config(IMAGE, {"Entrypoint": [""], "Cmd": ["id"]})
    s = gen(rootfs, image=None, config=merged)
    assert s["process"]["args"] == ["id"]
    assert "IMG=1" in s["process"]["env"]
    # a merge that kept Entrypoint [""] still means "no entrypoint"
    s = gen(rootfs, image=None, config={"Entrypoint": [""], "Cmd": ["id"]})
    assert s["process"]["args"] == ["id"]


def test_adapt_host_config_defaults():
    hc = specmod.adapt_host_config({"Memory": 100 << 20})
    assert hc["MemorySwap"] == 200 << 20
    assert hc["ShmSize"] == 64 << 20
    assert hc["IpcMode"] == "private"
    assert hc["CgroupnsMode"] == ("private" if specmod.cgroup_unified() else "host")
    assert hc["OomKillDisable"] is False
    assert specmod.adapt_host_config(hc) == hc  # idempotent
