"""Acceptance 1 of issue 2: the same probe in the same bundle under runc and under
dockyard-runtime sees the same container (apart from ids)."""

from __future__ import annotations

import re

PROBE = r"""
echo "== pid"; echo $$
echo "== hostname"; hostname
echo "== id"; id
echo "== status"; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
echo "== mounts"; cat /proc/self/mountinfo
echo "== memory"; cat /sys/fs/cgroup/memory/memory.limit_in_bytes
echo "== pids"; cat /sys/fs/cgroup/pids/pids.max
echo "== cpu"; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares
echo "== cpuset"; cat /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/cpuset/cpuset.mems
echo "== swap"; cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>&1 | sed 's/^cat: //'
echo "== cgroup"; cat /proc/self/cgroup
echo "== links"; ip -o link | sed 's/link\/[a-z]* [0-9a-f:]* brd [0-9a-f:]*//'
echo "== addrs"; ip -o addr
echo "== dev"; ls -ln /dev | sed 's/  */ /g' | cut -d' ' -f1-6,10-
echo "== fds"; ls /proc/self/fd
echo "== ulimit"; ulimit -n
echo "== umask"; umask
echo "== cwd"; pwd
echo "== env"; env | sort
echo "== sysro"; touch /sys/x 2>&1 | sed 's/^touch: //'
echo "== procs"; ps -o pid,user,args | head -2
"""


def _edit(conf: dict) -> None:
    conf["linux"]["resources"].update(
        {
            "memory": {"limit": 64 * 1024 * 1024, "swap": 96 * 1024 * 1024},
            "pids": {"limit": 37},
            "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0", "mems": "0"},
        }
    )
    conf["hostname"] = "probe-host"
    conf["process"]["env"].append("PROBE=1")


def normalize(text: str, cids: list[str]) -> str:
    out = []
    for line in text.splitlines():
        for cid in cids:
            line = line.replace(cid, "ID")
        # mountinfo: mount id, parent id and device numbers change per mount
        line = re.sub(r"^\d+ \d+ \d+:\d+ ", "", line)
        out.append(line)
    return "\n".join(out)


def _sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("== "):
            current = line[3:]
            sections[current] = []
        elif current:
            sections[current].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def test_probe_matches_runc(bundles, runtime_cli, runc_cli, tmp_path):
    runc_bundle = bundles.make(["sh", "-c", PROBE], name="cmp-runc", edit=_edit)
    ours_bundle = bundles.make(["sh", "-c", PROBE], name="cmp-ours", edit=_edit)
    r = runc_cli("run", "--bundle", runc_bundle, "cmp-runc", stdin=None)
    assert r.returncode == 0, r.stderr
    o = runtime_cli("run", "--bundle", ours_bundle, "cmp-ours")
    assert o.returncode == 0, o.stderr
    theirs = _sections(normalize(r.stdout, ["cmp-runc"]))
    ours = _sections(normalize(o.stdout, ["cmp-ours"]))
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == theirs[key], f"section {key} differs"
    # and the values are what the config asked for, not only equal
    assert ours["pid"] == "1"
    assert ours["hostname"] == "probe-host"
    assert ours["memory"] == str(64 * 1024 * 1024)
    assert ours["swap"] == str(96 * 1024 * 1024)
    assert ours["pids"] == "37"
    assert ours["cpu"] == "50000\n512" and ours["cpuset"] == "0\n0"
    assert "CapEff:\t0000000020000420" in ours["status"]
    assert "NoNewPrivs:\t1" in ours["status"]
    assert "Read-only file system" in ours["sysro"]


USER_PROBE = r"""
echo "== id"; id
echo "== status"; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
echo "== ulimit"; ulimit -n; ulimit -Hn; ulimit -s
echo "== umask"; umask
echo "== cwd"; pwd
echo "== env"; env | sort
echo "== write"; touch /tmp/x 2>&1 && echo ok
"""


def _user_edit(conf: dict) -> None:
    conf["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 7], "umask": 0o027}
    conf["process"]["cwd"] = "/tmp"
    conf["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 768},
        {"type": "RLIMIT_STACK", "soft": 4194304, "hard": 4194304},
    ]
    caps = ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"]
    conf["process"]["capabilities"] = {
        "bounding": caps,
        "effective": caps,
        "permitted": caps,
        "inheritable": caps,
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }


def test_non_root_user_matches_runc(bundles, runtime_cli, runc_cli):
    import os

    runc_bundle = bundles.make(
        ["sh", "-c", USER_PROBE], name="user-runc", edit=_user_edit, writable=True
    )
    ours_bundle = bundles.make(
        ["sh", "-c", USER_PROBE], name="user-ours", edit=_user_edit, writable=True
    )
    for b in (runc_bundle, ours_bundle):
        os.chmod(os.path.join(b, "rootfs"), 0o755)
    r = runc_cli("run", "--bundle", runc_bundle, "user-runc")
    o = runtime_cli("run", "--bundle", ours_bundle, "user-ours")
    assert (r.returncode, o.returncode) == (0, 0), (r.stderr, o.stderr)
    theirs, ours = _sections(r.stdout), _sections(o.stdout)
    assert ours == theirs
    assert ours["id"].startswith("uid=1000 gid=1000")
    assert "CapAmb:\t0000000000000400" in ours["status"]
    assert ours["umask"] == "0027" and ours["ulimit"] == "512\n768\n4096"


def test_exec_matches_runc(bundles, runtime_cli, runc_cli, tmp_path):
    def edit(conf):
        _edit(conf)
        conf["process"]["args"] = ["sleep", "30"]

    runc_bundle = bundles.make(["sleep", "30"], name="exec-runc", edit=edit)
    ours_bundle = bundles.make(["sleep", "30"], name="exec-ours", edit=edit)
    probe = PROBE.replace('echo "== pid"; echo $$\n', "")
    with open(tmp_path / "log", "w") as log:
        for cli, bundle, cid in (
            (runc_cli, runc_bundle, "exec-runc"),
            (runtime_cli, ours_bundle, "exec-ours"),
        ):
            r = cli(
                "run", "-d", "--bundle", bundle, cid, stdout=log, stderr=log, capture_output=False
            )
            assert r.returncode == 0
    try:
        r = runc_cli("exec", "exec-runc", "sh", "-c", probe)
        o = runtime_cli("exec", "exec-ours", "sh", "-c", probe)
        assert (r.returncode, o.returncode) == (0, 0), (r.stderr, o.stderr)
        theirs = _sections(normalize(r.stdout, ["exec-runc"]))
        ours = _sections(normalize(o.stdout, ["exec-ours"]))
        assert set(ours) == set(theirs)
        for key in theirs:
            if key == "procs":  # the exec'd shell's pid differs; pid 1 is the same
                continue
            assert ours[key] == theirs[key], f"section {key} differs"
    finally:
        runc_cli("delete", "-f", "exec-runc")
        runtime_cli("delete", "-f", "exec-ours")
