"""Docker's rules for a container record's networks (containers/netattach.py), without a daemon."""

from __future__ import annotations

import pytest

from dockyard.containers import netattach
from dockyard.errors import Forbidden, InvalidParameter, NotFound

NETWORKS = {
    "bridge": {"Id": "b" * 64, "Name": "bridge", "Driver": "bridge", "Subnet": "172.17.0.0/16"},
    "host": {"Id": "h" * 64, "Name": "host", "Driver": "host", "Subnet": ""},
    "none": {"Id": "n" * 64, "Name": "none", "Driver": "null", "Subnet": ""},
    "front": {"Id": "f" * 64, "Name": "front", "Driver": "bridge", "Subnet": "10.201.7.0/24"},
    "back": {"Id": "a" * 64, "Name": "back", "Driver": "bridge", "Subnet": "10.201.8.0/24"},
}


def lookup(ref: str) -> dict:
    for net in NETWORKS.values():
        if ref in (net["Name"], net["Id"]) or (len(ref) >= 3 and net["Id"].startswith(ref)):
            subnets = [{"Subnet": net["Subnet"]}] if net["Subnet"] else []
            return {**net, "IPAM": {"Config": subnets}}
    raise NotFound(f"network {ref} not found")


def record(mode: str = "bridge", endpoints: dict | None = None) -> dict:
    rec = {
        "Id": "c" * 64,
        "Name": "web",
        "HostConfig": {"NetworkMode": mode},
        "NetworkingConfig": {"EndpointsConfig": endpoints} if endpoints is not None else {},
        "NetworkSettings": {},
    }
    return rec


def test_create_records_the_mode_network_by_name():
    rec = record("f" * 12, {"f" * 12: {"Aliases": ["api"]}, "back": {}})
    netattach.at_create(rec, lookup)
    assert rec["NetworksRecorded"]
    assert rec["NetworkingConfig"]["EndpointsConfig"] == {"front": {"Aliases": ["api"]}, "back": {}}
    nets = rec["NetworkSettings"]["Networks"]
    assert set(nets) == {"front", "back"}
    assert nets["front"]["NetworkID"] == "f" * 64 and nets["front"]["IPAddress"] == ""
    assert nets["front"]["Aliases"] == ["api"] and nets["back"]["Aliases"] is None
    wanted, on_none = netattach.setup_record(rec, lookup)
    assert not on_none and wanted["HostConfig"]["NetworkMode"] == "front"


def test_create_accepts_unknown_networks_and_refuses_bad_settings():
    rec = record("nosuch")  # Docker reports it at start
    netattach.at_create(rec, lookup)
    assert rec["NetworkSettings"]["Networks"]["nosuch"]["NetworkID"] == ""
    with pytest.raises(InvalidParameter, match="invalid config for network bridge: invalid"):
        netattach.at_create(record("bridge", {"bridge": {"Aliases": ["x"]}}), lookup)
    with pytest.raises(InvalidParameter, match="network-scoped alias is supported only"):
        netattach.at_create(record("bridge", {"bridge": {"Aliases": ["x"]}}), lookup)
    fixed = {"IPAMConfig": {"IPv4Address": "10.9.9.9"}}
    with pytest.raises(InvalidParameter, match="no configured subnet or ip-range contain"):
        netattach.at_create(record("front", {"front": fixed}), lookup)


def test_container_mode_has_no_networks_and_host_mode_its_own():
    rec = record("container:other")
    netattach.at_create(rec, lookup)
    assert rec["NetworkingConfig"]["EndpointsConfig"] == {}
    rec = record("host")
    netattach.at_create(rec, lookup)
    assert set(rec["NetworkSettings"]["Networks"]) == {"host"}
    assert netattach.setup_record(rec, lookup) == (rec, False)


def test_setup_after_disconnecting_before_start():
    rec = record("front")
    netattach.at_create(rec, lookup)
    netattach.record_networks(rec, {"back": {}})
    wanted, on_none = netattach.setup_record(rec, lookup)
    assert wanted["HostConfig"]["NetworkMode"] == "back" and not on_none
    assert rec["HostConfig"]["NetworkMode"] == "front"  # the record keeps Docker's mode
    netattach.record_networks(rec, {})
    wanted, on_none = netattach.setup_record(rec, lookup)
    assert wanted["HostConfig"]["NetworkMode"] == "none" and on_none


def test_records_before_network_recording_imply_the_mode():
    rec = record("front", {"back": {}})
    assert set(netattach.wanted(rec)) == {"front", "back"}


def test_connect_rules():
    bridge = record("bridge")
    netattach.at_create(bridge, lookup)
    assert netattach.check_connect(bridge, lookup("front"), running=True)
    assert not netattach.check_connect(bridge, lookup("bridge"), running=False)
    with pytest.raises(Forbidden, match="endpoint with name web already exists in network"):
        netattach.check_connect(bridge, lookup("bridge"), running=True)
    with pytest.raises(InvalidParameter, match=netattach.CONFLICT_HOST_NETWORK):
        netattach.check_connect(bridge, lookup("host"), running=True)
    with pytest.raises(InvalidParameter, match="private \\(none\\) mode"):
        netattach.check_connect(bridge, lookup("none"), running=True)

    host = record("host")
    netattach.at_create(host, lookup)
    with pytest.raises(InvalidParameter, match="sharing network namespace"):
        netattach.check_connect(host, lookup("front"), running=True)
    none = record("none")
    netattach.at_create(none, lookup)
    with pytest.raises(InvalidParameter, match="private \\(none\\) mode"):
        netattach.check_connect(none, lookup("front"), running=False)
    with pytest.raises(InvalidParameter, match="sharing network namespace"):
        netattach.check_connect(record("container:x"), lookup("front"), running=True)


def test_kept_endpoint_settings():
    kept = netattach.endpoint_settings_to_keep(
        {"Aliases": ["a"], "IPAMConfig": {"IPv4Address": "10.201.7.9"}, "IPAddress": "x"}
    )
    assert kept == {"Aliases": ["a"], "IPAMConfig": {"IPv4Address": "10.201.7.9"}}


def test_empty_addresses_are_not_kept():
    kept = netattach.endpoint_settings_to_keep(
        {"IPAMConfig": {"IPv4Address": "", "IPv6Address": ""}}
    )
    assert kept == {}
