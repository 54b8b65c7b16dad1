"""Registry authentication: WWW-Authenticate challenges, basic credentials, bearer tokens.

The token flow is Docker's: the registry answers 401 with
`Bearer realm="...",service="...",scope="..."`; the client asks the realm for a token for
`repository:NAME:pull,push` (with basic credentials, or an identity token as a refresh token)
and retries with `Authorization: Bearer TOKEN`.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field

import aiohttp

from ..errors import Unauthorized
from .registry_errors import describe

_PARAM_RE = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer"
    params: dict = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenges(headers: list[str]) -> list[Challenge]:
    """Parse WWW-Authenticate header values into challenges (scheme lower-cased)."""
    out = []
    for header in headers:
        # one header may hold several challenges: split before each `Scheme ` token
        for part in re.split(r",\s*(?=[A-Za-z]+\s+[A-Za-z_][\w-]*\s*=)", header.strip()):
            scheme, _, rest = part.strip().partition(" ")
            if not scheme:
                continue
            params = {}
            for m in _PARAM_RE.finditer(rest):
                value = m.group(2) if m.group(2) is not None else m.group(3)
                params[m.group(1).lower()] = value.replace('\\"', '"')
            out.append(Challenge(scheme.lower(), params))
    return out


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Authenticator:
    """Authorization headers for one registry host, from its challenge and the credentials."""

    def __init__(self, http: aiohttp.ClientSession, credentials: dict | None) -> None:
        self.http = http
        self.credentials = credentials or {}
        self.challenge: Challenge | None = None
        self._tokens: dict[tuple, tuple[str, float]] = {}

    @property
    def has_credentials(self) -> bool:
        c = self.credentials
        return bool(
            c.get("identitytoken")
            or c.get("username")
            or c.get("password")
            or c.get("registrytoken")
        )

    def learn(self, headers: list[str]) -> None:
        """Remember the challenge from a 401 (bearer preferred, as Docker does)."""
        challenges = parse_challenges(headers)
        chosen = next((c for c in challenges if c.scheme == "bearer"), None) or next(
            (c for c in challenges if c.scheme == "basic"), None
        )
        if chosen is not None:
            self.challenge = chosen

    async def header(self, scopes: list[str], refresh: bool = False) -> str | None:
        """The Authorization value for a request needing `scopes`, or None (anonymous)."""
        ch = self.challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            c = self.credentials
            if c.get("username") is None and c.get("password") is None:
                return None
            return basic_header(c.get("username", ""), c.get("password", ""))
        if ch.scheme == "bearer":
            if self.credentials.get("registrytoken"):
                return "Bearer " + self.credentials["registrytoken"]
            key = (ch.realm, ch.params.get("service", ""), tuple(sorted(scopes)))
            cached = self._tokens.get(key)
            if cached and not refresh and cached[1] > time.monotonic():
                return "Bearer " + cached[0]
            token, lifetime = await self.fetch_token(ch, scopes)
            self._tokens[key] = (token, time.monotonic() + max(lifetime - 10, 5))
            return "Bearer " + token
        return None

    async def fetch_token(
        self, ch: Challenge, scopes: list[str], offline: bool = False
    ) -> tuple[str, int]:
        """Ask the realm for a token; returns (token, lifetime in seconds)."""
        if not ch.realm.startswith(("http://", "https://")):
            raise Unauthorized(f"invalid token realm {ch.realm!r}")
        service = ch.params.get("service", "")
        c = self.credentials
        if c.get("identitytoken"):
            form = {
                "grant_type": "refresh_token",
                "refresh_token": c["identitytoken"],
                "service": service,
                "client_id": "dockyard",
                "scope": " ".join(scopes),
            }
            resp = await self.http.post(ch.realm, data=form)
        else:
            query: list[tuple[str, str]] = []
            if service:
                query.append(("service", service))
            query += [("scope", s) for s in scopes]
            headers = {}
            if c.get("username") is not None or c.get("password") is not None:
                headers["Authorization"] = basic_header(
                    c.get("username", ""), c.get("password", "")
                )
                if offline:
                    query += [
                        ("offline_token", "true"),
                        ("client_id", "dockyard"),
                        ("account", c.get("username", "")),
                    ]
            resp = await self.http.get(ch.realm, params=query, headers=headers)
        async with resp:
            body = await resp.read()
            if resp.status != 200:
                text = describe(body, resp.status, resp.reason or "")
                if resp.status == 401:
                    if not text.startswith("unauthorized"):
                        text = "unauthorized: " + text
                    raise Unauthorized(text)
                raise Unauthorized(f"failed to fetch token: {text}")
            try:
                doc = await resp.json(content_type=None)
            except ValueError:
                raise Unauthorized("failed to decode token response") from None
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise Unauthorized("authorization server did not include a token in the response")
        if doc.get("refresh_token"):
            self.refresh_token = doc["refresh_token"]
        return token, int(doc.get("expires_in") or 60)
