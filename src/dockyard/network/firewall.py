"""Packet filter rules for bridge networks and published ports (iptables, our own chains).

Mechanism for published ports: kernel DNAT only, no userland proxy. Docker's default pairs
DNAT with docker-proxy for loopback; we instead DNAT in nat PREROUTING *and* OUTPUT (for
destinations of type LOCAL, 127.0.0.1 included), set `route_localnet=1` on the bridge so
loopback-sourced packets may be routed to it, and MASQUERADE host-sourced packets leaving
through the bridge (Docker's `userland-proxy: false` mode). Why: the rules live in the kernel,
so running containers keep their ports across a daemon crash or restart with nothing to
respawn, and forwarding costs no user-space copy (a Python proxy would fall far short of the
80%-of-direct request rate goal). The price: a host port we publish is reserved in our
allocation table, not by a bound socket; `publish` refuses a port some host process already
listens on (probed with bind()), as Docker does.

Tool: the `iptables` (nf_tables backend here) commands through subprocess, only when a network
is created or removed and when ports are published or withdrawn; each such change is one
`iptables-restore --noflush` call. Per-container veth and namespace work never runs a process.

Chains (all prefixed DOCKYARD so they never touch Docker's own):
  filter FORWARD -> DOCKYARD-FORWARD -> DOCKYARD-ISOLATION-STAGE-1 -> DOCKYARD-ISOLATION-STAGE-2
         and DOCKYARD (accepts for published ports)
  nat PREROUTING/OUTPUT (dst-type LOCAL) -> DOCKYARD (DNAT per published port)
  nat POSTROUTING -> DOCKYARD-POSTROUTING (masquerade per network, hairpin per port)
Isolation is Docker's two-stage scheme: a packet coming in from one of our bridges and going
out of another is dropped. An --internal network drops everything that enters or leaves it.
"""

from __future__ import annotations

import ipaddress
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.errors import SystemError_

FORWARD = "DOCKYARD-FORWARD"
ISOLATION_1 = "DOCKYARD-ISOLATION-STAGE-1"
ISOLATION_2 = "DOCKYARD-ISOLATION-STAGE-2"
PORTS = "DOCKYARD"
POSTROUTING = "DOCKYARD-POSTROUTING"

_CHAINS = {
    "filter": (FORWARD, ISOLATION_1, ISOLATION_2, PORTS),
    "nat": (PORTS, POSTROUTING),
}
_JUMPS = (
    ("filter", "FORWARD", ["-j", FORWARD]),
    ("filter", FORWARD, ["-j", ISOLATION_1]),
    ("nat", "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", PORTS]),
    ("nat", "OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", PORTS]),
    ("nat", "POSTROUTING", ["-j", POSTROUTING]),
)

_lock = threading.Lock()


@dataclass(frozen=True)
class Rule:
    """One iptables rule: table, chain and match/target arguments."""

    table: str
    chain: str
    args: tuple[str, ...]

    def line(self, op: str) -> str:
        return " ".join([op, self.chain, *self.args])


def _run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True)


def setup_base() -> None:
    """Create our chains and the jumps into them, once; idempotent and safe to repeat."""
    with _lock:
        for table, chains in _CHAINS.items():
            existing = _run(["iptables", "-w", "-t", table, "-S"]).stdout
            for chain in chains:
                if f"-N {chain}\n" not in existing:
                    res = _run(["iptables", "-w", "-t", table, "-N", chain])
                    if res.returncode != 0 and "exists" not in res.stderr:
                        raise SystemError_(f"iptables: cannot create chain {chain}: {res.stderr}")
        for table, chain, args in _JUMPS:
            if _run(["iptables", "-w", "-t", table, "-C", chain, *args]).returncode != 0:
                res = _run(["iptables", "-w", "-t", table, "-I", chain, "1", *args])
                if res.returncode != 0:
                    raise SystemError_(f"iptables: {res.stderr.strip()}")
            # two daemons starting at once may both have inserted the jump: keep one
            line = " ".join(["-A", chain, *args])
            extra = list_rules(table, chain).count(line) - 1
            for _ in range(max(extra, 0)):
                _run(["iptables", "-w", "-t", table, "-D", chain, *args])


def _restore(table_lines: dict[str, list[str]]) -> subprocess.CompletedProcess:
    text = []
    for table, lines in table_lines.items():
        if lines:
            text.append(f"*{table}")
            text.extend(lines)
            text.append("COMMIT")
    return _run(["iptables-restore", "-w", "--noflush"], "\n".join(text) + "\n")


def add_rules(rules: Iterable[Rule]) -> None:
    """Append all rules in one transaction; none is added when one is wrong."""
    by_table: dict[str, list[str]] = {}
    for rule in rules:
        by_table.setdefault(rule.table, []).append(rule.line("-A"))
    if not by_table:
        return
    with _lock:
        res = _restore(by_table)
    if res.returncode != 0:
        raise SystemError_(f"iptables-restore failed: {res.stderr.strip()}")


def delete_rules(rules: Iterable[Rule]) -> None:
    """Delete rules; ones already gone are skipped."""
    rules = list(rules)
    if not rules:
        return
    by_table: dict[str, list[str]] = {}
    for rule in rules:
        by_table.setdefault(rule.table, []).append(rule.line("-D"))
    with _lock:
        if _restore(by_table).returncode == 0:
            return
        for rule in rules:  # some were missing: delete one by one
            _run(["iptables", "-w", "-t", rule.table, "-D", rule.chain, *rule.args])


def has_rule(rule: Rule) -> bool:
    return _run(["iptables", "-w", "-t", rule.table, "-C", rule.chain, *rule.args]).returncode == 0


