"""Volume routes: /volumes, /volumes/create, /volumes/{name}, /volumes/prune."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.api.app import Routes, api_version
from dockyard.api.body import field, query_bool, read_json_object, string_map
from dockyard.api.filters import request_filters
from dockyard.api.streams import dumps
from dockyard.daemon.events import EventBus
from dockyard.volumes import VolumeService


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type="application/json")


class VolumeRoutes:
    def __init__(self, volumes: VolumeService, events: EventBus) -> None:
        self.volumes = volumes
        self.events = events

    def setup(self, routes: Routes) -> None:
        routes.get("/volumes", self.list)
        routes.post("/volumes/create", self.create)
        routes.post("/volumes/prune", self.prune)
        routes.get("/volumes/{name}", self.inspect)
        routes.delete("/volumes/{name}", self.remove)
        routes.put("/volumes/{name}", self.update)

    async def list(self, request: web.Request) -> web.Response:
        filters = request_filters(request)
        vols = await asyncio.to_thread(self.volumes.list, filters)
        return _json({"Volumes": vols, "Warnings": None})

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        name = field(body, "Name", str, "", "VolumeCreateOptions")
        driver = field(body, "Driver", str, "", "VolumeCreateOptions")
        opts = string_map(body, "DriverOpts", "VolumeCreateOptions")
        labels = string_map(body, "Labels", "VolumeCreateOptions")

        def create() -> tuple[bool, dict]:
            existed = bool(name) and self.volumes.exists(name)
            return existed, self.volumes.create(name or None, driver or None, opts, labels)

        existed, vol = await asyncio.to_thread(create)
        if not existed:
            self.events.publish("volume", "create", vol["Name"], {"driver": vol["Driver"]})
        return _json(vol, status=201)

    async def inspect(self, request: web.Request) -> web.Response:
        return _json(await asyncio.to_thread(self.volumes.inspect, request.match_info["name"]))

    async def remove(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        force = query_bool(request, "force")

        def remove() -> bool:
            existed = self.volumes.exists(name)
            self.volumes.remove(name, force)
            return existed

        if await asyncio.to_thread(remove):
            self.events.publish("volume", "destroy", name, {"driver": "local"})
        return web.Response(status=204)

    async def update(self, request: web.Request) -> web.Response:
        from dockyard.errors import InvalidParameter

        await asyncio.to_thread(self.volumes.inspect, request.match_info["name"])
        raise InvalidParameter("volume updates are only supported for cluster volumes")

    async def prune(self, request: web.Request) -> web.Response:
        filters = request_filters(request)
        if api_version(request) < (1, 42):
            # Before API 1.42 prune removed every unused volume, named ones too.
            filters.setdefault("all", ["true"])
        report = await asyncio.to_thread(self.volumes.prune, filters)
        for name in report["VolumesDeleted"]:
            self.events.publish("volume", "destroy", name, {"driver": "local"})
        self.events.publish("volume", "prune", "", {"reclaimed": str(report["SpaceReclaimed"])})
        return _json(report)
