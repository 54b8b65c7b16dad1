"""The bridge driver's kernel objects, through netlink (pyroute2): bridges and veth endpoints.

No `ip` processes: the host side uses one IPRoute socket held by the service; the container
side gets an IPRoute over a netlink socket created inside the sandbox namespace (by the thread
that made the namespace, see netns.create_netns), instead of pyroute2's forked helper (~8 ms).
Call these from a worker thread: pyroute2's synchronous API runs its own event loop.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import secrets
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

# pyroute2 logs every netlink message at debug level: too much for a daemon's debug log
logging.getLogger("pyroute2").setLevel(logging.INFO)

ENOENT_CODES = (19, 2)  # ENODEV, ENOENT


def host_routes(ipr: IPRoute) -> list[ipaddress.IPv4Network]:
    """Every IPv4 destination in the host's main routing table (default routes excluded)."""
    result = []
    for route in ipr.get_routes(family=2, table=254):
        dst = route.get_attr("RTA_DST")
        if dst and route["dst_len"] > 0:
            result.append(ipaddress.ip_network(f"{dst}/{route['dst_len']}", strict=False))
    return result


def link_names(ipr: IPRoute) -> set[str]:
    return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}


def local_networks(ipr: IPRoute) -> list[ipaddress.IPv4Network]:
    """The IPv4 networks of every address on the host's links."""
    return [
        ipaddress.ip_interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}").network
        for a in ipr.get_addr(family=2)
    ]


def link_index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def ipv4_addresses(ipr: IPRoute, name: str) -> list[ipaddress.IPv4Interface]:
    """The IPv4 addresses of the link `name` (none when it does not exist)."""
    index = link_index(ipr, name)
    if index is None:
        return []
    return [
        ipaddress.IPv4Interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
        for a in ipr.get_addr(index=index, family=2)
    ]


def link_kind(ipr: IPRoute, name: str) -> str | None:
    """None when no link has this name, else its kind ("bridge", "veth", "" for a NIC...)."""
    index = link_index(ipr, name)
    if index is None:
        return None
    link = ipr.link("get", index=index)[0]
    info = link.get_attr("IFLA_LINKINFO")
    return (info.get_attr("IFLA_INFO_KIND") if info else None) or "physical"


def set_sysctl(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def ensure_bridge(
    ipr: IPRoute, name: str, gateway: ipaddress.IPv4Address, prefixlen: int, route_localnet: bool
) -> int:
    """Create (or adopt) the bridge `name` with the gateway address, and bring it up."""
    index = link_index(ipr, name)
    if index is None:
        ipr.link("add", ifname=name, kind="bridge")
        index = link_index(ipr, name)
        assert index is not None
    have = {
        (a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=index, family=2)
    }
    if (str(gateway), prefixlen) not in have:
        ipr.addr("add", index=index, address=str(gateway), prefixlen=prefixlen)
    ipr.link("set", index=index, state="up")
    if route_localnet:
        # loopback-sourced DNAT'd packets (127.0.0.1:PORT -> container) may leave via the bridge
        set_sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
    return index


def delete_link(ipr: IPRoute, name: str) -> bool:
    """Delete a link by name; False when it did not exist."""
    index = link_index(ipr, name)
    if index is None:
        return False
    try:
        ipr.link("del", index=index)
    except NetlinkError as e:
        if e.code in ENOENT_CODES:
            return False
        raise
    return True


def bridge_ports(ipr: IPRoute, bridge: str) -> list[str]:
    """Names of the links enslaved to `bridge`."""
    index = link_index(ipr, bridge)
    if index is None:
        return []
    return [
        link.get_attr("IFLA_IFNAME")
        for link in ipr.get_links()
        if link.get_attr("IFLA_MASTER") == index
    ]


def new_veth_name() -> str:
    """A host-side veth name like Docker's: `veth` + 7 hex digits (28 random bits)."""
    return "veth" + secrets.token_hex(4)[:7]


def netns_ipr(sock: socket.socket) -> IPRoute:
    """An IPRoute over a netlink socket that lives in a container's namespace."""
    return IPRoute(use_socket=sock)


def add_endpoint(
    ipr: IPRoute,
    nsr: IPRoute,
    *,
    bridge_index: int,
    netns_path: str,
    ifname: str,
    mac: str,
    address: ipaddress.IPv4Address,
    prefixlen: int,
    gateway: ipaddress.IPv4Address | None,
) -> str:
    """A veth pair: host side on the bridge, container side `ifname` in the namespace.

    Returns the host side's name (`veth` + 7 hex digits).

    One request creates both sides: the host side enslaved and up, the container side directly
    inside the namespace under its final name and MAC; `nsr` (an IPRoute in that namespace)
    sets its address, brings it up and adds the default route via `gateway` when given.
    """
    host_ifname = new_veth_name()
    for _attempt in range(5):
        try:
            ipr.link(
                "add",
                ifname=host_ifname,
                kind="veth",
                master=bridge_index,
                state="up",
                peer={"ifname": ifname, "address": mac, "net_ns_fd": netns_path},
            )
            break
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise
            host_ifname = new_veth_name()  # a name clash: 28 random bits, try again
    else:
        raise OSError(errno.EEXIST, "cannot find a free veth name")
    try:
        # hairpin: a container may reach its own published port through the host's address
        # (the DNAT sends the packet back out of the port it came in by)
        set_sysctl(f"/sys/class/net/{host_ifname}/brport/hairpin_mode", "1")
        index = link_index(nsr, ifname)
        nsr.addr("add", index=index, address=str(address), prefixlen=prefixlen)
        nsr.link("set", index=index, state="up")
        if gateway is not None:
            nsr.route("replace", dst="0.0.0.0/0", gateway=str(gateway))
    except BaseException:
        delete_link(ipr, host_ifname)
        raise
    return host_ifname


def set_default_route(nsr: IPRoute, gateway: ipaddress.IPv4Address | None) -> None:
    """Point the namespace's default route at `gateway`, or remove it (None)."""
    if gateway is None:
        with contextlib.suppress(NetlinkError):
            nsr.route("del", dst="0.0.0.0/0")
    else:
        nsr.route("replace", dst="0.0.0.0/0", gateway=str(gateway))


class LinkReaper:
    """Deletes links on its own thread and then runs a callback.

    Deleting a veth waits in the kernel for an RCU grace period (10-40 ms here), which a
    container's removal need not wait for: the service hands the host side of a removed
    container's veth over and releases the address lease in the callback, once the link is
    gone, so the address is never reused while the old link lives.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="link-reaper")
        self._ipr: IPRoute | None = None

    def delete(self, name: str, then: Callable[[], None]) -> None:
        self._pool.submit(self._run, name, then)

    def _run(self, name: str, then: Callable[[], None]) -> None:
        try:
            if self._ipr is None:
                self._ipr = IPRoute()  # made on the reaper's thread, used only there
            delete_link(self._ipr, name)
        except Exception:  # noqa: BLE001 - reconcile deletes what is left on our bridges
            logging.getLogger(__name__).exception("cannot delete link %s", name)
        finally:
            then()

    def wait(self) -> None:
        """Return once every deletion handed over so far is done."""
        self._pool.submit(lambda: None).result()

    def close(self) -> None:
        self._pool.submit(self._close_ipr)
        self._pool.shutdown(wait=True)

    def _close_ipr(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