def ensure_rules(rules: Iterable[Rule]) -> None:
    """Add whichever of `rules` are missing (start-up after a reboot or a crash)."""
    add_rules([r for r in rules if not has_rule(r)])


def list_rules(table: str, chain: str) -> list[str]:
    res = _run(["iptables", "-w", "-t", table, "-S", chain])
    return [line for line in res.stdout.splitlines() if line.startswith("-A ")]


def network_rules(bridge: str, subnet: str, internal: bool) -> list[Rule]:
    """Rules of one bridge network: masquerade, forwarding, isolation (or internal drops)."""
    if internal:
        return [
            Rule("filter", ISOLATION_1, ("-i", bridge, "!", "-d", subnet, "-j", "DROP")),
            Rule("filter", ISOLATION_1, ("!", "-s", subnet, "-o", bridge, "-j", "DROP")),
            Rule("filter", FORWARD, ("-i", bridge, "-o", bridge, "-j", "ACCEPT")),
        ]
    return [
        Rule("nat", POSTROUTING, ("-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE")),
        Rule(
            "nat",
            POSTROUTING,
            ("-o", bridge, "-m", "addrtype", "--src-type", "LOCAL", "-j", "MASQUERADE"),
        ),
        Rule("filter", ISOLATION_1, ("-i", bridge, "!", "-o", bridge, "-j", ISOLATION_2)),
        Rule("filter", ISOLATION_2, ("-o", bridge, "-j", "DROP")),
        Rule(
            "filter",
            FORWARD,
            ("-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
        ),
        Rule("filter", FORWARD, ("-o", bridge, "-j", PORTS)),
        Rule("filter", FORWARD, ("-i", bridge, "!", "-o", bridge, "-j", "ACCEPT")),
        Rule("filter", FORWARD, ("-i", bridge, "-o", bridge, "-j", "ACCEPT")),
    ]


def _port_match(proto: str, port: int) -> tuple[str, ...]:
    return ("-p", proto, "-m", proto, "--dport", str(port))


def published_port_rules(bridge: str, port: dict) -> list[Rule]:
    """port_rules of a published port as sandbox records keep it (Proto, HostIp, HostPort,
    ContainerIP, ContainerPort)."""
    return port_rules(
        bridge,
        port["Proto"],
        port["HostIp"],
        port["HostPort"],
        port["ContainerIP"],
        port["ContainerPort"],
    )


def port_rules(
    bridge: str, proto: str, host_ip: str, host_port: int, container_ip: str, container_port: int
) -> list[Rule]:
    """DNAT of host_ip:host_port to the container, its forward accept and hairpin masquerade."""
    match_dst = () if host_ip in ("", "0.0.0.0") else ("-d", f"{host_ip}/32")
    return [
        Rule(
            "nat",
            PORTS,
            (
                *match_dst,
                *_port_match(proto, host_port),
                "-j",
                "DNAT",
                "--to-destination",
                f"{container_ip}:{container_port}",
            ),
        ),
        Rule(
            "filter",
            PORTS,
            (
                "-d",
                f"{container_ip}/32",
                "!",
                "-i",
                bridge,
                "-o",
                bridge,
                *_port_match(proto, container_port),
                "-j",
                "ACCEPT",
            ),
        ),
        Rule(
            "nat",
            POSTROUTING,
            (
                "-s",
                f"{container_ip}/32",
                "-d",
                f"{container_ip}/32",
                *_port_match(proto, container_port),
                "-j",
                "MASQUERADE",
            ),
        ),
    ]


PORT_CHAINS = (("nat", PORTS), ("filter", PORTS), ("nat", POSTROUTING))


def port_rule_target(fields: list[str]) -> tuple[str, int] | None:
    """The (container ip, container port) a published-port rule (as `iptables -S` prints
    it) leads to; None for other rules (network masquerade, jumps)."""
    try:
        if "--to-destination" in fields:
            ip, _, port = fields[fields.index("--to-destination") + 1].rpartition(":")
            return ip, int(port)
        if "-d" in fields and "--dport" in fields:
            dest = fields[fields.index("-d") + 1]
            if dest.endswith("/32") and ("ACCEPT" in fields or "MASQUERADE" in fields):
                return dest.removesuffix("/32"), int(fields[fields.index("--dport") + 1])
    except (ValueError, IndexError):
        return None
    return None


def _orphaned(fields: list[str], links: set[str], networks: list) -> bool:
    """A rule of ours that can never match again: its bridge or its container subnet is gone."""
    for flag in ("-i", "-o"):
        if flag in fields and fields[fields.index(flag) + 1] not in links:
            return True
    target = port_rule_target(fields)
    if target is not None:
        address = ipaddress.ip_address(target[0])
        return not any(address in n for n in networks)
    return False


def remove_orphan_rules(links: set[str], networks: list) -> int:
    """Delete rules of our chains left by daemons that went without cleaning up (a test run
    killed, a bridge deleted by hand): rules naming a link that does not exist, or port rules
    into an address no local network holds. Returns how many went."""
    removed = 0
    for table, chains in _CHAINS.items():
        for chain in chains:
            stale = [
                Rule(table, chain, tuple(line.split()[2:]))
                for line in list_rules(table, chain)
                if _orphaned(line.split(), links, networks)
            ]
            delete_rules(stale)
            removed += len(stale)
    return removed


def enable_ip_forward() -> None:
    """Containers reach out through the host: Docker turns IPv4 forwarding on, so do we."""
    with open("/proc/sys/net/ipv4/ip_forward", "r+") as f:
        if f.read().strip() != "1":
            f.seek(0)
            f.write("1")
