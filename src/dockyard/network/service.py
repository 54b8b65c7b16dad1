"""NetworkService: networks, sandboxes and endpoints of containers, with Docker's shapes.

The one entry point the containers service and the API use. It owns `root` (persisted records:
`networks/<id>.json`, `sandboxes/<container id>.json`, each written atomically) and
`exec_root/netns/` (the namespace files). Address leases and published ports are stored in the
sandbox record of the container that holds them, so one atomic write commits a connect; the
IPAM allocators and the host port table are rebuilt from those records at start-up.

All methods block (netlink, iptables): the asyncio daemon calls them from any worker thread
(`asyncio.to_thread`). Each public call runs on the service's one own thread, because pyroute2
sockets (the host's and those inside container namespaces) belong to the thread that uses them
first; this also serialises changes. The embedded DNS thread reads the records under a lock.

Typical container life: `sandbox_create(id)` -> `connect(net, id, name, publish=..., ...)` per
network (ports with the first bridge network) -> `write_hosts/write_resolv_conf/
write_hostname` -> start the container in the namespace at the returned path -> on removal
`sandbox_remove(id)`. `--network host`: `connect("host", ...)` only, no sandbox;
`--network none`: `sandbox_create` + `connect("none", ...)`; `--network container:X`: use
`sandbox_path(X)`.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import itertools
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyroute2 import IPRoute

from dockyard.errors import Conflict, Forbidden, InvalidParameter, NotFound, SystemError_
from dockyard.faults import crash_point
from dockyard.network import etcfiles, firewall, ipam, links, netns, views
from dockyard.network.dns import DnsServer
from dockyard.network.portmap import HostPortTable
from dockyard.network.ports import PortBinding, exposed_bindings
from dockyard.network.store import NetworkStore

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
PREDEFINED = ("bridge", "host", "none")
SHORT = 12
T = TypeVar("T")


def _on_worker(method: Callable[..., T]) -> Callable[..., T]:
    """Run a public method on the service's own thread (pyroute2 sockets are per thread)."""

    @functools.wraps(method)
    def call(self: NetworkService, *args: Any, **kwargs: Any) -> T:
        if threading.get_ident() == self._worker_ident:
            return method(self, *args, **kwargs)
        if self._closed:
            raise RuntimeError("the network service is closed")
        return self._worker.submit(method, self, *args, **kwargs).result()

    return call


