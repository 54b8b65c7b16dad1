"""HTTP to one registry: endpoint and scheme discovery, auth challenges, Docker's errors.

`RegistryTransport.open()` pings `/v2/` on each candidate endpoint (mirrors first for Docker
Hub pulls), choosing HTTPS, or for insecure registries HTTPS without verification and then
plain HTTP, and learns the auth challenge. `request()` adds the Authorization header for the
scopes asked and retries once after a 401 with fresh credentials.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from urllib.parse import quote

import aiohttp
from yarl import URL

from ..errors import DockyardError, Unauthorized, Unavailable
from .auth import Authenticator
from .config import DOCKER_HUB, DOCKER_HUB_ENDPOINT, RegistryConfig
from .registry_errors import describe

PING_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=10)
NETWORK_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError, ssl.SSLError)


class RegistryTransport:
    """One registry host (or its mirrors) as seen by one pull, push or login."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        domain: str,
        config: RegistryConfig,
        credentials: dict | None,
        *,
        use_mirrors: bool = False,
    ) -> None:
        self.http = http
        self.domain = domain
        self.config = config
        self.auth = Authenticator(http, credentials)
        self.use_mirrors = use_mirrors
        self.base = ""
        self.ssl: ssl.SSLContext | bool | None = None
        self.is_mirror = False

    def candidates(self) -> list[tuple[str, bool]]:
        """(scheme-less host or full URL, is_mirror) in the order they are tried."""
        if self.domain == DOCKER_HUB:
            mirrors = [(m, True) for m in self.config.mirrors] if self.use_mirrors else []
            return mirrors + [(DOCKER_HUB_ENDPOINT, False)]
        return [(self.domain, False)]

    async def open(self, target: str | None = None) -> None:
        """Reach `target` (default: the first reachable candidate) and learn its auth."""
        if target is not None:
            await self._ping(target)
            self.is_mirror = target in self.config.mirrors
            return
        errors = []
        for candidate, mirror in self.candidates():
            try:
                await self._ping(candidate)
                self.is_mirror = mirror
                return
            except DockyardError as e:
                errors.append(e)
        raise errors[-1]

    async def _ping(self, target: str) -> None:
        if "://" in target:
            scheme, _, host = target.partition("://")
            attempts = [(scheme, host.rstrip("/"), None if scheme == "https" else False)]
            insecure = await asyncio.to_thread(self.config.is_insecure, host)
            if insecure and scheme == "https":
                attempts = [("https", host.rstrip("/"), False)]
        else:
            host = target
            insecure = await asyncio.to_thread(self.config.is_insecure, host)
            attempts = (
                [("https", host, False), ("http", host, False)]
                if insecure
                else [("https", host, None)]
            )
        last: BaseException | None = None
        for scheme, host, ssl_mode in attempts:
            url = f"{scheme}://{host}/v2/"
            try:
                async with self.http.get(
                    url, ssl=ssl_mode, timeout=PING_TIMEOUT, allow_redirects=True
                ) as resp:
                    await resp.read()
                    if resp.status == 401:
                        self.auth.learn(resp.headers.getall("WWW-Authenticate", []))
                    elif resp.status >= 400 and resp.status != 404:
                        raise Unavailable(
                            f'Get "{url}": {describe(b"", resp.status, resp.reason or "")}'
                        )
                    self.base = f"{scheme}://{host}"
                    self.ssl = ssl_mode
                    return
            except NETWORK_ERRORS as e:
                last = e
        raise Unavailable(f'Get "{attempts[-1][0]}://{attempts[-1][1]}/v2/": {_reason(last)}')

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base + path

    def location(self, location: str, **query: str) -> str:
        """An upload Location (absolute or relative) with `query` appended, kept encoded."""
        url = location if "://" in location else self.base + "/" + location.lstrip("/")
        for key, value in query.items():
            url += ("&" if "?" in url else "?") + f"{key}={quote(value, safe='')}"
        return url

    async def request(
        self,
        method: str,
        path: str,
        *,
        scopes: Sequence[str],
        headers: dict | None = None,
        data=None,
        replayable: bool = True,
        timeout: aiohttp.ClientTimeout | None = None,
        params: dict | None = None,
    ) -> aiohttp.ClientResponse:
        """Send one request with credentials for `scopes`; one retry after a 401.

        The caller owns the response (use `async with`). A 401 that persists raises
        Unauthorized with Docker's wording.
        """
        url = self.url(path)
        target = URL(url, encoded=True)
        scopes = list(scopes)
        for attempt in (0, 1):
            h = dict(headers or {})
            auth = await self.auth.header(scopes, refresh=attempt == 1)
            if auth:
                h["Authorization"] = auth
            try:
                resp = await self.http.request(
                    method,
                    target,
                    headers=h,
                    data=data,
                    ssl=self.ssl,
                    timeout=timeout,
                    params=params,
                )
            except NETWORK_ERRORS as e:
                raise Unavailable(f'{method.capitalize()} "{url}": {_reason(e)}') from e
            if resp.status != 401:
                return resp
            body = await resp.read()
            resp.release()
            before = self.auth.challenge
            self.auth.learn(resp.headers.getall("WWW-Authenticate", []))
            ch = self.auth.challenge
            if ch is not None and ch.scheme == "bearer" and ch.params.get("scope"):
                for s in ch.params["scope"].split(" "):
                    if s not in scopes:
                        scopes.append(s)
            if ch is not None and ch.scheme == "basic" and not self.auth.has_credentials:
                raise Unauthorized(f'{method.capitalize()} "{url}": no basic auth credentials')
            if (
                attempt == 1
                or not replayable
                or (ch is before and ch is not None and ch.scheme == "basic")
            ):
                raise Unauthorized(describe(body, 401, "Unauthorized"))
        raise AssertionError("unreachable")


def _reason(e: BaseException | None) -> str:
    if isinstance(e, aiohttp.ClientConnectorError):
        return f"dial tcp {e.host}:{e.port}: connect: {e.os_error.strerror or e.os_error}"
    if isinstance(e, asyncio.TimeoutError):
        return "net/http: request canceled (Client.Timeout exceeded)"
    return str(e) or type(e).__name__
