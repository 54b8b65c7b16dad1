"""Named and bind volumes, external volumes and networks, published ports."""

from __future__ import annotations

import os
import random
import time
import urllib.request


def test_named_volume_survives_down_and_goes_with_down_v(compose):
    compose.write(
        "compose.yaml",
        """
        services:
          app:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            volumes:
              - data:/data
              - type: tmpfs
                target: /scratch
        volumes:
          data:
        """,
    )
    p = compose.name
    r = compose.run("up", "-d")
    assert f'Volume "{p}_data"' in r.stderr
    assert compose.volumes() == [f"{p}_data"]
    compose.exec(f"{p}-app-1", "sh", "-c", "echo kept > /data/file")
    assert "tmpfs" in compose.exec(f"{p}-app-1", "sh", "-c", "grep /scratch /proc/mounts")
    compose.run("down")
    assert compose.volumes() == [f"{p}_data"]
    compose.run("up", "-d")
    assert compose.exec(f"{p}-app-1", "cat", "/data/file").strip() == "kept"
    r = compose.run("down", "-v")
    assert f"Volume {p}_data" in r.stderr and "Removed" in r.stderr
    assert compose.volumes() == []
    compose.run("up", "-d")
    r = compose.d.docker("exec", f"{p}-app-1", "cat", "/data/file")
    assert r.returncode != 0


def test_bind_mounts_short_and_long_syntax(compose):
    compose.write("html/index.html", "from the host\n")
    compose.write(
        "compose.yaml",
        """
        services:
          app:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            volumes:
              - ./html:/www:ro
              - ./created:/out
              - type: bind
                source: ./html
                target: /long
                read_only: true
        """,
    )
    p = compose.name
    compose.run("up", "-d")
    assert compose.exec(f"{p}-app-1", "cat", "/www/index.html") == "from the host\n"
    assert compose.exec(f"{p}-app-1", "cat", "/long/index.html") == "from the host\n"
    r = compose.d.docker("exec", f"{p}-app-1", "touch", "/www/nope")
    assert r.returncode != 0  # read-only
    compose.exec(f"{p}-app-1", "sh", "-c", "echo written > /out/result")
    with open(os.path.join(compose.dir, "created", "result")) as f:
        assert f.read() == "written\n"


def test_external_volume_and_network_must_exist(compose):
    compose.write(
        "compose.yaml",
        f"""
        services:
          app:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            volumes: [shared:/shared]
            networks: [outside]
        volumes:
          shared:
            external: true
            name: {compose.name}-ext
        networks:
          outside:
            external: true
            name: {compose.name}-net
        """,
    )
    r = compose.run("up", "-d", check=False)
    assert r.returncode != 0
    assert f"network {compose.name}-net declared as external, but could not be found" in r.stderr
    assert compose.names() == []
    t = compose.client.transport
    t.request("POST", "/networks/create", body={"Name": f"{compose.name}-net"})
    try:
        r = compose.run("up", "-d", check=False)
        assert f'external volume "{compose.name}-ext" not found' in r.stderr
        compose.client.volumes.create(f"{compose.name}-ext")
        try:
            compose.run("up", "-d")
            info = compose.inspect(f"{compose.name}-app-1")
            assert f"{compose.name}-net" in info["NetworkSettings"]["Networks"]
            assert any(m["Name"] == f"{compose.name}-ext" for m in info["Mounts"])
            compose.run("down", "-v")
            # external objects are left alone
            assert compose.client.volumes.inspect(f"{compose.name}-ext")
            assert t.request("GET", f"/networks/{compose.name}-net")
        finally:
            compose.cleanup()
            compose.client.volumes.remove(f"{compose.name}-ext", force=True)
    finally:
        t.request("DELETE", f"/networks/{compose.name}-net")


def _get(url: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_published_ports_and_port_command(compose):
    port = random.randint(20000, 40000)
    compose.write("www/index.html", "served by busybox\n")
    compose.write(
        "compose.yaml",
        f"""
        services:
          web:
            image: busybox
            command: ["httpd", "-f", "-p", "80", "-h", "/www"]
            stop_signal: SIGKILL
            volumes: ["./www:/www:ro"]
            ports:
              - "127.0.0.1:{port}:80"
        """,
    )
    p = compose.name
    compose.run("up", "-d")
    assert _get(f"http://127.0.0.1:{port}/") == "served by busybox\n"
    assert compose.run("port", "web", "80").stdout.strip() == f"127.0.0.1:{port}"
    assert f"127.0.0.1:{port}->80/tcp" in compose.run("ps").stdout
    info = compose.inspect(f"{p}-web-1")
    assert info["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"] == str(port)
