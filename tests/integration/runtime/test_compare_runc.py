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
            "memory": {"limit": 64 * 1024 * 1024},
            "pids": {"limit": 37},
            "cpu": {"quota": 50000, "period": 100000, "shares": 512},
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
    assert ours["pids"] == "37"
    assert "CapEff:\t0000000020000420" in ours["status"]
    assert "NoNewPrivs:\t1" in ours["status"]
    assert "Read-only file system" in ours["sysro"]
