"""The docker-init binary for `--init`: a tiny static reaper (init_src/docker-init.c).

Docker bind-mounts tini at /sbin/docker-init. We build our own small C init with the system's
C compiler (`make install` does it; `build_init()` does it on demand) into the cache directory,
and use it when it is there. Without a compiler, `--init` is refused with a clear message.
"""

from __future__ import annotations

import os
import shutil
import subprocess

SOURCE = os.path.join(os.path.dirname(__file__), "init_src", "docker-init.c")
INSTALLED = ("/usr/local/libexec/dockyard/docker-init", "/usr/libexec/dockyard/docker-init")
CACHE = "/var/cache/dockyard/docker-init"


def build_init(dest: str = CACHE) -> str | None:
    """Compile docker-init statically into `dest`; None when no compiler works."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = dest + ".tmp"
    p = subprocess.run([cc, "-static", "-Os", "-s", "-o", tmp, SOURCE], capture_output=True)
    if p.returncode != 0:
        return None
    os.rename(tmp, dest)
    return dest


def find_init(build: bool = True) -> str | None:
    """The docker-init to bind-mount: an installed one, the cached build, or a fresh build."""
    for path in (*INSTALLED, CACHE):
        if os.access(path, os.X_OK) and os.path.getmtime(path) >= os.path.getmtime(SOURCE):
            return path
    return build_init() if build else None
