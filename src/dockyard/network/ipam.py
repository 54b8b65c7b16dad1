"""IP address management: choosing network subnets and leasing addresses inside them.

Like Docker's default IPAM: the default bridge takes 172.17.0.0/16 (or daemon.json `bip`), user
networks take the first free subnet from the address pools (172.18-31.0.0/16, then
192.168.0.0/16 cut into /20s; daemon.json `default-address-pools` replaces them). A subnet is
free when it overlaps neither another network nor a route on the host. Inside a subnet the
network, broadcast and gateway addresses are reserved and containers get the lowest free
address of the `--ip-range` (the whole subnet by default), or the static `--ip` they ask for.

Leases are kept in memory here; the service persists them inside each sandbox record (one
atomic write per connect) and rebuilds the allocators from those records at start-up.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dockyard.errors import Conflict, Forbidden, InvalidParameter, Unavailable

IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address


@dataclass(frozen=True)
class AddressPool:
    """A daemon.json `default-address-pools` entry: `base` cut into subnets of `/size`."""

    base: str
    size: int

    def subnets(self) -> Iterator[IPv4Network]:
        base = ipaddress.ip_network(self.base, strict=False)
        if self.size < base.prefixlen:
            yield base
            return
        yield from base.subnets(new_prefix=self.size)


DEFAULT_BRIDGE_CIDR = "172.17.0.1/16"
DEFAULT_ADDRESS_POOLS: tuple[AddressPool, ...] = (
    *(AddressPool(f"172.{n}.0.0/16", 16) for n in range(17, 32)),
    AddressPool("192.168.0.0/16", 20),
)


def pools_from_config(config: Iterable[dict] | None) -> tuple[AddressPool, ...]:
    """daemon.json `default-address-pools` ([{"base": ..., "size": ...}]) -> pools."""
    if not config:
        return DEFAULT_ADDRESS_POOLS
    pools = []
    for entry in config:
        try:
            pools.append(AddressPool(str(entry["base"]), int(entry["size"])))
            ipaddress.ip_network(entry["base"], strict=False)
        except (KeyError, ValueError, TypeError) as e:
            raise InvalidParameter(f"invalid default address pool {entry!r}: {e}") from None
    return tuple(pools)


def overlaps(net: IPv4Network, others: Iterable[IPv4Network]) -> bool:
    return any(net.overlaps(o) for o in others)


def choose_subnet(
    pools: Iterable[AddressPool], taken: Iterable[IPv4Network], host_routes: Iterable[IPv4Network]
) -> IPv4Network:
    """The first pool subnet that overlaps neither a network nor a host route."""
    busy = [*taken, *(r for r in host_routes if r.prefixlen > 0)]
    for pool in pools:
        for candidate in pool.subnets():
            if not overlaps(candidate, busy):
                return candidate
    raise Unavailable(
        "could not find an available, non-overlapping IPv4 address pool among the defaults "
        "to assign to the network"
    )


def parse_subnet(text: str) -> IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid CIDR address: {text}") from None
    if net.version != 4:
        raise InvalidParameter(f"only IPv4 subnets are supported: {text}")
    return net


def parse_address(text: str) -> IPv4Address:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidParameter(f"invalid IP address: {text}") from None
    if addr.version != 4:
        raise InvalidParameter(f"only IPv4 addresses are supported: {text}")
    return addr


def check_user_subnet(subnet: IPv4Network, existing: Iterable[IPv4Network]) -> None:
    """A `--subnet` must not overlap another network's (Docker's words, HTTP 403)."""
    if overlaps(subnet, existing):
        raise Forbidden("invalid pool request: Pool overlaps with other one on this address space")


def default_gateway(subnet: IPv4Network) -> IPv4Address:
    return subnet.network_address + 1


def mac_for(ip: IPv4Address) -> str:
    """Docker derives a container's MAC from its IPv4 address: 02:42 + the four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


def parse_mac(text: str) -> str:
    """`--mac-address`: six hex bytes separated by colons (or dashes), lower-cased."""
    parts = text.replace("-", ":").lower().split(":")
    if len(parts) != 6 or not all(
        len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts
    ):
        raise InvalidParameter(f"{text} is not a valid mac address")
    if int(parts[0], 16) & 1:
        raise InvalidParameter(f"{text} is a multicast address")
    return ":".join(parts)


class AddressAllocator:
    """Leases of one network's subnet."""

    def __init__(
        self,
        subnet: IPv4Network,
        gateway: IPv4Address,
        ip_range: IPv4Network | None = None,
        network_label: str = "",
    ) -> None:
        self.subnet = subnet
        self.gateway = gateway
        self.ip_range = ip_range or subnet
        self.label = network_label
        self.reserved = {subnet.network_address, subnet.broadcast_address, gateway}
        self.leases: set[IPv4Address] = set()

    def allocate(self, requested: IPv4Address | None = None) -> IPv4Address:
        if requested is not None:
            if requested not in self.subnet:
                raise InvalidParameter(
                    f"invalid address {requested}: it does not belong to any of this network's "
                    "subnets"
                )
            if requested in self.leases or requested in self.reserved:
                raise Conflict("Address already in use")
            self.leases.add(requested)
            return requested
        for host in self.ip_range.hosts() if self.ip_range.prefixlen < 31 else self.ip_range:
            if host not in self.leases and host not in self.reserved and host in self.subnet:
                self.leases.add(host)
                return host
        raise Unavailable(
            f"no available IPv4 addresses on this network's address pools: {self.label}"
        )

    def take(self, address: IPv4Address) -> None:
        """Record an existing lease (at start-up, from the persisted records)."""
        self.leases.add(address)

    def release(self, address: IPv4Address) -> None:
        self.leases.discard(address)
