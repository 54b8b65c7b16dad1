"""The event bus behind `/events`: publish, filtered subscriptions, replay from a ring buffer.

Services call `publish(type, action, actor_id, attributes)` from the event loop or from any
thread. Subscribers get an asyncio queue of events matching Docker's filters (type, event,
container, image, volume, network, label, daemon, scope); `since` replays the buffer.
Events have Docker's JSON shape, with the legacy status/id/from on container and image events.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from dockyard.errors import InvalidParameter

EVENT_TYPES = (
    "builder",
    "config",
    "container",
    "daemon",
    "image",
    "network",
    "node",
    "plugin",
    "secret",
    "service",
    "volume",
)
FILTER_KEYS = (
    "type",
    "event",
    "container",
    "image",
    "volume",
    "network",
    "label",
    "daemon",
    "scope",
    "plugin",
    "node",
    "service",
    "secret",
    "config",
)

Event = dict[str, Any]


def make_event(
    type_: str,
    action: str,
    actor_id: str,
    attributes: dict[str, str] | None = None,
    scope: str = "local",
    now_ns: int | None = None,
) -> Event:
    now_ns = time.time_ns() if now_ns is None else now_ns
    attributes = dict(attributes or {})
    ev: Event = {}
    if type_ in ("container", "image"):
        ev["status"] = action
        ev["id"] = actor_id
        if type_ == "container" and "image" in attributes:
            ev["from"] = attributes["image"]
    ev.update(
        {
            "Type": type_,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": attributes},
            "scope": scope,
            "time": now_ns // 1_000_000_000,
            "timeNano": now_ns,
        }
    )
    return ev


def validate_filters(filters: dict[str, list[str]]) -> None:
    for key, values in filters.items():
        if key not in FILTER_KEYS:
            raise InvalidParameter(f"invalid filter '{key}'")
        if key == "type":
            for v in values:
                if v not in EVENT_TYPES:
                    raise InvalidParameter(f"unknown event type: {v}")


def matches(ev: Event, filters: dict[str, list[str]]) -> bool:
    """Docker's event filter semantics: values of one key OR, different keys AND."""
    type_ = ev["Type"]
    actor = ev["Actor"]
    attrs = actor.get("Attributes") or {}

    def has(key: str, pred: Any) -> bool:
        vals = filters.get(key)
        return not vals or any(pred(v) for v in vals)

    def by_name_or_id(v: str) -> bool:
        return actor["ID"] == v or actor["ID"].startswith(v) or attrs.get("name") == v

    def action_ok(v: str) -> bool:
        act = ev["Action"]
        return act == v or act.split(":", 1)[0] == v

    def image_ok(v: str) -> bool:
        candidates = [attrs.get("image", "")]
        if type_ == "image":
            candidates += [actor["ID"], attrs.get("name", "")]
        return any(c and (c == v or _strip_tag(c) == v) for c in candidates)

    def label_ok(v: str) -> bool:
        key, sep, value = v.partition("=")
        return key in attrs and (not sep or attrs[key] == value)

    if not has("type", lambda v: v == type_):
        return False
    if not has("event", action_ok):
        return False
    if not has("scope", lambda v: v == ev.get("scope")):
        return False
    for key in (
        "container",
        "volume",
        "network",
        "plugin",
        "node",
        "service",
        "secret",
        "config",
        "daemon",
    ):
        if filters.get(key) and (type_ != key or not has(key, by_name_or_id)):
            return False
    if filters.get("image") and not has("image", image_ok):
        return False
    vals = filters.get("label")
    return not vals or all(label_ok(v) for v in vals)


class Subscription:
    """A filtered, optionally time-bounded stream of events."""

    def __init__(self, bus: EventBus, filters: dict[str, list[str]], until_ns: int | None):
        self.bus = bus
        self.filters = filters
        self.until_ns = until_ns
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=10000)
        self.loop = asyncio.get_running_loop()

    def offer(self, ev: Event) -> None:
        if matches(ev, self.filters):
            try:
                self.queue.put_nowait(ev)
            except asyncio.QueueFull:
                pass  # a subscriber that does not read loses events, like Docker's

    async def __aiter__(self) -> AsyncIterator[Event]:
        try:
            while True:
                timeout = None
                if self.until_ns is not None:
                    timeout = max(0.0, (self.until_ns - time.time_ns()) / 1e9)
                try:
                    ev = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    try:
                        ev = await asyncio.wait_for(self.queue.get(), timeout)
                    except TimeoutError:
                        return
                if ev is None:
                    return
                if self.until_ns is not None and ev["timeNano"] > self.until_ns:
                    return
                yield ev
        finally:
            self.bus.unsubscribe(self)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, None)


class EventBus:
    """Publish events, keep the last `capacity` of them, fan them out to subscribers."""

    def __init__(self, capacity: int = 1024) -> None:
        self._ring: collections.deque[Event] = collections.deque(maxlen=capacity)
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()

    def publish(
        self,
        type_: str,
        action: str,
        actor_id: str,
        attributes: dict[str, str] | None = None,
        scope: str = "local",
    ) -> Event:
        ev = make_event(type_, action, actor_id, attributes, scope)
        with self._lock:
            # Keep the ring ordered even when threads race on the clock.
            if self._ring and self._ring[-1]["timeNano"] > ev["timeNano"]:
                ev["timeNano"] = self._ring[-1]["timeNano"]
                ev["time"] = ev["timeNano"] // 1_000_000_000
            self._ring.append(ev)
            subs = list(self._subs)
        for sub in subs:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is sub.loop:
                sub.offer(ev)
            else:
                sub.loop.call_soon_threadsafe(sub.offer, ev)
        return ev

    def subscribe(
        self,
        filters: dict[str, list[str]] | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> Subscription:
        """A subscription (iterate it with `async for`); `since_ns` replays buffered events."""
        filters = filters or {}
        validate_filters(filters)
        sub = Subscription(self, filters, until_ns)
        with self._lock:
            if since_ns is not None:
                for ev in self._ring:
                    if ev["timeNano"] >= since_ns and (
                        until_ns is None or ev["timeNano"] <= until_ns
                    ):
                        sub.offer(ev)
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def close_all(self) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.close()

    def recent(self) -> list[Event]:
        with self._lock:
            return list(self._ring)


def _strip_tag(ref: str) -> str:
    name, _, tag = ref.rpartition(":")
    return name if name and "/" not in tag else ref


def parse_timestamp(value: str) -> int:
    """Docker's since/until: unix seconds with an optional fraction ("1700000000.123456789")."""
    value = value.strip()
    try:
        if "." in value:
            sec, frac = value.split(".", 1)
            frac = (frac + "000000000")[:9]
            return int(sec) * 1_000_000_000 + int(frac)
        return int(value) * 1_000_000_000
    except ValueError:
        raise InvalidParameter(f"invalid timestamp: {value!r}") from None
