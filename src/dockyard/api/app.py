"""The aiohttp application: versioned routing, Docker's headers and its error bodies.

Every route is reachable unversioned and under `/v1.NN/`; the version in the path is
checked against [1.24, 1.47] and kept as a tuple (read it with `api_version(request)`). Errors from
`dockyard.errors` become `{"message": ...}` with their status; anything else is logged and
answered 500 with its message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from dockyard import __version__
from dockyard.api import streams, versions
from dockyard.errors import DockyardError, NotModified, describe

log = logging.getLogger("dockyard.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_VERSION_PREFIX = r"/v{api_version:[0-9]+(?:\.[0-9]+)*}"

COMMON_HEADERS = {
    "Api-Version": versions.API_VERSION,
    "Docker-Experimental": "false",
    "Ostype": "linux",
    "Server": f"Dockyard/{__version__} (linux)",
}
MAX_BODY = 4 * 1024 * 1024
API_VERSION_KEY = web.RequestKey("api_version", tuple)


def api_version(request: web.Request) -> tuple[int, ...]:
    """The API version the client asked for (the path prefix, or the latest)."""
    return request[API_VERSION_KEY]


class Routes:
    """Registers handlers under both the plain and the versioned path."""

    def __init__(self, app: web.Application) -> None:
        self.router = app.router

    def add(self, method: str, path: str, handler: Handler) -> None:
        self.router.add_route(method, path, handler)
        self.router.add_route(method, _VERSION_PREFIX + path, handler)

    def get(self, path: str, handler: Handler) -> None:
        self.add("GET", path, handler)
        self.add("HEAD", path, handler)

    def post(self, path: str, handler: Handler) -> None:
        self.add("POST", path, handler)

    def put(self, path: str, handler: Handler) -> None:
        self.add("PUT", path, handler)

    def delete(self, path: str, handler: Handler) -> None:
        self.add("DELETE", path, handler)


def error_response(status: int, message: str) -> web.Response:
    if status == 304:
        return web.Response(status=304)
    return web.Response(
        body=streams.dumps({"message": message}), status=status, content_type="application/json"
    )


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        raw = request.match_info.get("api_version")
        request[API_VERSION_KEY] = (
            versions.check(raw) if raw else versions.parse(versions.API_VERSION)
        )
        return await handler(request)
    except NotModified:
        return web.Response(status=304)
    except DockyardError as exc:
        if exc.status >= 500:
            log.error("%s %s: %s", request.method, request.path, exc)
        else:
            log.debug("%s %s: %s", request.method, request.path, exc)
        return error_response(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_response(404, "page not found")
        if exc.status == 413:
            return error_response(413, "request body too large")
        if exc.status >= 400 and exc.content_type != "application/json":
            return error_response(exc.status, exc.reason or exc.text or "error")
        raise
    except ConnectionError:
        # The client went away mid-response: nothing to tell it.
        log.debug("%s %s: client disconnected", request.method, request.path)
        return web.Response(status=204)
    except ValueError as exc:
        if "embedded null" not in str(exc):
            log.exception("%s %s failed", request.method, request.path)
            return error_response(500, str(exc) or exc.__class__.__name__)
        # A NUL inside a path or name the request gave (a file in an archive, a working
        # directory, ...): Python refuses it where Go's syscall layer answers EINVAL.
        log.debug("%s %s: %s", request.method, request.path, exc)
        return error_response(400, "invalid argument: a path or name holds a NUL byte")
    except Exception as exc:  # noqa: BLE001 - the last line of defence, logged
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, describe(exc))


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for k, v in COMMON_HEADERS.items():
        response.headers[k] = v


def make_app(route_setups: list[Callable[[Routes], None]]) -> web.Application:
    """An application with the given route modules' `setup(routes)` functions applied."""
    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY)
    app.on_response_prepare.append(_add_headers)
    streams.set_common_headers(COMMON_HEADERS)
    routes = Routes(app)
    for setup in route_setups:
        setup(routes)
    return app
