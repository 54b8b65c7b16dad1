"""CVE-2021-30465: runc resolved a mount destination inside the rootfs, then mounted onto the
path string; a second container that shares the volume holding the destination swapped it
for a symlink in between, and the mount landed outside the container's root.

Here container A swaps `mnt1` in a shared volume between a directory and a symlink (to a
host directory, absolute and climbing) as fast as it can, while container B is started
again and again with that volume on /vol and a second volume on /vol/mnt1. The runtime
resolves the destination inside B's root to a descriptor and mounts onto that descriptor,
so whatever the swapper does, the mount lands inside B's root: the host directory the
symlinks name never changes, never gets a mount, and B never sees a file of the host.
Bounded: at most 300 starts and 60 seconds."""

from __future__ import annotations

import time
import uuid

import pytest

from daemon_fixture import running_daemon

MAX_RUNS = 300
MAX_SECONDS = 60

SWAPPER = r"""
i=0
while [ ! -e /race/stop ]; do
  if [ $((i % 2)) = 0 ]; then t="{abs}"; else t="{climb}"; fi
  rm -rf /race/mnt1 2>/dev/null; ln -s "$t" /race/mnt1
  rm -f /race/mnt1 2>/dev/null; mkdir /race/mnt1 2>/dev/null
  i=$((i + 1)); [ $((i % 50)) = 0 ] && echo "swaps $i" > /race/count
done
"""


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


def _mounts_naming(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if path in line]


def test_mount_destination_swapped_for_a_symlink_never_lands_outside(d, sentinel):
    race, payload = f"race{uuid.uuid4().hex[:8]}", f"payload{uuid.uuid4().hex[:8]}"
    r = d.docker(
        "run", "--rm", "-v", f"{payload}:/p", "busybox", "sh", "-c", "echo in > /p/PAYLOAD"
    )
    assert r.returncode == 0, r.stderr
    host_file = f"{sentinel.path}/ptmx"
    swapper = SWAPPER.replace("{abs}", sentinel.path).replace(
        "{climb}", "../" * 12 + sentinel.path.lstrip("/")
    )
    name = f"swapper{uuid.uuid4().hex[:8]}"
    r = d.docker("run", "-d", "--name", name, "-v", f"{race}:/race", "busybox", "sh", "-c", swapper)
    assert r.returncode == 0, r.stderr
    before = sentinel.digest()
    outcomes = {"at-destination": 0, "elsewhere-inside": 0, "refused": 0}
    probe = (
        f"cat {host_file} 2>/dev/null; "
        "if [ -e /vol/mnt1/PAYLOAD ]; then echo AT-DESTINATION; else echo ELSEWHERE; fi"
    )
    try:
        deadline = time.monotonic() + MAX_SECONDS
        runs = 0
        while runs < MAX_RUNS and time.monotonic() < deadline:
            runs += 1
            r = d.docker(
                "run",
                "--rm",
                "-v",
                f"{race}:/vol",
                "-v",
                f"{payload}:/vol/mnt1",
                "busybox",
                "sh",
                "-c",
                probe,
            )
            out = r.stdout + r.stderr
            assert "the host's file" not in out, out
            if r.returncode != 0:
                assert "Traceback" not in out and "Error" in out, out
                outcomes["refused"] += 1
            elif "AT-DESTINATION" in r.stdout:
                outcomes["at-destination"] += 1
            else:
                outcomes["elsewhere-inside"] += 1
            assert _mounts_naming(sentinel.path) == []
        swaps = d.docker("exec", name, "cat", "/race/count").stdout
    finally:
        d.docker("exec", name, "touch", "/race/stop")
        d.docker("rm", "-f", name)
        d.docker("volume", "rm", "-f", race, payload)
    print(f"CVE-2021-30465 race: {runs} starts, {swaps.strip()}, outcomes {outcomes}")
    assert sentinel.digest() == before
    assert _mounts_naming(sentinel.path) == []
    # bounded by time: a loaded 2-core machine gets fewer starts, each still a real attempt
    assert runs >= 10, outcomes
    assert swaps.startswith("swaps "), swaps  # the swapper really ran during the starts
    assert outcomes["at-destination"] + outcomes["elsewhere-inside"] > 0, outcomes


