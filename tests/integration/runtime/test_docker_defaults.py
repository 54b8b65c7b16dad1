"""Acceptance 2 of issue 2: a config.json from our spec generator with Docker's defaults, run
under runc and under dockyard-runtime, gives Docker's capability sets and seccomp in filter
mode, and refuses mount, unshare, writes to /proc/sysrq-trigger and /sys, keyctl and reboot.

Safety of the reboot probe: it calls reboot(2) with invalid magic numbers, so even a wholly
unconfined caller gets EINVAL; the container also runs in its own pid namespace (where reboot
could only end the container's init) without CAP_SYS_BOOT, and under seccomp.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import pytest

from dockyard.runtime import capabilities as caps
from dockyard.runtime.spec import generate

DOCKER_DEFAULT_MASK = 0xA80425FB
PROBE_CACHE = "/var/cache/dockyard/probes"

PROBE_SOURCE = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long rc;
    if (argc < 2) return 2;
    if (strcmp(argv[1], "keyctl") == 0)
        rc = syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, 0L);
    else if (strcmp(argv[1], "reboot") == 0)
        rc = syscall(SYS_reboot, 0L, 0L, 0L, 0L); /* invalid magic: never reboots */
    else if (strcmp(argv[1], "nosys") == 0)
        rc = syscall(1000L); /* beyond every syscall: runc's filter answers ENOSYS */
    else
        return 2;
    printf("%s=%s\n", argv[1], rc < 0 ? strerror(errno) : "ok");
    return 0;
}
"""

SCRIPT = r"""
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status \
  | sed 's/:[[:space:]]*/=/'
mount -t tmpfs tmpfs /tmp 2>/dev/null; echo "mount=$?"
unshare -m true 2>/dev/null; echo "unshare_mnt=$?"
unshare -n true 2>/dev/null; echo "unshare_net=$?"
echo "sysrq=$( (echo h > /proc/sysrq-trigger) 2>&1 | sed 's/.*: //')"
echo "sys=$( (touch /sys/dockyard-probe) 2>&1 | sed 's/.*: //')"
echo "procsys=$( (cat /proc/sys/kernel/hostname > /proc/sys/kernel/hostname) 2>&1 \
  | sed 's/.*: //')"
/probe keyctl
/probe reboot
/probe nosys
"""

IMAGE_CONFIG = {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Cmd": ["sh"],
}

# the HostConfig the docker CLI sends for `docker run busybox ...`, zero values omitted
SYSRQ_REFUSAL = (
    "Read-only file system" if os.path.exists("/proc/sysrq-trigger") else "nonexistent directory"
)

CLI_HOST_CONFIG = {
    "NetworkMode": "bridge",
    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "LogConfig": {"Type": "", "Config": {}},
    "ConsoleSize": [0, 0],
    "CgroupnsMode": "",
    "IpcMode": "",
    "PidMode": "",
    "UTSMode": "",
    "ShmSize": 0,
}


@pytest.fixture(scope="module")
def probe_binary() -> str:
    """A static probe for the syscalls busybox has no applet for, cached between runs."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the keyctl/reboot probe")
    digest = hashlib.sha256(PROBE_SOURCE.encode()).hexdigest()[:16]
    path = os.path.join(PROBE_CACHE, f"security-probe-{digest}")
    if not os.path.exists(path):
        os.makedirs(PROBE_CACHE, exist_ok=True)
        src = path + ".c"
        with open(src, "w") as f:
            f.write(PROBE_SOURCE)
        tmp = f"{path}.{os.getpid()}.tmp"
        subprocess.run(["gcc", "-static", "-O2", "-o", tmp, src], check=True)
        os.rename(tmp, path)
    return path


def make_bundle(bundles, probe_binary: str, name: str, host_config: dict) -> str:
    """A bundle whose config.json is our generator's output for `docker run busybox sh -c`."""
    bundle = os.path.join(bundles.base, name)
    rootfs = os.path.join(bundle, "rootfs")
    shutil.copytree(bundles.rootfs, rootfs, symlinks=True)
    shutil.copy(probe_binary, os.path.join(rootfs, "probe"))
    os.chmod(os.path.join(rootfs, "probe"), 0o755)
    hc = dict(CLI_HOST_CONFIG, **host_config)
    spec = generate(
        IMAGE_CONFIG,
        {"Cmd": ["sh", "-c", SCRIPT], "Tty": False},
        hc,
        rootfs=rootfs,
        container_id=name,
        hostname=name[:12],
        cgroups_path=bundles.cgroup_path(name),
    )
    # the safety premises of the reboot probe (see the module docstring)
    assert {"type": "pid"} in spec["linux"]["namespaces"]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f, indent=1)
    return bundle


