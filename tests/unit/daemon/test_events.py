"""The event bus: Docker's event shape, filters, replay, until, and thread-safe publishing."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from dockyard.daemon.events import EventBus, make_event, matches, parse_timestamp
from dockyard.errors import InvalidParameter


def test_event_shape():
    ev = make_event(
        "container",
        "start",
        "abc",
        {"image": "busybox", "name": "web"},
        now_ns=1_700_000_000_123_456_789,
    )
    assert ev == {
        "status": "start",
        "id": "abc",
        "from": "busybox",
        "Type": "container",
        "Action": "start",
        "Actor": {"ID": "abc", "Attributes": {"image": "busybox", "name": "web"}},
        "scope": "local",
        "time": 1_700_000_000,
        "timeNano": 1_700_000_000_123_456_789,
    }
    vol = make_event("volume", "create", "v", {"driver": "local"})
    assert "status" not in vol and vol["Type"] == "volume"


@pytest.mark.parametrize(
    "filters,want",
    [
        ({}, True),
        ({"type": ["container"]}, True),
        ({"type": ["volume"]}, False),
        ({"type": ["volume", "container"]}, True),
        ({"event": ["start"]}, True),
        ({"event": ["die"]}, False),
        ({"container": ["web"]}, True),
        ({"container": ["abc"]}, True),
        ({"container": ["other"]}, False),
        ({"image": ["busybox"]}, True),
        ({"image": ["alpine"]}, False),
        ({"label": ["com.x=1"]}, True),
        ({"label": ["com.x=2"]}, False),
        ({"label": ["com.x"]}, True),
        ({"volume": ["abc"]}, False),
        ({"type": ["container"], "event": ["die"]}, False),
    ],
)
def test_matches(filters, want):
    ev = make_event(
        "container", "start", "abcdef", {"image": "busybox:latest", "name": "web", "com.x": "1"}
    )
    assert matches(ev, filters) is want


def test_exec_actions_match_their_prefix():
    ev = make_event("container", "exec_start: sh -c true", "abc")
    assert matches(ev, {"event": ["exec_start"]})


def test_parse_timestamp():
    assert parse_timestamp("1700000000") == 1_700_000_000_000_000_000
    assert parse_timestamp("1700000000.5") == 1_700_000_000_500_000_000
    assert parse_timestamp("1700000000.000000001") == 1_700_000_000_000_000_001
    with pytest.raises(InvalidParameter):
        parse_timestamp("yesterday")


def test_invalid_filters():
    bus = EventBus()

    async def go():
        with pytest.raises(InvalidParameter):
            bus.subscribe({"bogus": ["1"]})
        with pytest.raises(InvalidParameter):
            bus.subscribe({"type": ["spaceship"]})

    asyncio.run(go())


def test_replay_live_until_and_threads():
    bus = EventBus(capacity=3)
    for i in range(5):
        bus.publish("volume", "create", f"v{i}")

    async def go():
        start = time.time_ns()
        # Replay: the ring kept only the last 3; until in the past ends the stream.
        sub = bus.subscribe({}, since_ns=0, until_ns=start)
        got = [ev["Actor"]["ID"] async for ev in sub]
        assert got == ["v2", "v3", "v4"]
        # Live with a filter, published from another thread, until 0.5 s from now.
        sub = bus.subscribe({"type": ["container"]}, until_ns=time.time_ns() + 500_000_000)

        def publisher():
            bus.publish("volume", "create", "ignored")
            bus.publish("container", "start", "c1")

        threading.Thread(target=publisher).start()
        got = [ev["Actor"]["ID"] async for ev in sub]
        assert got == ["c1"]
        assert bus._subs == []

    asyncio.run(asyncio.wait_for(go(), 10))
