"""Peers for the registry tests: Debian's docker-registry and our server as processes, an
OCI layout made by umoci, and skopeo calls. Traffic stays on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from dockyard.distribution.htpasswd import make_entry

CACHE = "/var/cache/dockyard/distribution"
DOCKER_REGISTRY = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    import ssl

    ctx = ssl._create_unverified_context()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"registry exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1, context=ctx)
            return
        except urllib.error.HTTPError:
            return  # 401: up, wants credentials
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"registry at {url} did not start")


class _Process:
    """A registry process that is always stopped on exit."""

    proc: subprocess.Popen
    scheme = "http"

    def __init__(self, root: str) -> None:
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        os.makedirs(root, exist_ok=True)
        self.log = open(os.path.join(root, "log"), "wb")

    def _start(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(f"{self.scheme}://{self.host}/v2/", self.proc)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __exit__(self, *exc) -> None:
        self.stop()

    def logs(self) -> str:
        with open(os.path.join(self.root, "log"), errors="replace") as f:
            return f.read()


class DockerRegistry(_Process):
    """Debian's docker-registry (distribution 2.8) with a temporary config."""

    def __init__(self, root: str, users: dict[str, str] | None = None) -> None:
        super().__init__(root)
        self.users = users
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {
                "filesystem": {"rootdirectory": os.path.join(root, "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host, "secret": "dockyard-tests"},
        }
        if users:
            path = os.path.join(root, "htpasswd")
            with open(path, "w") as f:
                f.writelines(make_entry(u, p) + "\n" for u, p in users.items())
            config["auth"] = {"htpasswd": {"realm": "basic-realm", "path": path}}
        self.config = os.path.join(root, "config.yml")
        with open(self.config, "w") as f:
            json.dump(config, f)  # JSON is YAML

    def __enter__(self) -> DockerRegistry:
        self._start([DOCKER_REGISTRY, "serve", self.config])
        return self


class OurRegistry(_Process):
    """dockyard's registry server as `dockyard registry serve` runs it."""

    def __init__(
        self, root: str, htpasswd: str | None = None, tls: tuple[str, str] | None = None
    ) -> None:
        super().__init__(root)
        self.argv = [
            sys.executable,
            "-c",
            "import sys; from dockyard.distribution.server import main; "
            "sys.exit(main(sys.argv[1:]))",
            "serve",
            "--addr",
            self.host,
            "--root",
            os.path.join(root, "data"),
        ]
        if htpasswd:
            self.argv += ["--htpasswd", htpasswd]
        if tls:
            self.argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
            self.scheme = "https"

    def __enter__(self) -> OurRegistry:
        self._start(self.argv)
        return self


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, check=check, timeout=120
    )


def skopeo_inspect(image: str, *extra: str) -> dict:
    return json.loads(skopeo("inspect", "--tls-verify=false", *extra, image).stdout)


def _umoci(*args: str) -> None:
    subprocess.run(["umoci", *args], check=True, capture_output=True, timeout=120)


def _tree_key(rootfs: str) -> str:
    h = hashlib.sha256()
    with open(os.path.join(rootfs, "bin/busybox"), "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:16]


def make_oci_layout(rootfs: str, cache: str, scratch: str) -> str:
    """An OCI layout built by umoci from `rootfs` (cached under `cache`); returns its path."""
    key = _tree_key(rootfs)
    cached = os.path.join(cache, f"busybox-oci-{key}")
    if os.path.exists(os.path.join(cached, "index.json")):
        return cached
    os.makedirs(cache, exist_ok=True)
    work = tempfile.mkdtemp(dir=scratch)
    layout = os.path.join(work, "layout")
    _umoci("init", "--layout", layout)
    images = {}
    for tag, arch in (("busybox", "amd64"), ("busybox-arm64", "arm64")):
        _umoci("new", "--image", f"{layout}:{tag}")
        bundle = os.path.join(work, f"bundle-{tag}")
        _umoci("unpack", "--rootless", "--image", f"{layout}:{tag}", bundle)
        shutil.rmtree(os.path.join(bundle, "rootfs"))
        shutil.copytree(rootfs, os.path.join(bundle, "rootfs"), symlinks=True)
        with open(os.path.join(bundle, "rootfs", "etc", "arch"), "w") as f:
            f.write(arch + "\n")  # the two platforms differ in content too
        _umoci("repack", "--image", f"{layout}:{tag}", bundle)
        _umoci(
            "config",
            "--image",
            f"{layout}:{tag}",
            "--os",
            "linux",
            "--architecture",
            arch,
            "--config.cmd",
            "/bin/sh",
        )
        images[tag] = arch
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    entries = []
    for desc in index["manifests"]:
        tag = desc.get("annotations", {}).get("org.opencontainers.image.ref.name")
        if tag in images:
            platform = {"architecture": images[tag], "os": "linux"}
            if images[tag] == "arm64":
                platform["variant"] = "v8"
            entries.append(
                {
                    "mediaType": desc["mediaType"],
                    "digest": desc["digest"],
                    "size": desc["size"],
                    "platform": platform,
                }
            )
    multi = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": sorted(entries, key=lambda e: e["platform"]["architecture"], reverse=True),
        }
    ).encode()
    digest = hashlib.sha256(multi).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(multi)
    index["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": f"sha256:{digest}",
            "size": len(multi),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }
    )
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    tmp = cached + f".tmp-{os.getpid()}"
    shutil.copytree(layout, tmp)
    try:
        os.rename(tmp, cached)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another run made it meanwhile
    shutil.rmtree(work, ignore_errors=True)
    return cached


def layout_manifest(layout: str, tag: str) -> tuple[str, dict]:
    """(digest, parsed manifest or index) of `tag` in an OCI layout."""
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    for desc in index["manifests"]:
        if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            with open(os.path.join(layout, "blobs", "sha256", desc["digest"][7:])) as f:
                return desc["digest"], json.load(f)
    raise KeyError(tag)