# The engine's containers keep the default rslave root, so a mount that went astray in the
# runtime's namespace could never show on the host. The runtime alone, with an rshared root
# and the attacked host directory on a shared mount of its own, would show it: a mount made
# through the swapped symlink onto the host directory propagates to the host's mount table.
RUNTIME_SWAPPER = """
i=0
while [ ! -e "$VOL/stop" ]; do
  if [ $((i % 2)) = 0 ]; then t="$ABS"; else t="$CLIMB"; fi
  rm -rf "$VOL/mnt1" 2>/dev/null; ln -s "$t" "$VOL/mnt1" 2>/dev/null
  rm -f "$VOL/mnt1" 2>/dev/null; mkdir "$VOL/mnt1" 2>/dev/null
  i=$((i + 1))
done
"""


def test_runtime_with_a_shared_root_never_mounts_onto_the_swapped_host_path(
    tmp_path, busybox_rootfs
):
    import json
    import os
    import shutil
    import subprocess

    from dockyard.errors import DockyardError
    from dockyard.runtime.defaults import default_spec
    from dockyard.runtime.runtime import Runtime
    from support import BUSYBOX

    shared = tmp_path / "shared"
    shared.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(shared)], check=True)
    swapper = None
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        target = shared / "host-dir"
        target.mkdir()
        (target / "file").write_text("the host's file\n")
        vol, payload = tmp_path / "vol", tmp_path / "payload"
        vol.mkdir()
        payload.mkdir()
        (payload / "PAYLOAD").write_text("in\n")
        bundle = tmp_path / "bundle"
        shutil.copytree(busybox_rootfs, bundle / "rootfs", symlinks=True)
        conf = default_spec()
        conf["process"].update(terminal=False, args=["true"])
        conf["root"] = {"path": "rootfs", "readonly": False}
        conf["linux"]["cgroupsPath"] = f"/dockyard-hostile-{uuid.uuid4().hex[:8]}"
        conf["linux"]["rootfsPropagation"] = "rshared"
        conf["mounts"] += [
            {"destination": "/vol", "type": "bind", "source": str(vol), "options": ["rbind"]},
            {
                "destination": "/vol/mnt1",
                "type": "bind",
                "source": str(payload),
                "options": ["rbind"],
            },
        ]
        (bundle / "config.json").write_text(json.dumps(conf))
        env = {
            "VOL": str(vol),
            "ABS": str(target),
            "CLIMB": "../" * 24 + str(target).lstrip("/"),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        swapper = subprocess.Popen([BUSYBOX, "sh", "-c", RUNTIME_SWAPPER], env=env)
        rt = Runtime(str(tmp_path / "state"))
        null = os.open("/dev/null", os.O_RDWR)
        counts = {"ran": 0, "refused": 0}
        try:
            deadline = time.monotonic() + MAX_SECONDS
            runs = 0
            while runs < MAX_RUNS and time.monotonic() < deadline:
                runs += 1
                try:
                    status = rt.run(f"race{runs}", str(bundle), stdout=null, stderr=null)
                    assert status == 0
                    counts["ran"] += 1
                except DockyardError as e:
                    assert "Traceback" not in str(e)
                    counts["refused"] += 1
                assert _mounts_naming(str(target)) == [], counts
        finally:
            os.close(null)
        print(f"CVE-2021-30465 runtime race: {runs} runs, {counts}")
        assert sorted(os.listdir(target)) == ["file"]
        assert (target / "file").read_text() == "the host's file\n"
        assert runs >= 10 and counts["ran"] > 0, counts
    finally:
        if swapper is not None:
            (tmp_path / "vol" / "stop").touch()
            swapper.wait(10)
        subprocess.run(["umount", "-R", "-l", str(shared)], check=False)