def _now() -> str:
    return (
        datetime.datetime.now(datetime.UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def _new_id() -> str:
    return secrets.token_hex(32)


def _dns_names(name: str, aliases: list[str], container_id: str, hostname: str | None) -> list:
    """Docker's DNSNames of an endpoint: name, aliases, short id, hostname, without repeats."""
    names = [name, *aliases, container_id[:SHORT], hostname or ""]
    return [n for n in dict.fromkeys(names) if n]


@dataclass
class Endpoint:
    """A container's attachment to one network."""

    network_id: str
    network_name: str
    endpoint_id: str
    container_id: str
    container_name: str
    ip_address: str = ""
    prefixlen: int = 0
    gateway: str = ""
    mac_address: str = ""
    ifname: str = ""
    host_ifname: str = ""
    aliases: list[str] = field(default_factory=list)


class NetworkService:
    """Docker's networks on this host: bridge driver, IPAM, ports, DNS, sandboxes."""

    def __init__(
        self,
        root: str,
        exec_root: str,
        *,
        default_bridge_name: str = "dockyard0",
        default_bridge_subnet: str | None = None,
        default_address_pools: Iterable[dict] | None = None,
        dns_forwarders: list[str] | None = None,
        host_resolv_conf: str = "/etc/resolv.conf",
    ) -> None:
        self.root = root
        self.exec_root = exec_root
        self.netns_dir = os.path.join(exec_root, "netns")
        self._store = NetworkStore(root)
        os.makedirs(self.netns_dir, exist_ok=True)
        self._pools = ipam.pools_from_config(default_address_pools)
        self._dns_forwarders = dns_forwarders
        self._host_resolv_conf = host_resolv_conf
        self._lock = threading.RLock()
        self._closed = False
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="network")
        self._reaper = links.LinkReaper()
        self._worker_ident = self._worker.submit(threading.get_ident).result()
        self._networks: dict[str, dict] = {}
        self._sandboxes: dict[str, dict] = {}
        self._allocators: dict[str, ipam.AddressAllocator] = {}
        self._host_ports = HostPortTable()
        self._rr = itertools.count()
        # per sandbox: a netlink socket (later its IPRoute) inside its namespace, and its DNS
        # socket until it is served
        self._ns_links: dict[str, IPRoute | socket.socket] = {}
        self._ns_dns: dict[str, netns.DnsSockets] = {}
        self._bridge_indexes: dict[str, int] = {}
        try:
            self._worker.submit(self._start, default_bridge_name, default_bridge_subnet).result()
        except BaseException:
            self._worker.shutdown(wait=True)
            raise

    def _start(self, default_bridge_name: str, default_bridge_subnet: str | None) -> None:
        self._ipr = IPRoute()
        firewall.setup_base()
        self._load()
        self._ensure_predefined(default_bridge_name, default_bridge_subnet)
        firewall.remove_orphan_rules(links.link_names(self._ipr), links.local_networks(self._ipr))
        self._dns = DnsServer(self._dns_lookup, self._dns_upstreams)
        for cid, sandbox in self._sandboxes.items():
            self._ensure_dns_listener(cid, sandbox)

    # ----- start-up ---------------------------------------------------------------------

    def _load(self) -> None:
        for record in self._store.networks():
            if record.pop("Creating", False):
                self._tear_down(record)
                self._store.delete_network(record["Id"])
                continue
            self._networks[record["Id"]] = record
            self._make_allocator(record)
        for record in self._store.sandboxes():
            self._sandboxes[record["ContainerID"]] = record
            for net_id, ep in record["Endpoints"].items():
                if ep.get("IPAddress") and net_id in self._allocators:
                    self._allocators[net_id].take(ipaddress.ip_address(ep["IPAddress"]))
            for port in record.get("Ports", []):
                self._host_ports.hold(
                    port["Proto"], port["HostIp"], port["HostPort"], record["ContainerID"]
                )

    def _make_allocator(self, record: dict) -> None:
        if record["Driver"] != "bridge":
            return
        self._allocators[record["Id"]] = ipam.AddressAllocator(
            ipaddress.ip_network(record["Subnet"]),
            ipaddress.ip_address(record["Gateway"]),
            ipaddress.ip_network(record["IPRange"]) if record.get("IPRange") else None,
            f"{record['Name']} ({record['Id'][:SHORT]})",
        )

    def _ensure_predefined(self, bridge_name: str, bridge_subnet: str | None) -> None:
        names = {n["Name"] for n in self._networks.values()}
        if "bridge" not in names and bridge_name not in ("", "none"):  # dockerd --bridge=none
            # A bridge that exists already keeps its address, as dockerd adopts docker0's:
            # a second address is never stacked on it.
            existing = links.ipv4_addresses(self._ipr, bridge_name)
            if bridge_subnet:
                iface = ipaddress.ip_interface(bridge_subnet)
                subnet, gateway = iface.network, iface.ip
                if gateway == subnet.network_address:
                    gateway = ipam.default_gateway(subnet)
                if existing and all(a.ip != gateway for a in existing):
                    raise InvalidParameter(
                        f"bridge IPv4 ({existing[0].ip}) does not match requested "
                        f"configuration {gateway}"
                    )
            elif existing:
                subnet, gateway = existing[0].network, existing[0].ip
            else:
                taken = [ipaddress.ip_network(n["Subnet"]) for n in self._bridge_networks()]
                subnet = ipam.choose_subnet(
                    [ipam.AddressPool("172.17.0.0/16", 16), *self._pools],
                    taken,
                    links.host_routes(self._ipr),
                )
                gateway = ipam.default_gateway(subnet)
            options = {
                "com.docker.network.bridge.default_bridge": "true",
                "com.docker.network.bridge.enable_icc": "true",
                "com.docker.network.bridge.enable_ip_masquerade": "true",
                "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                BRIDGE_NAME_OPTION: bridge_name,
                "com.docker.network.driver.mtu": "1500",
            }
            self._create_record(
                "bridge", "bridge", subnet, gateway, None, False, {}, options, False, False
            )
        for name, driver in (("host", "host"), ("none", "null")):
            if name not in names:
                record = self._base_record(name, driver, False, {}, {}, False)
                self._store.save_network(record)
                self._networks[record["Id"]] = record
        for record in self._bridge_networks():
            self._bring_up(record, rollback=False)

    def _bridge_networks(self) -> list[dict]:
        return [n for n in self._networks.values() if n["Driver"] == "bridge"]

    # ----- networks ---------------------------------------------------------------------

    def _base_record(
        self, name: str, driver: str, internal: bool, labels: dict, options: dict, attachable: bool
    ) -> dict:
        return {
            "Name": name,
            "Id": _new_id(),
            "Created": _now(),
            "Driver": driver,
            "Internal": internal,
            "Attachable": attachable,
            "Labels": dict(labels),
            "Options": dict(options),
            "Subnet": "",
            "Gateway": "",
            "IPRange": "",
            "UserSubnet": False,
            "UserGateway": False,
            "Bridge": "",
        }

    def _create_record(
        self,
        name: str,
        driver: str,
        subnet: ipaddress.IPv4Network,
        gateway: ipaddress.IPv4Address,
        ip_range: ipaddress.IPv4Network | None,
        internal: bool,
        labels: dict,
        options: dict,
        attachable: bool,
        user_subnet: bool,
        user_gateway: bool = False,
    ) -> dict:
        record = self._base_record(name, driver, internal, labels, options, attachable)
        record.update(
            Subnet=str(subnet),
            Gateway=str(gateway),
            IPRange=str(ip_range) if ip_range else "",
            UserSubnet=user_subnet,
            UserGateway=user_gateway,
            Bridge=options.get(BRIDGE_NAME_OPTION) or "br-" + record["Id"][:SHORT],
        )
        kind = links.link_kind(self._ipr, record["Bridge"])
        if kind is not None and kind != "bridge":
            raise Conflict(f"cannot use {record['Bridge']} as a bridge: it is a {kind} link")
        record["Adopted"] = kind == "bridge"  # a bridge made by someone else stays at removal
        # Recorded as in creation before the host changes: start-up tears down what a crash
        # in between left (a bridge and rules no record would otherwise claim).
        self._store.save_network({**record, "Creating": True})
        try:
            self._bring_up(record, rollback=False)  # torn down below on any failure
            crash_point("network.create.up")
            self._store.save_network(record)
        except BaseException:
            self._tear_down(record)
            self._store.delete_network(record["Id"])
            raise
        self._networks[record["Id"]] = record
        self._make_allocator(record)
        return record

    def _bring_up(self, record: dict, rollback: bool = True) -> None:
        """The bridge, its address and its firewall rules (idempotent).

        `rollback`: undo on failure (a new network); not for networks that may be in use.
        """
        subnet = ipaddress.ip_network(record["Subnet"])
        try:
            links.ensure_bridge(
                self._ipr,
                record["Bridge"],
                ipaddress.ip_address(record["Gateway"]),
                subnet.prefixlen,
                route_localnet=not record["Internal"],
            )
            firewall.ensure_rules(
                firewall.network_rules(record["Bridge"], str(subnet), record["Internal"])
            )
            if not record["Internal"]:
                firewall.enable_ip_forward()
        except BaseException:
            if rollback:
                self._tear_down(record)
            raise

    def _bridge_index(self, record: dict) -> int:
        index = self._bridge_indexes.get(record["Bridge"])
        if index is None:
            index = links.link_index(self._ipr, record["Bridge"])
            if index is None:
                raise NotFound(f"bridge {record['Bridge']} of network {record['Name']} is gone")
            self._bridge_indexes[record["Bridge"]] = index
        return index

    def _tear_down(self, record: dict) -> None:
        self._bridge_indexes.pop(record["Bridge"], None)
        firewall.delete_rules(
            firewall.network_rules(record["Bridge"], record["Subnet"], record["Internal"])
        )
        if not record.get("Adopted"):
            links.delete_link(self._ipr, record["Bridge"])

    @_on_worker
    def create(
        self,
        name: str,
        driver: str = "bridge",
        subnet: str | None = None,
        gateway: str | None = None,
        ip_range: str | None = None,
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        attachable: bool = False,
        enable_ipv6: bool = False,
    ) -> dict:
        """`docker network create`; returns `{"Id": ..., "Warning": ""}`."""
        if not name:
            raise InvalidParameter("network name must not be empty")
        driver = driver or "bridge"
        options = dict(options or {})
        with self._lock:
            if any(n["Name"] == name for n in self._networks.values()):
                raise Conflict(f"network with name {name} already exists")
            if driver in ("host", "null"):
                raise Forbidden(f'only one instance of "{driver}" network is allowed')
            if driver != "bridge":
                raise NotFound(f'plugin "{driver}" not found')
            if enable_ipv6:
                raise InvalidParameter("IPv6 networks are not supported by dockyard")
            bridge = options.get(BRIDGE_NAME_OPTION)
            if bridge is not None:
                if (
                    len(bridge.encode(errors="surrogateescape")) not in range(1, 16)
                    or bridge in (".", "..")
                    or any(c in "/:\0" or c.isspace() for c in bridge)
                ):  # Linux's dev_valid_name (and IFNAMSIZ)
                    raise InvalidParameter(f"invalid bridge name: {bridge!r}")
                if any(n["Bridge"] == bridge for n in self._networks.values()):
                    raise Conflict(f"bridge name {bridge} is already in use by another network")
            taken = [ipaddress.ip_network(n["Subnet"]) for n in self._bridge_networks()]
            if subnet:
                net = ipam.parse_subnet(subnet)
                ipam.check_user_subnet(net, taken)
            else:
                if gateway or ip_range:
                    what = "gateway" if gateway else "ip-range"
                    raise InvalidParameter(f"{what} requires a --subnet")
                net = ipam.choose_subnet(self._pools, taken, links.host_routes(self._ipr))
            if gateway:
                gw = ipam.parse_address(gateway)
                if gw not in net or gw in (net.network_address, net.broadcast_address):
                    raise InvalidParameter(f"no matching subnet for gateway {gateway}")
            else:
                gw = ipam.default_gateway(net)
            rng = None
            if ip_range:
                rng = ipam.parse_subnet(ip_range)
                if not rng.subnet_of(net):
                    raise InvalidParameter(f"no matching subnet for ip-range {ip_range}")
            record = self._create_record(
                name,
                "bridge",
                net,
                gw,
                rng,
                internal,
                dict(labels or {}),
                options,
                attachable,
                user_subnet=bool(subnet),
                user_gateway=bool(gateway),
            )
            return {"Id": record["Id"], "Warning": ""}

    def _find(self, id_or_name: str) -> dict:
        nets = self._networks
        if id_or_name in nets:
            return nets[id_or_name]
        for n in nets.values():
            if n["Name"] == id_or_name:
                return n
        matches = [n for n in nets.values() if n["Id"].startswith(id_or_name)] if id_or_name else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidParameter(
                f"network {id_or_name} is ambiguous ({len(matches)} matches found based on ID prefix)"
            )
        raise NotFound(f"network {id_or_name} not found")

    def _members(self, net_id: str) -> list[tuple[str, dict, dict]]:
        """(container id, sandbox, endpoint) of every container on the network."""
        return [
            (cid, sb, sb["Endpoints"][net_id])
            for cid, sb in self._sandboxes.items()
            if net_id in sb["Endpoints"]
        ]

    @_on_worker
    def inspect(self, id_or_name: str) -> dict:
        """`GET /networks/{id}`."""
        with self._lock:
            return self._render(self._find(id_or_name))

    def _render(self, record: dict) -> dict:
        members = [(cid, ep) for cid, _sb, ep in self._members(record["Id"])]
        return views.network_view(record, members)

    @_on_worker
    def list(self, filters: Mapping[str, Iterable[str]] | None = None) -> list[dict]:
        """`GET /networks` with Docker's filters: name, id, driver, label, type, scope, dangling."""
        filters = {k: list(v) for k, v in (filters or {}).items()}
        with self._lock:
            result = []
            for record in sorted(self._networks.values(), key=lambda n: n["Created"]):
                if self._matches(record, filters):
                    result.append(self._render(record))
            return result

    def _matches(self, record: dict, filters: dict[str, list[str]]) -> bool:
        def any_of(key: str, test) -> bool:
            values = filters.get(key)
            return not values or any(test(v) for v in values)

        def label_ok(v: str) -> bool:
            key, sep, value = v.partition("=")
            return key in record["Labels"] and (not sep or record["Labels"][key] == value)

        builtin = record["Name"] in PREDEFINED
        dangling = not self._members(record["Id"])
        return (
            any_of("name", lambda v: v in record["Name"])
            and any_of("id", lambda v: record["Id"].startswith(v))
            and any_of("driver", lambda v: v == record["Driver"])
            and all(label_ok(v) for v in filters.get("label", []))
            and any_of("type", lambda v: v == ("builtin" if builtin else "custom"))
            and any_of("scope", lambda v: v == "local")
            and any_of("dangling", lambda v: (v.lower() in ("true", "1")) == dangling)
        )

    @_on_worker
    def remove(self, id_or_name: str) -> None:
        """`docker network rm`."""
        with self._lock:
            record = self._find(id_or_name)
            if record["Name"] in PREDEFINED:
                raise Forbidden(f"{record['Name']} is a pre-defined network and cannot be removed")
            members = self._members(record["Id"])
            if members:
                details = " ".join(
                    f'(name:"{ep["Name"]}" id:"{cid[:SHORT]}")' for cid, _sb, ep in members
                )
                raise Forbidden(
                    f"error while removing network: network {record['Name']} has active "
                    f"endpoints {details}"
                )
            self._tear_down(record)
            crash_point("network.remove.torn_down")
            self._store.delete_network(record["Id"])
            del self._networks[record["Id"]]
            self._allocators.pop(record["Id"], None)

    @_on_worker
    def prune(self, filters: Mapping[str, Iterable[str]] | None = None) -> dict:
        """`POST /networks/prune`: user networks without containers; label filters apply."""
        filters = {k: list(v) for k, v in (filters or {}).items() if k in ("label", "label!")}
        deleted = []
        with self._lock:
            for record in list(self._networks.values()):
                if record["Name"] in PREDEFINED or self._members(record["Id"]):
                    continue
                if not all(self._matches(record, {"label": [f]}) for f in filters.get("label", [])):
                    continue
                if any(self._matches(record, {"label": [f]}) for f in filters.get("label!", [])):
                    continue
                self.remove(record["Id"])
                deleted.append(record["Name"])
        return {"NetworksDeleted": deleted}

    # ----- sandboxes --------------------------------------------------------------------

    def _save_sandbox(self, sandbox: dict) -> None:
        self._store.save_sandbox(sandbox)

    def _new_sandbox(self, container_id: str, netns_path: str, owned: bool) -> dict:
        return {
            "ContainerID": container_id,
            "SandboxID": _new_id(),
            "NetnsPath": netns_path,
            "Owned": owned,
            "Endpoints": {},
            "Ports": [],
            "Exposed": [],
            "Dns": [],
        }

    @_on_worker
    def sandbox_create(self, container_id: str) -> str:
        """A network namespace for the container (loopback up); returns its path."""
        with self._lock:
            if container_id in self._sandboxes:
                return self._sandboxes[container_id]["NetnsPath"]
            path = os.path.join(self.netns_dir, container_id[:SHORT])
            if os.path.exists(path):
                netns.remove_netns(path)  # a leftover of a crash before the record was written
            nl_sock, dns_socks = netns.create_netns(path, with_dns=True)
            sandbox = self._new_sandbox(container_id, path, owned=True)
            try:
                self._save_sandbox(sandbox)
            except BaseException:
                nl_sock.close()
                for sock in dns_socks:
                    sock.close()
                netns.remove_netns(path)
                raise
            self._ns_links[container_id] = nl_sock
            self._ns_dns[container_id] = dns_socks
            self._sandboxes[container_id] = sandbox
            return path

    @_on_worker
    def sandbox_path(self, container: str) -> str | None:
        """The namespace path of a container (for `--network container:X`), or None.

        `container` is a full id, a unique id prefix or a container name on one of its
        networks.
        """
        with self._lock:
            sandbox = self._sandboxes.get(container)
            if sandbox is None:
                name = container.lstrip("/")
                found = [
                    sb
                    for cid, sb in self._sandboxes.items()
                    if cid.startswith(container)
                    or any(ep["Name"] == name for ep in sb["Endpoints"].values())
                ]
                sandbox = found[0] if len(found) == 1 else None
            return sandbox["NetnsPath"] or None if sandbox else None

    @_on_worker
    def interface_stats(self, container_id: str) -> dict[str, dict[str, int]]:
        """Per-interface counters for `docker stats` ({"eth0": {"rx_bytes": ...}}).

        Read from the host side of each veth, whose transmit is the container's receive.
        """
        with self._lock:
            sandbox = self._sandboxes.get(container_id)
            endpoints = list(sandbox["Endpoints"].values()) if sandbox else []
        result = {}
        for ep in endpoints:
            if not ep.get("HostIfName"):
                continue
            index = links.link_index(self._ipr, ep["HostIfName"])
            if index is None:
                continue
            stats = self._ipr.link("get", index=index)[0].get_attr("IFLA_STATS64") or {}
            result[ep["IfName"]] = {
                "rx_bytes": stats.get("tx_bytes", 0),
                "rx_packets": stats.get("tx_packets", 0),
                "rx_errors": stats.get("tx_errors", 0),
                "rx_dropped": stats.get("tx_dropped", 0),
                "tx_bytes": stats.get("rx_bytes", 0),
                "tx_packets": stats.get("rx_packets", 0),
                "tx_errors": stats.get("rx_errors", 0),
                "tx_dropped": stats.get("rx_dropped", 0),
            }
        return result

    @_on_worker
    def sandbox_remove(self, container_id: str) -> None:
        """Disconnect every endpoint, drop ports and DNS, delete the namespace and the record."""
        with self._lock:
            sandbox = self._sandboxes.get(container_id)
            if sandbox is None:
                return
            for net_id in list(sandbox["Endpoints"]):
                self._detach(sandbox, net_id, save=False, teardown=True)
            self._dns.unlisten(container_id)
            self._release_ns_handles(container_id)
            if sandbox["Owned"] and sandbox["NetnsPath"]:
                netns.remove_netns(sandbox["NetnsPath"])
            self._store.delete_sandbox(container_id)
            del self._sandboxes[container_id]

    def _ns_ipr(self, sandbox: dict) -> IPRoute:
        """The IPRoute inside a sandbox's namespace (made by joining it after a restart)."""
        cid = sandbox["ContainerID"]
        nsr = self._ns_links.get(cid)
        if nsr is None:
            nsr = netns.netlink_socket(sandbox["NetnsPath"])
        if isinstance(nsr, socket.socket):
            nsr = links.netns_ipr(nsr)
            self._ns_links[cid] = nsr
        return nsr

    def _release_ns_handles(self, container_id: str) -> None:
        nsr = self._ns_links.pop(container_id, None)
        if nsr is not None:
            nsr.close()  # an IPRoute closes the socket it was given
        for sock in self._ns_dns.pop(container_id, ()):
            sock.close()

    # ----- endpoints --------------------------------------------------------------------

    @_on_worker
    def connect(
        self,
        network: str,
        container_id: str,
        container_name: str,
        *,
        aliases: Iterable[str] = (),
        ipv4_address: str | None = None,
        netns_path: str | None = None,
        publish: Iterable[PortBinding] = (),
        exposed: Iterable[str] = (),
        publish_all: bool = False,
        mac_address: str | None = None,
        hostname: str | None = None,
    ) -> Endpoint:
        """Attach a container to a network (at create time or while it runs).

        `publish`/`exposed`/`publish_all` (-p, EXPOSE, -P) are applied on this endpoint; pass
        them with the container's first bridge network, as Docker binds ports there.
        On user-defined networks the DNS names are Docker's: the name, the aliases, the short
        id and the `hostname`.
        """
        container_name = container_name.lstrip("/")
        aliases = [a for a in aliases if a]
        with self._lock:
            record = self._find(network)
            net_id = record["Id"]
            sandbox = self._sandboxes.get(container_id)
            if sandbox is None:
                sandbox = self._new_sandbox(container_id, netns_path or "", owned=False)
            if net_id in sandbox["Endpoints"]:
                raise Forbidden(
                    f"endpoint with name {container_name} already exists in network "
                    f"{record['Name']}"
                )
            drivers = {
                self._networks[n]["Driver"] for n in sandbox["Endpoints"] if n in self._networks
            }
            if record["Driver"] == "host" or "host" in drivers:
                if sandbox["Endpoints"]:
                    raise Forbidden(
                        "container cannot be disconnected from host network or connected to "
                        "host network"
                    )
            if record["Driver"] == "null" or "null" in drivers:
                if sandbox["Endpoints"]:
                    raise Forbidden(
                        "container cannot be connected to multiple networks with one of the "
                        "networks in private (none) mode"
                    )
            user_defined = record["Name"] not in PREDEFINED
            if aliases and not user_defined:
                raise InvalidParameter(
                    "network-scoped alias is supported only for containers in user defined networks"
                )
            if ipv4_address and not user_defined:
                raise InvalidParameter(
                    "user specified IP address is supported on user defined networks only"
                )
            if ipv4_address and not record.get("UserSubnet"):
                raise InvalidParameter(
                    "user specified IP address is supported only when connecting to networks "
                    "with user configured subnets"
                )
            ep = {
                "Name": container_name,
                "EndpointID": _new_id(),
                "NetworkName": record["Name"],
                "Aliases": aliases,
                "IPAMConfig": {"IPv4Address": ipv4_address} if ipv4_address else None,
                "IPAddress": "",
                "IPPrefixLen": 0,
                "Gateway": "",
                "MacAddress": "",
                "IfName": "",
                "HostIfName": "",
                "GatewayRoute": False,
                "DNSNames": _dns_names(container_name, aliases, container_id, hostname)
                if user_defined
                else None,
            }
            if record["Driver"] == "bridge":
                path = sandbox["NetnsPath"] or netns_path
                if not path:
                    raise InvalidParameter(
                        f"container {container_id[:SHORT]} has no network namespace "
                        "(call sandbox_create first)"
                    )
                sandbox["NetnsPath"] = path
                self._attach_bridge(record, sandbox, ep, ipv4_address, mac_address)
            sandbox["Endpoints"][net_id] = ep
            exposed_before = list(sandbox["Exposed"])
            try:
                bindings = list(publish)
                if publish_all:
                    bindings += exposed_bindings(exposed, bindings)
                sandbox["Exposed"] = sorted(
                    set(sandbox["Exposed"]) | set(exposed) | {b.key for b in bindings}
                )
                if bindings and record["Driver"] == "bridge" and not record["Internal"]:
                    self._publish(record, sandbox, ep, bindings)
                self._save_sandbox(sandbox)
            except BaseException:
                sandbox["Exposed"] = exposed_before
                self._detach(sandbox, net_id, save=False)
                raise
            self._sandboxes[container_id] = sandbox
            if user_defined and record["Driver"] == "bridge":
                self._ensure_dns_listener(container_id, sandbox)
            return self._endpoint(container_id, net_id, ep)

    def _endpoint(self, container_id: str, net_id: str, ep: dict) -> Endpoint:
        return Endpoint(
            network_id=net_id,
            network_name=ep["NetworkName"],
            endpoint_id=ep["EndpointID"],
            container_id=container_id,
            container_name=ep["Name"],
            ip_address=ep["IPAddress"],
            prefixlen=ep["IPPrefixLen"],
            gateway=ep["Gateway"],
            mac_address=ep["MacAddress"],
            ifname=ep["IfName"],
            host_ifname=ep["HostIfName"],
            aliases=list(ep["Aliases"]),
        )

    def _attach_bridge(
        self,
        record: dict,
        sandbox: dict,
        ep: dict,
        requested: str | None,
        mac_address: str | None = None,
    ) -> None:
        allocator = self._allocators[record["Id"]]
        address = allocator.allocate(ipam.parse_address(requested) if requested else None)
        mac = ipam.parse_mac(mac_address) if mac_address else ipam.mac_for(address)
        try:
            used = {e["IfName"] for e in sandbox["Endpoints"].values()}
            ifname = next(f"eth{i}" for i in itertools.count() if f"eth{i}" not in used)
            has_gateway = any(e.get("GatewayRoute") for e in sandbox["Endpoints"].values())
            wants_gateway = not record["Internal"] and not has_gateway
            gateway = ipaddress.ip_address(record["Gateway"])
            host_ifname = links.add_endpoint(
                self._ipr,
                self._ns_ipr(sandbox),
                bridge_index=self._bridge_index(record),
                netns_path=sandbox["NetnsPath"],
                ifname=ifname,
                mac=mac,
                address=address,
                prefixlen=allocator.subnet.prefixlen,
                gateway=gateway if wants_gateway else None,
            )
        except BaseException:
            allocator.release(address)
            raise
        ep.update(
            IPAddress=str(address),
            IPPrefixLen=allocator.subnet.prefixlen,
            Gateway=str(gateway),
            MacAddress=mac,
            IfName=ifname,
            HostIfName=host_ifname,
            GatewayRoute=wants_gateway,
        )

    @_on_worker
    def disconnect(self, network: str, container_id: str, force: bool = False) -> None:
        """Detach a container from a network: veth, lease, ports and DNS records go."""
        with self._lock:
            record = self._find(network)
            sandbox = self._sandboxes.get(container_id)
            if sandbox is None or record["Id"] not in sandbox["Endpoints"]:
                raise Forbidden(
                    f"container {container_id[:SHORT]} is not connected to network {record['Name']}"
                )
            if record["Driver"] == "host" and not force:
                raise Forbidden(
                    "container cannot be disconnected from host network or connected to host "
                    "network"
                )
            self._detach(sandbox, record["Id"], save=True)

    def _detach(self, sandbox: dict, net_id: str, *, save: bool, teardown: bool = False) -> None:
        """Undo one endpoint, tolerating kernel objects that are already gone.

        `teardown`: the whole sandbox goes, so no default route moves to another network.
        """
        ep = sandbox["Endpoints"].pop(net_id, None)
        if ep is None:
            return
        record = self._networks.get(net_id)
        mine = [p for p in sandbox["Ports"] if p["NetworkID"] == net_id]
        if mine:
            self._unpublish(sandbox, mine, record)
        address = ipaddress.ip_address(ep["IPAddress"]) if ep.get("IPAddress") else None
        if ep.get("HostIfName") and teardown:
            # the container is gone: delete its veth off this thread, free the lease after
            self._reaper.delete(
                ep["HostIfName"], functools.partial(self._release_lease, net_id, address)
            )
        else:
            if ep.get("HostIfName"):
                links.delete_link(self._ipr, ep["HostIfName"])
            self._release_lease(net_id, address)
        if ep.get("GatewayRoute") and not teardown:
            self._move_gateway(sandbox)
        if not self._user_bridge_endpoints(sandbox):
            self._dns.unlisten(sandbox["ContainerID"])
        if save and sandbox["ContainerID"] in self._sandboxes:
            self._save_sandbox(sandbox)

    def _release_lease(self, net_id: str, address: ipaddress.IPv4Address | None) -> None:
        if address is None:
            return
        with self._lock:
            allocator = self._allocators.get(net_id)
            if allocator is not None:
                allocator.release(address)

    def wait_idle(self) -> None:
        """Wait until the veths of removed containers are deleted and their leases freed."""
        self._reaper.wait()

    def _move_gateway(self, sandbox: dict) -> None:
        """The default-route endpoint went: route via another non-internal network, if any."""
        for net_id, ep in sandbox["Endpoints"].items():
            record = self._networks.get(net_id)
            if record and record["Driver"] == "bridge" and not record["Internal"]:
                try:
                    links.set_default_route(
                        self._ns_ipr(sandbox), ipaddress.ip_address(ep["Gateway"])
                    )
                    ep["GatewayRoute"] = True
                except Exception:  # noqa: BLE001 - the namespace may be going away
                    pass
                return

    def _user_bridge_endpoints(self, sandbox: dict) -> list[str]:
        return [
            n
            for n in sandbox["Endpoints"]
            if n in self._networks
            and self._networks[n]["Driver"] == "bridge"
            and self._networks[n]["Name"] not in PREDEFINED
        ]

    # ----- published ports --------------------------------------------------------------

    def _publish(self, record: dict, sandbox: dict, ep: dict, bindings: list[PortBinding]) -> None:
        added: list[dict] = []
        try:
            for b in bindings:
                host_ip = b.host_ip or "0.0.0.0"
                if b.host_ip and ipaddress.ip_address(b.host_ip).version != 4:
                    continue  # IPv6 host addresses: not supported, skipped as on an IPv4 host
                port = self._host_ports.pick(b.proto, host_ip, b.host_port_lo, b.host_port_hi)
                if port is None:
                    shown = (
                        b.host_port_lo
                        if b.host_port_lo == b.host_port_hi
                        else f"{b.host_port_lo}-{b.host_port_hi}"
                    )
                    if b.host_port_lo == 0:
                        shown = "0"
                    fixed = b.host_port_lo == b.host_port_hi != 0
                    if fixed and not self._host_ports.taken(b.proto, host_ip, b.host_port_lo):
                        # held by a host process: Docker's words when its proxy cannot listen
                        why = (
                            f"Error starting userland proxy: listen {b.proto}4 {host_ip}:{shown}: "
                            "bind: address already in use"
                        )
                    else:  # held by another container
                        why = f"Bind for {host_ip}:{shown} failed: port is already allocated"
                    # a server error (500) in Docker, either way
                    raise SystemError_(
                        f"driver failed programming external connectivity on endpoint "
                        f"{ep['Name']} ({ep['EndpointID']}): {why}"
                    )
                entry = {
                    "Key": b.key,
                    "Proto": b.proto,
                    "HostIp": host_ip,
                    "HostPort": port,
                    "ContainerPort": b.container_port,
                    "ContainerIP": ep["IPAddress"],
                    "NetworkID": record["Id"],
                }
                self._host_ports.hold(b.proto, host_ip, port, sandbox["ContainerID"])
                added.append(entry)
            firewall.add_rules(r for p in added for r in self._port_rules(record, p))
        except BaseException:
            for entry in added:
                self._release_host_port(entry, sandbox["ContainerID"])
            raise
        sandbox["Ports"].extend(added)

    @staticmethod
    def _port_rules(record: dict, port: dict) -> list[firewall.Rule]:
        return firewall.published_port_rules(record["Bridge"], port)

    def _release_host_port(self, port: dict, container_id: str) -> None:
        self._host_ports.release(port["Proto"], port["HostIp"], port["HostPort"], container_id)

    def _unpublish(self, sandbox: dict, ports: list[dict], record: dict | None) -> None:
        if record is not None:
            firewall.delete_rules(r for p in ports for r in self._port_rules(record, p))
        for port in ports:
            self._release_host_port(port, sandbox["ContainerID"])
            sandbox["Ports"].remove(port)

    # ----- inspect shapes ---------------------------------------------------------------

    @_on_worker
    def endpoint_settings(self, container_id: str) -> dict:
        """`NetworkSettings` of `GET /containers/{id}/json`."""
        with self._lock:
            sandbox = self._sandboxes.get(container_id) or self._new_sandbox(
                container_id, "", False
            )
            return views.network_settings_view(sandbox)

    @_on_worker
    def ports(self, container_id: str) -> list[dict]:
        """Published ports of a container, for `docker port` and `ps`."""
        with self._lock:
            sandbox = self._sandboxes.get(container_id)
            return [dict(p) for p in sandbox["Ports"]] if sandbox else []

    # ----- /etc files -------------------------------------------------------------------

    def _host_resolv(self) -> str:
        try:
            with open(self._host_resolv_conf) as f:
                return f.read()
        except OSError:
            return ""

    @_on_worker
    def default_gateway_ip(self) -> str:
        """The default bridge's gateway: what `host-gateway` in `--add-host` stands for."""
        with self._lock:
            for n in self._networks.values():
                if n["Name"] == "bridge":
                    return n["Gateway"]
        return ""

    @_on_worker
    def write_resolv_conf(
        self,
        container_id: str,
        path: str,
        *,
        dns: Iterable[str] = (),
        dns_search: Iterable[str] = (),
        dns_options: Iterable[str] = (),
        in_place: bool = False,
    ) -> None:
        """The container's resolv.conf: embedded DNS on user networks, else the host's.

        `in_place`: the container runs with the file bind-mounted (connect, disconnect)."""
        dns = list(dns)
        with self._lock:
            sandbox = self._sandboxes.get(container_id)
            embedded = bool(sandbox and self._user_bridge_endpoints(sandbox))
            if sandbox is not None and sandbox["Dns"] != dns:
                sandbox["Dns"] = dns
                self._save_sandbox(sandbox)
        etcfiles.write_resolv_conf(
            path,
            self._host_resolv(),
            embedded_dns=embedded,
            dns=dns,
            dns_search=dns_search,
            dns_options=dns_options,
            in_place=in_place,
        )

    @_on_worker
    def write_hosts(
        self,
        container_id: str,
        path: str,
        hostname: str,
        *,
        domainname: str = "",
        extra_hosts: Iterable[str] = (),
        in_place: bool = False,
    ) -> None:
        """The container's /etc/hosts with its address on each network (`in_place`: as for
        write_resolv_conf)."""
        with self._lock:
            sandbox = self._sandboxes.get(container_id)
            addresses = [
                ep["IPAddress"]
                for ep in (sandbox["Endpoints"].values() if sandbox else [])
                if ep["IPAddress"]
            ]
        etcfiles.write_hosts(
            path,
            hostname=hostname,
            addresses=addresses,
            extra_hosts=extra_hosts,
            host_gateway=self.default_gateway_ip(),
            domainname=domainname,
            in_place=in_place,
        )

    @staticmethod
    def write_hostname(path: str, hostname: str) -> None:
        etcfiles.write_hostname(path, hostname)

    # ----- embedded DNS -----------------------------------------------------------------

    def _ensure_dns_listener(self, container_id: str, sandbox: dict) -> None:
        path = sandbox.get("NetnsPath")
        if not path or not self._user_bridge_endpoints(sandbox) or not netns.is_netns(path):
            return
        try:
            self._dns.listen(container_id, path, self._ns_dns.pop(container_id, None))
        except OSError:
            pass  # the namespace is going away; reconcile removes it

    def _dns_lookup(self, container_id: str, name: str) -> list[str] | None:
        """Addresses of `name` on the networks the asking container is on (round robin);
        for a reverse name (`4.3.2.1.in-addr.arpa`) the `name.network` of that address."""
        if name.endswith(".in-addr.arpa"):
            return self._dns_reverse(container_id, name)
        with self._lock:
            sandbox = self._sandboxes.get(container_id)
            if sandbox is None:
                return None
            found: list[str] = []
            for net_id in self._user_bridge_endpoints(sandbox):
                net_name = self._networks[net_id]["Name"].lower()
                for cid, _sb, ep in self._members(net_id):
                    names = {n.lower() for n in (ep["DNSNames"] or [])}
                    names |= {f"{n}.{net_name}" for n in names}
                    if name in names or (len(name) >= SHORT and cid.startswith(name)):
                        if ep["IPAddress"] and ep["IPAddress"] not in found:
                            found.append(ep["IPAddress"])
            if not found:
                return None
            shift = next(self._rr) % len(found)
            return found[shift:] + found[:shift]

    def _dns_reverse(self, container_id: str, name: str) -> list[str] | None:
        parts = name[: -len(".in-addr.arpa")].split(".")
        address = ".".join(reversed(parts))
        with self._lock:
            sandbox = self._sandboxes.get(container_id)
            if sandbox is None:
                return None
            for net_id in self._user_bridge_endpoints(sandbox):
                for _cid, _sb, ep in self._members(net_id):
                    if ep["IPAddress"] == address:
                        return [f"{ep['Name']}.{self._networks[net_id]['Name']}"]
        return None

    def _dns_upstreams(self, container_id: str) -> list[str]:
        with self._lock:
            sandbox = self._sandboxes.get(container_id)
            own = [s for s in (sandbox or {}).get("Dns", []) if s != etcfiles.EMBEDDED_DNS]
        if own:
            return own
        if self._dns_forwarders is not None:
            return list(self._dns_forwarders)
        return etcfiles.all_nameservers(self._host_resolv())

    # ----- recovery ---------------------------------------------------------------------

    @_on_worker
    def reconcile(self, live_container_ids: Iterable[str]) -> dict:
        """After a restart: keep what live containers hold, remove everything else of ours.

        Returns counts of what was removed: sandboxes, namespace files, veths and rules.
        """
        live = set(live_container_ids)
        removed = {"sandboxes": 0, "netns": 0, "veths": 0, "rules": 0}
        with self._lock:
            for cid in list(self._sandboxes):
                if cid not in live:
                    self.sandbox_remove(cid)
                    removed["sandboxes"] += 1
        self._reaper.wait()  # their veths are gone now (the reaper needs the lock: not held)
        with self._lock:
            known_paths = {sb["NetnsPath"] for sb in self._sandboxes.values()}
            for entry in os.listdir(self.netns_dir):
                path = os.path.join(self.netns_dir, entry)
                if path not in known_paths:
                    netns.remove_netns(path)
                    removed["netns"] += 1
            known_veths = {
                ep["HostIfName"]
                for sb in self._sandboxes.values()
                for ep in sb["Endpoints"].values()
            }
            for record in self._bridge_networks():
                for port in links.bridge_ports(self._ipr, record["Bridge"]):
                    if port not in known_veths and links.delete_link(self._ipr, port):
                        removed["veths"] += 1
            removed["rules"] = self._drop_stale_port_rules()
            for cid, sandbox in self._sandboxes.items():
                for port in sandbox["Ports"]:
                    record = self._networks.get(port["NetworkID"])
                    if record:
                        firewall.ensure_rules(self._port_rules(record, port))
                self._ensure_dns_listener(cid, sandbox)
        return removed

    def _drop_stale_port_rules(self) -> int:
        """Port rules into our subnets that no sandbox record holds (a crash mid-connect)."""
        subnets = [ipaddress.ip_network(n["Subnet"]) for n in self._bridge_networks()]
        wanted = {
            (p["ContainerIP"], p["ContainerPort"])
            for sb in self._sandboxes.values()
            for p in sb["Ports"]
        }
        stale = 0
        for table, chain in firewall.PORT_CHAINS:
            for line in firewall.list_rules(table, chain):
                fields = line.split()
                target = firewall.port_rule_target(fields)
                if target is None or target in wanted:
                    continue
                if not any(ipaddress.ip_address(target[0]) in s for s in subnets):
                    continue
                firewall.delete_rules([firewall.Rule(table, chain, tuple(fields[2:]))])
                stale += 1
        return stale

    # ----- shutdown ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving DNS and release sockets; namespaces, links and rules stay (live restore)."""
        if self._closed:
            return
        self._reaper.close()
        self._worker.submit(self._release_all).result()
        self._closed = True
        self._worker.shutdown(wait=True)

    def _release_all(self) -> None:
        self._dns.close()
        for cid in list(self._ns_links) + list(self._ns_dns):
            self._release_ns_handles(cid)
        self._ipr.close()

    def destroy_all(self) -> None:
        """Remove every sandbox, network, bridge and rule of this service (tests, uninstall)."""
        if not self._closed:
            self._worker.submit(self._destroy).result()
        self.close()

    def _destroy(self) -> None:
        with self._lock:
            for cid in list(self._sandboxes):
                self.sandbox_remove(cid)
            for record in list(self._networks.values()):
                if record["Driver"] == "bridge":
                    self._tear_down(record)
                try:
                    self._store.delete_network(record["Id"])
                except FileNotFoundError:
                    pass
            self._networks.clear()
            self._allocators.clear()
