"""Host port table: overlaps between addresses, ranges, ephemeral picks, host processes."""

from __future__ import annotations

import socket

from dockyard.network.portmap import HostPortTable, host_port_free


def test_overlaps_between_addresses_and_protocols():
    table = HostPortTable()
    table.hold("tcp", "127.0.0.1", 18080, "c1")
    assert table.taken("tcp", "127.0.0.1", 18080)
    assert table.taken("tcp", "0.0.0.0", 18080)  # 0.0.0.0 covers 127.0.0.1
    assert not table.taken("tcp", "10.0.0.1", 18080)
    assert not table.taken("udp", "127.0.0.1", 18080)
    table.release("tcp", "127.0.0.1", 18080, "c1")
    assert not table.taken("tcp", "0.0.0.0", 18080)


def test_pick_fixed_range_and_ephemeral():
    table = HostPortTable()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        assert not host_port_free("tcp", "127.0.0.1", busy)
        assert table.pick("tcp", "127.0.0.1", busy, busy) is None
        table.hold("tcp", "0.0.0.0", busy + 1, "c1")
        picked = table.pick("tcp", "127.0.0.1", busy, busy + 3)
        assert picked in (busy + 2, busy + 3)
    first = table.pick("tcp", "0.0.0.0", 0, 0)
    table.hold("tcp", "0.0.0.0", first, "c2")
    second = table.pick("tcp", "0.0.0.0", 0, 0)
    assert first >= 1024 and second != first
