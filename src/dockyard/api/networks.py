"""Network routes: /networks, /networks/create, /networks/{id}, connect, disconnect, prune."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from dockyard.api.app import Routes
from dockyard.api.body import field, read_json_object, string_map
from dockyard.api.filters import request_filters
from dockyard.api.streams import dumps
from dockyard.daemon.events import EventBus
from dockyard.errors import InvalidParameter, NotFound


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type="application/json")


class NetworkRoutes:
    def __init__(self, networks: Any, containers: Any, events: EventBus) -> None:
        self.networks = networks  # NetworkService
        self.containers = containers  # ContainerService
        self.events = events

    def setup(self, routes: Routes) -> None:
        routes.get("/networks", self.list)
        routes.post("/networks/create", self.create)
        routes.post("/networks/prune", self.prune)
        routes.get("/networks/{id}", self.inspect)
        routes.delete("/networks/{id}", self.remove)
        routes.post("/networks/{id}/connect", self.connect)
        routes.post("/networks/{id}/disconnect", self.disconnect)

    def _event(self, action: str, net: dict[str, Any], extra: dict[str, str] | None = None):
        attrs = {"name": net.get("Name", ""), "type": net.get("Driver", "")}
        attrs.update(extra or {})
        self.events.publish("network", action, net.get("Id", ""), attrs)

    async def list(self, request: web.Request) -> web.Response:
        filters = request_filters(request)
        return _json(await asyncio.to_thread(self.networks.list, filters))

    async def inspect(self, request: web.Request) -> web.Response:
        return _json(await asyncio.to_thread(self.networks.inspect, request.match_info["id"]))

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        where = "NetworkCreateRequest"
        name = field(body, "Name", str, "", where)
        if not name:
            raise InvalidParameter("network name must not be empty")
        ipam = field(body, "IPAM", dict, {}, where)
        configs = field(ipam, "Config", list, [], "IPAM")
        if len(configs) > 1:
            raise InvalidParameter(
                "dockyard supports one IPAM config (one IPv4 subnet) per network"
            )
        pool: dict[str, Any] = configs[0] if configs else {}
        if not isinstance(pool, dict):
            raise InvalidParameter("json: cannot unmarshal into Go struct field IPAM.Config")
        kwargs = dict(
            driver=field(body, "Driver", str, "bridge", where) or "bridge",
            subnet=field(pool, "Subnet", str, None, "IPAMConfig") or None,
            gateway=field(pool, "Gateway", str, None, "IPAMConfig") or None,
            ip_range=field(pool, "IPRange", str, None, "IPAMConfig") or None,
            internal=bool(field(body, "Internal", bool, False, where)),
            labels=string_map(body, "Labels", where),
            options=string_map(body, "Options", where),
            attachable=bool(field(body, "Attachable", bool, False, where)),
            enable_ipv6=bool(field(body, "EnableIPv6", bool, False, where)),
        )
        result = await asyncio.to_thread(lambda: self.networks.create(name, **kwargs))
        self._event("create", {"Id": result["Id"], "Name": name, "Driver": kwargs["driver"]})
        return _json(result, 201)

    async def remove(self, request: web.Request) -> web.Response:
        ref = request.match_info["id"]
        net = await asyncio.to_thread(self.networks.inspect, ref)
        await asyncio.to_thread(self.networks.remove, ref)
        self._event("destroy", net)
        return web.Response(status=204)

    async def prune(self, request: web.Request) -> web.Response:
        filters = request_filters(request)
        report = await asyncio.to_thread(self.networks.prune, filters)
        self.events.publish("network", "prune", "", {"reclaimed": "0"})
        return _json(report)

    async def connect(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        container = field(body, "Container", str, "", "NetworkConnectRequest")
        endpoint = field(body, "EndpointConfig", dict, {}, "NetworkConnectRequest")
        if not container:
            raise InvalidParameter("container is required")
        net = await asyncio.to_thread(self.networks.inspect, request.match_info["id"])
        cid = await asyncio.to_thread(self.containers.resolve, container)
        await asyncio.to_thread(self.containers.connect_network, cid, net["Name"], endpoint)
        self._event("connect", net, {"container": cid})
        return web.Response(status=200)

    async def disconnect(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        container = field(body, "Container", str, "", "NetworkDisconnectRequest")
        force = bool(field(body, "Force", bool, False, "NetworkDisconnectRequest"))
        if not container:
            raise InvalidParameter("container is required")
        ref = request.match_info["id"]
        try:
            net: dict[str, Any] | None = await asyncio.to_thread(self.networks.inspect, ref)
        except NotFound:
            if not force:
                raise
            net = None  # -f: the network was removed meanwhile; the container forgets it
        cid = await asyncio.to_thread(self.containers.resolve, container)
        await asyncio.to_thread(
            self.containers.disconnect_network, cid, net["Name"] if net else ref, force
        )
        if net is not None:
            self._event("disconnect", net, {"container": cid})
        return web.Response(status=200)
