#!/usr/bin/env python3
"""Make the base images' root filesystems offline, cached under /var/cache/dockyard.

Docker Hub is out of reach on our machines, so the demo and the tests make their base images
from Debian's own packages:
- busybox: /bin/busybox from Debian's busybox-static plus a symlink per applet (seconds);
- debian:bookworm-slim: `debootstrap --variant=minbase bookworm`, trimmed of docs, man pages,
  locales and apt lists as the official slim image is (about half a minute, made once).

Each is written as a gzip tarball that `POST /images/create?fromSrc=-` (`dockyard import`)
takes. Usage: base_images.py [busybox|bookworm-slim]... ; prints the tarball paths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

CACHE = os.environ.get("DOCKYARD_CACHE", "/var/cache/dockyard")
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
_TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
         "var/lib/apt/lists", "var/cache/apt", "var/cache/debconf/templates.dat-old",
         "var/log")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def _tar_dir(src: str, dest: str) -> None:
    tmp = dest + ".part"
    with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        for name in sorted(os.listdir(src)):
            tar.add(os.path.join(src, name), arcname=name)
    os.rename(tmp, dest)


def busybox() -> str:
    dest = os.path.join(CACHE, "busybox-rootfs.tar.gz")
    if os.path.exists(dest):
        return dest
    from support import make_busybox_rootfs

    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        _tar_dir(make_busybox_rootfs(os.path.join(tmp, "rootfs")), dest)
    return dest


def bookworm_slim() -> str:
    dest = os.path.join(CACHE, "debian-bookworm-slim.tar.gz")
    if os.path.exists(dest):
        return dest
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        root = os.path.join(tmp, "rootfs")
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root, MIRROR],
                       check=True, stdout=subprocess.DEVNULL)
        for path in _TRIM:
            full = os.path.join(root, path)
            if os.path.isdir(full):
                shutil.rmtree(full)
                os.makedirs(full)
        os.makedirs(os.path.join(root, "var/lib/apt/lists/partial"), exist_ok=True)
        _tar_dir(root, dest)
    return dest


MAKERS = {"busybox": busybox, "bookworm-slim": bookworm_slim}


def main(argv: list[str]) -> int:
    os.makedirs(CACHE, exist_ok=True)
    for name in argv or list(MAKERS):
        if name not in MAKERS:
            print(f"unknown base image: {name} (known: {', '.join(MAKERS)})", file=sys.stderr)
            return 2
        print(MAKERS[name]())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
