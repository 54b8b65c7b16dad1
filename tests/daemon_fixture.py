"""Start a real `dockyard daemon` for a test and always clean up after it.

    from daemon_fixture import running_daemon

    with running_daemon() as d:
        subprocess.run(["docker", "version"], env=d.env)

or the pytest fixtures `daemon` (one per test) and `module_daemon` (one per test module):

    from daemon_fixture import daemon  # noqa: F401  (registers the fixture)

The daemon gets its own socket, data root, exec root, config file, bridge name and bridge
subnet (chosen at random from 10.201.0.0/16 upwards). On exit it is stopped (SIGTERM, then
SIGKILL), then every process that still refers to its roots (container monitors and their
children) is killed, every mount below its roots is unmounted, the bridge is deleted and the
directories are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

DOCKER = "/usr/local/bin/docker"


@dataclass
class Daemon:
    root: str
    sock: str
    data_root: str
    exec_root: str
    config_file: str
    log_path: str
    bridge: str
    bip: str
    extra_args: list[str] = field(default_factory=list)
    # extra environment of the daemon process (e.g. DOCKYARD_CRASH_AT for the fault tests)
    daemon_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for clients: the docker CLI, the docker SDK and dockyard's CLI."""
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env["DOCKYARD_HOST"] = self.host
        env["DOCKER_CONFIG"] = os.path.join(self.root, "docker-config")
        env.pop("DOCKER_CONTEXT", None)
        env.pop("DOCKER_TLS_VERIFY", None)
        return env

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dockyard.cli.main",
            "daemon",
            "-H",
            self.host,
            "--data-root",
            self.data_root,
            "--exec-root",
            self.exec_root,
            "--config-file",
            self.config_file,
            "--log-level",
            "debug",
            "--bridge",
            self.bridge,
            "--bip",
            self.bip,
            *self.extra_args,
        ]

    def start(self, timeout: float = 20.0) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the daemon owns it
        self.proc = subprocess.Popen(
            self.argv(),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **self.daemon_env},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with {self.proc.returncode}:\n{self.log()}")
            if ping(self.sock):
                return
            time.sleep(0.05)
        raise RuntimeError(f"the daemon did not answer /_ping in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Stop the daemon process only (containers are left to live restore)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def kill9(self) -> None:
        """SIGKILL the daemon, as the live-restore tests do."""
        self.stop(signal.SIGKILL)

    def restart(self, kill: bool = False) -> None:
        self.stop(signal.SIGKILL if kill else signal.SIGTERM)
        self.start()

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-20000:]
        except OSError:
            return ""

    def docker(
        self, *args: str, input: str | bytes | None = None, timeout: float = 60, check: bool = False
    ) -> subprocess.CompletedProcess:
        """Run the real docker CLI against this daemon."""
        text = not isinstance(input, bytes)
        return subprocess.run(
            [DOCKER, *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=text,
            timeout=timeout,
            check=check,
        )

    def docker_popen(self, *args: str) -> subprocess.Popen:
        """Start the real docker CLI against this daemon without waiting for it."""
        return subprocess.Popen(
            [DOCKER, *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def dockyard(
        self, *args: str, input: str | bytes | None = None, timeout: float = 60, check: bool = False
    ) -> subprocess.CompletedProcess:
        """Run dockyard's CLI against this daemon."""
        text = not isinstance(input, bytes)
        return subprocess.run(
            [sys.executable, "-m", "dockyard.cli.main", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=text,
            timeout=timeout,
            check=check,
        )

    def import_busybox(self, rootfs: str, tag: str = "busybox:latest") -> str:
        """Make the busybox image from a root filesystem dir (through POST /images/create)."""
        import io
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name in sorted(os.listdir(rootfs)):
                tar.add(os.path.join(rootfs, name), arcname=name)
        r = self.docker("import", "-c", 'CMD ["sh"]', "-", tag, input=buf.getvalue())
        if r.returncode != 0:
            raise RuntimeError(f"docker import failed: {r.stderr}")
        return r.stdout.strip()

    def cleanup(self) -> None:
        self.stop()
        _kill_container_processes(self.data_root)
        _kill_processes_referring_to([self.data_root, self.exec_root, self.root])
        _unmount_below([self.data_root, self.exec_root, self.root])
        _remove_cgroups_named(os.path.basename(self.root))
        _remove_network_state(self.data_root, self.exec_root)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def ping(sock_path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(sock_path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.startswith(b"HTTP/1.1 200") and data.endswith(b"OK")
    except OSError:
        return False
    finally:
        s.close()


def raw_request(
    sock_path: str, method: str, path: str, body: bytes | None = None, ctype: str = ""
) -> int:
    """Send one raw HTTP request; the status code (0 when the daemon gave no answer)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(sock_path)
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Length: {len(body)}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
    try:
        s.sendall(head.encode() + b"\r\n" + (body or b""))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon may refuse a huge body before it is all sent
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    s.close()
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def _kill_processes_referring_to(paths: list[str]) -> None:
    """SIGKILL processes whose command line, environment, cwd or root is under `paths`."""
    me = os.getpid()
    needles = [p.encode() for p in paths]
    for _ in range(3):
        victims = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            pid = int(entry)
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    blob = f.read()
                with contextlib.suppress(OSError), open(f"/proc/{pid}/environ", "rb") as f:
                    blob += f.read()
                for link in ("cwd", "root"):
                    with contextlib.suppress(OSError):
                        blob += os.readlink(f"/proc/{pid}/{link}").encode()
            except OSError:
                continue
            if any(n in blob for n in needles):
                victims.append(pid)
        if not victims:
            return
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def _unmount_below(paths: list[str]) -> None:
    prefixes = [os.path.realpath(p).rstrip("/") for p in paths]
    for _ in range(5):
        with open("/proc/self/mountinfo") as f:
            mps = [line.split()[4].replace("\\040", " ") for line in f]
        below = [m for m in mps if any(m == p or m.startswith(p + "/") for p in prefixes)]
        if not below:
            return
        for m in sorted(set(below), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)


def _kill_container_processes(data_root: str) -> None:
    """SIGKILL the processes of the daemon's containers (found by their cgroup, named after
    the container id): in their own mount namespaces the search by path does not see them."""
    try:
        ids = [i for i in os.listdir(os.path.join(data_root, "containers")) if len(i) == 64]
    except OSError:
        return
    if not ids:
        return
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                groups = f.read()
        except OSError:
            continue
        if any(i in groups for i in ids):
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)


def _remove_network_state(data_root: str, exec_root: str) -> None:
    """The bridges of the daemon's user networks, their iptables rules and port rules, veths
    and namespace files (a test that failed before its `network rm` leaves them otherwise)."""
    from dockyard.network.cleanup import remove_network_state

    try:
        remove_network_state(os.path.join(data_root, "network"), exec_root)
    except Exception as e:  # cleanup goes on: the directories must still go
        print(f"daemon_fixture: network cleanup: {e!r}", file=sys.stderr)


def _remove_cgroups_named(tag: str) -> None:
    """Remove cgroup directories made for this daemon's containers (named after its root)."""
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if not os.path.isdir(base):
            continue
        for dirpath, _dirs, _files in os.walk(base, topdown=False):
            if tag in dirpath:
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)


def _random_subnet() -> str:
    return f"10.{random.randint(201, 250)}.{random.randint(0, 255)}.1/24"


@contextlib.contextmanager
def running_daemon(
    extra_args: list[str] | None = None, config: dict | None = None, start: bool = True
) -> Iterator[Daemon]:
    """A started daemon on private roots; stopped and cleaned up on exit, even on failure."""
    root = tempfile.mkdtemp(prefix="dyd-", dir="/tmp")
    os.chmod(root, 0o755)
    tag = os.path.basename(root)
    cfg = os.path.join(root, "daemon.json")
    with open(cfg, "w") as f:
        json.dump(config or {}, f)
    os.makedirs(os.path.join(root, "docker-config"))
    d = Daemon(
        root=root,
        sock=os.path.join(root, "d.sock"),
        data_root=os.path.join(root, "data"),
        exec_root=os.path.join(root, "exec"),
        config_file=cfg,
        log_path=os.path.join(root, "daemon.log"),
        bridge=("dy" + tag[4:])[:15],
        bip=_random_subnet(),
        extra_args=list(extra_args or []),
    )
    try:
        if start:
            d.start()
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    with running_daemon() as d:
        yield d


@pytest.fixture(scope="module")
def module_daemon() -> Iterator[Daemon]:
    with running_daemon() as d:
        yield d
