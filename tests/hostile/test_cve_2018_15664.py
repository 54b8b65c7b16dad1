"""CVE-2018-15664: `docker cp` racing a container that swaps a directory and a symlink to `/`.

Docker resolved a cp path to a host path (FollowSymlinkInScope) and then used that path
string: a container that swapped a component for a symlink to `/` in between made the daemon
read or write the host's file system (as root). Here a container swaps /w/d between a real
directory and a symlink to `/` in a tight loop (renameat2(RENAME_EXCHANGE), as the original
proof of concept, when a compiler is at hand to build it; otherwise a shell loop of renames)
while the test copies into and out of /w/d/<sentinel path> over the API, bounded in count and
time. Whatever the interleaving, every answer is the container's own file (from its real
directory or from its own root) or a clean error, and the sentinel host directory is unchanged.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from hostile_tars import dir_layer, reg, tar_bytes, watched_sentinel

from daemon_fixture import ping, running_daemon
from dockyard.client import APIClient, APIError

ROUNDS = int(os.environ.get("DOCKYARD_CVE_15664_ROUNDS", "300"))
BUDGET_SECONDS = 60
SECRET = b"the host's secret\n"

SWAP_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/fs.h>
int main(int argc, char **argv) {
    /* argv[1] and argv[2] exchange places for ever */
    for (;;)
        syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE);
}
"""


def _swapper(tmp: str) -> bytes | None:
    """A static binary that exchanges two paths in a loop, or None without a compiler."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    src = os.path.join(tmp, "swap.c")
    with open(src, "w") as f:
        f.write(SWAP_C)
    out = os.path.join(tmp, "swap")
    r = subprocess.run([cc, "-static", "-O2", "-o", out, src], capture_output=True)
    if r.returncode != 0:
        return None
    with open(out, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def sentinel():
    with watched_sentinel({"secret": SECRET}) as s:
        yield s


@pytest.fixture(scope="module")
def racer(busybox_rootfs, sentinel, tmp_path_factory):
    """(daemon, container name, True when the swap is renameat2's exchange)."""
    rel = sentinel.path.lstrip("/")
    swap = _swapper(str(tmp_path_factory.mktemp("swap")))
    entries = []
    if swap is not None:
        entries.append(reg("swap", swap, 0o755))
    with running_daemon() as d:
        base = dir_layer(busybox_rootfs)
        buf = io.BytesIO()
        with (
            tarfile.open(fileobj=io.BytesIO(base)) as src,
            tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as out,
        ):
            for m in src:
                out.addfile(m, src.extractfile(m) if m.isreg() else None)
            for info, data in entries:
                out.addfile(info, io.BytesIO(data))
        r = d.docker("import", "-c", 'CMD ["sh"]', "-", "racer:1", input=buf.getvalue())
        assert r.returncode == 0, r.stderr
        # the container's own copies of the sentinel path: in its real /w/d and in its root
        setup = (
            f"mkdir -p /w/d/{rel} /{rel} && echo container-dir > /w/d/{rel}/secret && "
            f"echo container-root > /{rel}/secret && ln -s / /w/link && "
        )
        if swap is not None:
            loop = "exec /swap /w/d /w/link"
        else:
            loop = "while :; do mv /w/d /w/hold; ln -s / /w/d; rm /w/d; mv /w/hold /w/d; done"
        r = d.docker("run", "-d", "--name", "racer", "racer:1", "sh", "-c", setup + loop)
        assert r.returncode == 0, r.stderr
        yield d, "racer", swap is not None
        d.docker("rm", "-f", "racer")


def test_cp_during_a_symlink_swap_touches_nothing_of_the_host(racer, sentinel):
    d, name, exchange = racer
    client = APIClient(d.host, timeout=60)
    rel = sentinel.path.lstrip("/")
    seen: dict[bytes, int] = {}
    errors = 0
    deadline = time.monotonic() + BUDGET_SECONDS
    rounds = 0
    while rounds < ROUNDS and time.monotonic() < deadline:
        rounds += 1
        try:
            data = b"".join(client.containers.archive_get(name, f"/w/d/{rel}/secret"))
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for m in tar.getmembers():
                    if m.isreg():
                        content = tar.extractfile(m).read()  # type: ignore[union-attr]
                        seen[content] = seen.get(content, 0) + 1
        except APIError as e:
            assert e.status in (400, 404), e
            errors += 1
        try:
            client.containers.archive_put(
                name, f"/w/d/{rel}", tar_bytes([reg("planted", b"pwned %d" % rounds)])
            )
        except APIError as e:
            assert e.status in (400, 404), e
            errors += 1
    assert SECRET not in seen, "the host's file was read through the container's symlink"
    assert set(seen) <= {b"container-dir\n", b"container-root\n"}, seen
    assert sentinel.digest() == sentinel.expected  # no file of the host written
    assert rounds >= min(ROUNDS, 20)
    # the swap really ran: the container's state flips (both sides were reached, or failed)
    r = d.docker("exec", name, "sh", "-c", f"ls /{rel} /w/d/{rel} 2>/dev/null | grep -c planted")
    assert r.returncode in (0, 1)
    assert ping(d.sock)
    print(f"rounds={rounds} exchange={exchange} seen={seen} errors={errors}")
