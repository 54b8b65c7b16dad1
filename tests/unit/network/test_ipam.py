"""IPAM: pool subnets avoiding routes and networks; leases within a subnet and ip-range."""

from __future__ import annotations

import ipaddress

import pytest

from dockyard.errors import Conflict, Forbidden, InvalidParameter, Unavailable
from dockyard.network import ipam

net = ipaddress.ip_network
addr = ipaddress.ip_address


def test_default_pools_are_dockers():
    subnets = [s for p in ipam.DEFAULT_ADDRESS_POOLS for s in p.subnets()]
    assert subnets[0] == net("172.17.0.0/16") and subnets[14] == net("172.31.0.0/16")
    assert subnets[15] == net("192.168.0.0/20") and subnets[-1] == net("192.168.240.0/20")


def test_choose_subnet_skips_routes_and_networks():
    pools = ipam.DEFAULT_ADDRESS_POOLS[1:]
    assert ipam.choose_subnet(pools, [], []) == net("172.18.0.0/16")
    chosen = ipam.choose_subnet(pools, [net("172.18.0.0/16")], [net("172.19.5.0/24")])
    assert chosen == net("172.20.0.0/16")
    # a default route (0.0.0.0/0) does not count as an overlap
    assert ipam.choose_subnet(pools, [], [net("0.0.0.0/0")]) == net("172.18.0.0/16")
    custom = ipam.pools_from_config([{"base": "10.210.0.0/16", "size": 24}])
    assert ipam.choose_subnet(custom, [net("10.210.0.0/24")], []) == net("10.210.1.0/24")
    with pytest.raises(Unavailable, match="could not find an available, non-overlapping"):
        ipam.choose_subnet(
            ipam.pools_from_config([{"base": "10.9.0.0/24", "size": 24}]), [net("10.9.0.0/16")], []
        )


def test_user_subnet_overlap():
    with pytest.raises(Forbidden, match="Pool overlaps with other one on this address space"):
        ipam.check_user_subnet(net("10.1.0.0/24"), [net("10.1.0.0/16")])
    ipam.check_user_subnet(net("10.2.0.0/24"), [net("10.1.0.0/16")])


def test_allocator_leases_lowest_free_and_reuses():
    a = ipam.AddressAllocator(net("10.5.0.0/29"), addr("10.5.0.1"), network_label="n (x)")
    got = [a.allocate() for _ in range(5)]
    assert [str(x) for x in got] == ["10.5.0.2", "10.5.0.3", "10.5.0.4", "10.5.0.5", "10.5.0.6"]
    with pytest.raises(Unavailable, match="no available IPv4 addresses"):
        a.allocate()
    a.release(addr("10.5.0.3"))
    assert a.allocate() == addr("10.5.0.3")


def test_allocator_static_and_range():
    a = ipam.AddressAllocator(net("10.6.0.0/24"), addr("10.6.0.254"), net("10.6.0.128/25"))
    assert a.allocate() == addr("10.6.0.129")
    assert a.allocate(addr("10.6.0.9")) == addr("10.6.0.9")  # static may be outside the range
    with pytest.raises(Conflict, match="Address already in use"):
        a.allocate(addr("10.6.0.9"))
    with pytest.raises(Conflict, match="Address already in use"):
        a.allocate(addr("10.6.0.254"))
    with pytest.raises(InvalidParameter, match="does not belong"):
        a.allocate(addr("10.7.0.1"))


def test_mac_from_ip():
    assert ipam.mac_for(addr("172.17.0.2")) == "02:42:ac:11:00:02"


def test_port_rule_targets():
    from dockyard.network import firewall

    rules = firewall.port_rules("br-x", "tcp", "127.0.0.1", 8080, "10.1.2.3", 80)
    targets = {firewall.port_rule_target(["-A", r.chain, *r.args]) for r in rules}
    assert targets == {("10.1.2.3", 80)}
    for rule in firewall.network_rules("br-x", "10.1.2.0/24", internal=False):
        assert firewall.port_rule_target(["-A", rule.chain, *rule.args]) is None


def test_orphaned_rules():
    from dockyard.network.firewall import _orphaned

    nets = [net("10.1.2.0/24")]
    links = {"br-live", "lo"}
    assert _orphaned("-A DOCKYARD-FORWARD -o br-gone -j DOCKYARD".split(), links, nets)
    assert not _orphaned("-A DOCKYARD-FORWARD -o br-live -j DOCKYARD".split(), links, nets)
    dnat = "-A DOCKYARD -p tcp -m tcp --dport 8080 -j DNAT --to-destination {}:80"
    assert not _orphaned(dnat.format("10.1.2.3").split(), links, nets)
    assert _orphaned(dnat.format("10.9.9.9").split(), links, nets)
    assert not _orphaned("-A DOCKYARD-FORWARD -j DOCKYARD-ISOLATION-STAGE-1".split(), links, nets)


def test_parse_mac():
    assert ipam.parse_mac("02:42:AC:11:00:09") == "02:42:ac:11:00:09"
    with pytest.raises(InvalidParameter, match="not a valid mac address"):
        ipam.parse_mac("02:42:ac:11:00")
    with pytest.raises(InvalidParameter, match="multicast"):
        ipam.parse_mac("01:00:5e:00:00:01")
