"""System routes: /_ping, /version, /info, /events, /system/df."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dockyard.api.app import Routes
from dockyard.api.filters import request_filters
from dockyard.api.streams import dumps
from dockyard.daemon.events import EventBus, parse_timestamp

PING_HEADERS = {
    "Builder-Version": "1",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "Swarm": "inactive",
}


class SystemRoutes:
    def __init__(
        self,
        version: Callable[[], dict[str, Any]],
        info: Callable[[], Awaitable[dict[str, Any]]],
        events: EventBus,
        df: Callable[[list[str] | None], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        self._version = version
        self._info = info
        self._events = events
        self._df = df

    def setup(self, routes: Routes) -> None:
        routes.get("/_ping", self.ping)
        routes.get("/version", self.version)
        routes.get("/info", self.info)
        routes.get("/events", self.events)
        if self._df is not None:
            routes.get("/system/df", self.df)

    async def ping(self, request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return web.Response(
                status=200,
                headers={
                    **PING_HEADERS,
                    "Content-Type": "text/plain; charset=utf-8",
                    "Content-Length": "0",
                },
            )
        return web.Response(text="OK", headers=PING_HEADERS)

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response(self._version(), dumps=_compact)

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response(await self._info(), dumps=_compact)

    async def df(self, request: web.Request) -> web.Response:
        types = request.query.getall("type", None)
        assert self._df is not None
        return web.json_response(await self._df(types), dumps=_compact)

    async def events(self, request: web.Request) -> web.StreamResponse:
        filters = request_filters(request)
        since = request.query.get("since")
        until = request.query.get("until")
        since_ns = parse_timestamp(since) if since else None
        until_ns = parse_timestamp(until) if until else None
        sub = self._events.subscribe(filters, since_ns, until_ns)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            async for ev in sub:
                await resp.write(dumps(ev))
        except (ConnectionResetError, asyncio.CancelledError):
            self._events.unsubscribe(sub)
            raise
        await resp.write_eof()
        return resp


def _compact(obj: Any) -> str:
    return dumps(obj).decode()
