"""The build routes: `POST /build` (the classic builder), the context tar as the body and
Docker's JSON stream of `stream`, `aux` and `errorDetail` messages as the answer; and
`POST /build/prune`, which empties the build cache."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import threading
from typing import Any

from aiohttp import web

from dockyard.api.app import Routes
from dockyard.api.body import atoi, query_bool
from dockyard.api.filters import request_filters
from dockyard.api.progress import Progress, stream_progress
from dockyard.api.streams import BlockingBody
from dockyard.errors import InvalidParameter


def _json_query(request: web.Request, name: str, kind: type, what: str) -> Any:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return kind()
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidParameter(f"invalid {what} JSON: {raw}") from None
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise InvalidParameter(f"invalid {what} JSON: {raw}")
    return value


def _registry_config(request: web.Request) -> dict[str, dict]:
    """X-Registry-Config: base64 JSON of auth configs by registry (what the CLI knows)."""
    raw = (request.headers.get("X-Registry-Config") or "").strip()
    if not raw:
        return {}
    padded = raw + "=" * (-len(raw) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            doc = json.loads(decode(padded))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict):
            return {k: v for k, v in doc.items() if isinstance(v, dict)}
    return {}


class BuildRoutes:
    def __init__(self, builder: Any, events: Any = None) -> None:
        self.builder = builder
        self.events = events

    def setup(self, routes: Routes) -> None:
        routes.post("/build", self.build)
        routes.post("/build/prune", self.prune)

    async def prune(self, request: web.Request) -> web.Response:
        filters = request_filters(request)
        keep = 0
        for name in ("keep-storage", "reserved-space"):  # the latter: API 1.48's name
            raw = request.query.get(name) or "0"
            try:  # dockerd: strconv.ParseInt(raw, 10, 64)
                keep = max(keep, atoi(raw, "ParseInt"))
            except InvalidParameter as e:
                raise InvalidParameter(
                    f"{name} is in bytes and expects an integer: {e.message}"
                ) from None
        report = await asyncio.to_thread(self.builder.prune_cache, filters, keep)
        return web.json_response(report)

    async def build(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("version") == "2":
            raise InvalidParameter("buildkit not supported by daemon")
        if q.get("remote"):
            raise InvalidParameter("building from a remote context is not supported")
        buildargs = _json_query(request, "buildargs", dict, "build args")
        labels = _json_query(request, "labels", dict, "labels")
        cachefrom = _json_query(request, "cachefrom", list, "cache from")
        for key, value in buildargs.items():
            if value is not None and not isinstance(value, str):
                raise InvalidParameter(f"invalid build args JSON: value of {key} is not a string")
        options = {
            "dockerfile": q.get("dockerfile") or "Dockerfile",
            "tags": [t for t in q.getall("t", []) if t],
            "buildargs": buildargs,
            "target": q.get("target") or None,
            "nocache": query_bool(request, "nocache"),
            "pull": query_bool(request, "pull"),
            "rm": query_bool(request, "rm", True),
            "forcerm": query_bool(request, "forcerm"),
            "labels": {str(k): str(v) for k, v in labels.items()},
            "networkmode": q.get("networkmode") or "default",
            "platform": q.get("platform") or None,
            "cachefrom": [str(c) for c in cachefrom],
            "registry_auth": _registry_config(request),
            "quiet": query_bool(request, "q"),
        }
        loop = asyncio.get_running_loop()
        body = BlockingBody(request, loop)
        cancel = threading.Event()

        async def job(progress: Progress) -> None:
            from dockyard.build.runner import RunError
            from dockyard.build.service import error_message

            work = asyncio.ensure_future(
                asyncio.to_thread(
                    self.builder.build, body, on_message=progress, cancel=cancel, **options
                )
            )
            try:
                # A step may be silent for long: notice a client that went away meanwhile.
                while not work.done():
                    await asyncio.wait([work], timeout=0.5)
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        cancel.set()
                image_id = await work
            except asyncio.CancelledError:  # the client went away: stop the build
                cancel.set()
                raise
            except RunError as err:  # after its output: the errorDetail carries the code
                progress(error_message(err))
                return
            if self.events is not None:
                for tag in options["tags"]:
                    self.events.publish("image", "tag", image_id, {"name": tag})

        return await stream_progress(request, job)
