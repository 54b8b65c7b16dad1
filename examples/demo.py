#!/usr/bin/env python3
"""`make demo`: the hit counter (examples/hitcounter) on dockyard, from nothing.

1. Starts the daemon if none answers on the socket ($DOCKYARD_HOST, by default
   /run/dockyard/dockyard.sock), in the background, logging to /var/log/dockyard.log.
2. Makes the base images if the daemon lacks them (busybox, debian:bookworm-slim), offline
   with examples/base_images.py, and imports them.
3. `dockyard compose down -v` (a fresh count), then `dockyard compose up -d --build`.
4. Waits for http://127.0.0.1:5000/, fetches it three times and prints each page.
5. Says how to open it in a browser and how to stop it.
It installs nothing: `make install` (the demo target's dependency) did.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
APP = os.path.join(HERE, "hitcounter")
COMPOSE_FILE = os.path.join(APP, "compose.yaml")
LOG = "/var/log/dockyard.log"
PORT = int(os.environ.get("WEB_PORT", "5000"))
URL = f"http://127.0.0.1:{PORT}/"
BASES = {
    "busybox:latest": ("busybox", ['CMD ["sh"]']),
    "debian:bookworm-slim": ("bookworm-slim", ['CMD ["bash"]']),
}
PATH_ENV = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "src"))

from dockyard.client import APIClient, APIError, ClientError  # noqa: E402


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def dockyard(*args: str) -> None:
    """Run the dockyard CLI with this interpreter; stop the demo if it fails."""
    r = subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args])
    if r.returncode != 0:
        sys.exit(f"demo: `dockyard {' '.join(args)}` failed (exit {r.returncode})")


def daemon_answers(client: APIClient) -> bool:
    try:
        client.system.ping()
        return True
    except (ClientError, OSError):
        return False


def ensure_daemon(client: APIClient) -> int | None:
    """The PID of the daemon this demo started, None when one already answered."""
    if daemon_answers(client):
        print(f"the daemon answers on {client.host}")
        return None
    if not client.host.startswith("unix://"):
        sys.exit(f"demo: nothing answers on {client.host}")
    step(f"starting the daemon (log: {LOG})")
    with open(LOG, "ab") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "dockyard.cli.main", "daemon", "-H", client.host],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while not daemon_answers(client):
        if time.monotonic() > deadline:
            sys.exit(f"demo: the daemon did not start; see {LOG}")
        time.sleep(0.2)
    print(f"the daemon answers on {client.host}")
    return daemon.pid


def ensure_base_images(client: APIClient) -> None:
    import base_images

    os.makedirs(base_images.CACHE, exist_ok=True)
    for reference, (maker, changes) in BASES.items():
        try:
            client.transport.request("GET", f"/images/{reference}/json")
            print(f"{reference}: present")
            continue
        except APIError as exc:
            if exc.status != 404:
                raise
        step(f"making {reference} offline (cached under {base_images.CACHE})")
        tarball = base_images.MAKERS[maker]()
        repo, _, tag = reference.partition(":")
        params = {"fromSrc": "-", "repo": repo, "tag": tag, "changes": [*changes, PATH_ENV]}
        with open(tarball, "rb") as f:
            for message in client.transport.json_lines("POST", "/images/create", params, body=f):
                if message.get("error"):
                    sys.exit(f"demo: importing {reference}: {message['error']}")
        print(f"{reference}: imported from {tarball}")


def wait_for_page(timeout: float = 120) -> None:
    """Until Flask answers, without counting a visit: /favicon.ico is a 404."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(URL + "favicon.ico", timeout=3):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"demo: {URL} did not answer in {timeout:.0f}s")
            time.sleep(0.5)


def main() -> int:
    if os.geteuid() != 0:
        sys.exit("demo: run as root (the daemon needs namespaces, mounts and cgroups)")
    client = APIClient()
    step("the daemon")
    started = ensure_daemon(client)
    step("base images")
    ensure_base_images(client)
    step("a fresh project: dockyard compose down -v")
    dockyard("compose", "-f", COMPOSE_FILE, "down", "-v")
    step("dockyard compose up -d --build (the first build installs Debian packages)")
    dockyard("compose", "-f", COMPOSE_FILE, "up", "-d", "--build")
    step(f"waiting for {URL}")
    wait_for_page()
    for _ in range(3):
        with urllib.request.urlopen(URL, timeout=10) as resp:
            page = resp.read().decode()
        print(f"GET {URL} -> {page.strip()}", flush=True)
    cli = "dockyard" if shutil.which("dockyard") else ".venv/bin/dockyard"
    print(
        f"\nThe hit counter runs. Open {URL} in a browser (each visit counts).\n"
        f"See its containers: {cli} compose -f examples/hitcounter/compose.yaml ps\n"
        f"Stop it:            {cli} compose -f examples/hitcounter/compose.yaml down\n"
        "(add -v to forget the count; the daemon keeps running, its log is "
        f"{LOG})"
    )
    if started is not None:
        print(f"Stop the daemon this demo started: kill {started}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
