"""bench/network: network set-up time per container and a published port's request rate.

Run as root: `.venv/bin/python bench/network/run.py [--count 50] [--seconds 5]`.

1. Set-up: NetworkService.sandbox_create + connect on the default bridge (namespace, veth,
   address, route, record) against `--network none` (namespace with lo only), and teardown.
2. Published port: `busybox httpd` inside a namespace reached through a published port on
   127.0.0.1 (kernel DNAT), against the same httpd run on the host directly; wrk measures
   requests per second for both in the same run.

Uses its own bridge name and a private 10.2xx subnet, and removes everything at the end.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from pyroute2 import IPRoute

from dockyard.network.ports import PortBinding
from dockyard.network.service import NetworkService


def free_subnet() -> str:
    with IPRoute() as ipr:
        routes = [
            ipaddress.ip_network(f"{r.get_attr('RTA_DST')}/{r['dst_len']}", strict=False)
            for r in ipr.get_routes(family=2)
            if r.get_attr("RTA_DST")
        ]
    while True:
        net = ipaddress.ip_network(f"10.{random.randint(201, 250)}.{random.randint(0, 255)}.0/24")
        if not any(net.overlaps(r) for r in routes):
            return str(net)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=10)
    return (
        f"median {statistics.median(values) * 1000:.2f} ms "
        f"(p10 {q[0] * 1000:.2f}, p90 {q[-1] * 1000:.2f})"
    )


def bench_setup(service: NetworkService, count: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"bridge": [], "none": [], "teardown": []}
    for mode in ("bridge", "none"):
        time.sleep(2)  # let the kernel finish destroying the previous namespaces (cleanup_net)
        ids = [secrets.token_hex(32) for _ in range(count)]
        for cid in ids:
            t = time.perf_counter()
            service.sandbox_create(cid)
            service.connect(mode, cid, "bench-" + cid[:6])
            results[mode].append(time.perf_counter() - t)
        for cid in ids:
            t = time.perf_counter()
            service.sandbox_remove(cid)
            if mode == "bridge":
                results["teardown"].append(time.perf_counter() - t)
    return results


def wrk(url: str, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    return float(re.search(r"Requests/sec:\s*([0-9.]+)", out).group(1))


def wait_listening(argv_prefix: list[str], port: int) -> None:
    for _ in range(100):
        out = subprocess.run([*argv_prefix, "netstat", "-ltn"], capture_output=True, text=True)
        if f":{port} " in out.stdout:
            return
        time.sleep(0.05)


def bench_port(service: NetworkService, seconds: int, docroot: str) -> tuple[float, float]:
    cid = secrets.token_hex(32)
    path = service.sandbox_create(cid)
    port = free_port()
    service.connect("bridge", cid, "bench-web", publish=[PortBinding(80, "tcp", "", port, port)])
    direct_port = free_port()
    inside = subprocess.Popen(
        ["nsenter", f"--net={path}", "/bin/busybox", "httpd", "-f", "-p", "80", "-h", docroot]
    )
    direct = subprocess.Popen(
        ["/bin/busybox", "httpd", "-f", "-p", f"127.0.0.1:{direct_port}", "-h", docroot]
    )
    try:
        wait_listening(["nsenter", f"--net={path}", "/bin/busybox"], 80)
        wait_listening(["/bin/busybox"], direct_port)
        published = wrk(f"http://127.0.0.1:{port}/", seconds)
        plain = wrk(f"http://127.0.0.1:{direct_port}/", seconds)
    finally:
        for proc in (inside, direct):
            proc.kill()
            proc.wait()
        service.sandbox_remove(cid)
    return published, plain


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/network needs root", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="dockyard-bench-net-")
    docroot = os.path.join(tmp, "www")
    os.makedirs(docroot)
    with open(os.path.join(docroot, "index.html"), "w") as f:
        f.write("x" * 612)  # the size of nginx's welcome page
    subnet = free_subnet()
    service = NetworkService(
        os.path.join(tmp, "root"),
        os.path.join(tmp, "exec"),
        default_bridge_name="dybench" + secrets.token_hex(2),
        default_bridge_subnet=subnet.replace("0/24", "1/24"),
        dns_forwarders=[],
    )
    try:
        setup = bench_setup(service, args.count)
        published, plain = bench_port(service, args.seconds, docroot)
    finally:
        service.destroy_all()
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"network set-up per container ({args.count} containers, load average {load:.1f}):")
    print(f"  default bridge (netns + veth + address + route): {ms(setup['bridge'])}")
    print(f"  --network none (netns, lo up):                   {ms(setup['none'])}")
    bridge_only = statistics.median(setup["bridge"]) - statistics.median(setup["none"])
    print(f"  bridge cost over none:                           {bridge_only * 1000:.2f} ms")
    print(f"  teardown on the bridge:                          {ms(setup['teardown'])}")
    print(f"published port, busybox httpd, wrk -t2 -c32 -d{args.seconds}s:")
    print(f"  via published port 127.0.0.1 (DNAT): {published:.0f} req/s")
    print(f"  direct on the host:                  {plain:.0f} req/s")
    print(f"  ratio published/direct:              {published / plain * 100:.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