def parse(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def run_both(bundles, runtime_cli, runc_cli, probe_binary, name, host_config):
    """Run the probe under runc and dockyard-runtime; return both parsed outputs."""
    results = {}
    for runtime, cli in (("runc", runc_cli), ("dockyard", runtime_cli)):
        cid = f"{name}-{runtime}-{bundles.tag}"
        bundle = make_bundle(bundles, probe_binary, cid, host_config)
        r = cli("run", "--bundle", bundle, cid, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"{runtime}: {r.stderr}\n{r.stdout}"
        results[runtime] = parse(r.stdout)
    return results


def test_docker_defaults_are_enforced(bundles, runtime_cli, runc_cli, probe_binary):
    results = run_both(bundles, runtime_cli, runc_cli, probe_binary, "dflt", {})
    for runtime, seen in results.items():
        where = f"under {runtime}"
        assert int(seen["CapEff"], 16) == DOCKER_DEFAULT_MASK, where
        assert int(seen["CapPrm"], 16) == DOCKER_DEFAULT_MASK, where
        assert int(seen["CapBnd"], 16) == DOCKER_DEFAULT_MASK, where
        assert int(seen["CapInh"], 16) == 0, where
        assert int(seen["CapAmb"], 16) == 0, where
        assert seen["Seccomp"] == "2", where
        assert seen["NoNewPrivs"] == "0", where
        assert seen["mount"] != "0", where
        assert seen["unshare_mnt"] != "0", where
        assert seen["unshare_net"] != "0", where
        # a kernel without CONFIG_MAGIC_SYSRQ (as this VM's) has no file to write to
        assert seen["sysrq"] == SYSRQ_REFUSAL, where
        assert seen["procsys"] == "Read-only file system", where
        assert seen["sys"] == "Read-only file system", where
        assert seen["keyctl"] == "Operation not permitted", where
        assert seen["reboot"] == "Operation not permitted", where
        assert seen["nosys"] == "Function not implemented", where
    assert results["dockyard"] == results["runc"]


def test_probe_sees_what_is_allowed(bundles, runtime_cli, runc_cli, probe_binary):
    """The control: with CAP_SYS_ADMIN and CAP_SYS_BOOT and no seccomp, the same probes get
    through (reboot fails only on its invalid magic), so the refusals above are real."""
    host_config = {
        "CapAdd": ["SYS_ADMIN", "SYS_BOOT"],
        "SecurityOpt": ["seccomp=unconfined", "no-new-privileges"],
    }
    results = run_both(bundles, runtime_cli, runc_cli, probe_binary, "ctrl", host_config)
    expected_mask = caps.caps_mask(caps.DOCKER_DEFAULT_CAPS + ["CAP_SYS_ADMIN", "CAP_SYS_BOOT"])
    for runtime, seen in results.items():
        where = f"under {runtime}"
        assert int(seen["CapEff"], 16) == expected_mask, where
        assert seen["Seccomp"] == "0", where
        assert seen["NoNewPrivs"] == "1", where
        assert seen["mount"] == "0", where
        assert seen["unshare_mnt"] == "0", where
        assert seen["unshare_net"] == "0", where
        assert seen["keyctl"] == "ok", where
        assert seen["reboot"] == "Invalid argument", where
        assert seen["sys"] == "Read-only file system", where
    assert results["dockyard"] == results["runc"]
