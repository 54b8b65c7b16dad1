"""The registry client: `pull`, `push` and `login`, as the daemon calls them.

    image = await pull(ref, content, images, registry_config=cfg, auth=creds,
                       platform=None, progress=callback)
    digest = await push(ref, content, images, registry_config=cfg, auth=creds,
                        progress=callback)
    answer = await login("127.0.0.1:5000", user, password, cfg)

`auth` is the credentials from the client's config: {"username", "password"} or
{"identitytoken"}; `progress` receives Docker's progress messages as dicts.
"""

from __future__ import annotations

import base64
import binascii
import json

import aiohttp

from ..errors import InvalidParameter, Unauthorized
from .auth import basic_header
from .config import DOCKER_HUB, RegistryConfig
from .pull import PullResult, fetch, pull
from .push import push, push_manifest
from .registry_errors import describe
from .transport import RegistryTransport

__all__ = [
    "PullResult",
    "RegistryConfig",
    "decode_registry_auth",
    "fetch",
    "login",
    "normalize_registry",
    "pull",
    "push",
    "push_manifest",
]


def decode_registry_auth(header: str | None) -> dict | None:
    """Credentials from an `X-Registry-Auth` header (base64url JSON, as the docker CLI sends).

    Returns {"username", "password"} or {"identitytoken"} or {"registrytoken"} (with
    "serveraddress" when given), or None for an empty or anonymous header.
    """
    if not header:
        return None
    text = header.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        doc = json.loads(raw)
    except (ValueError, binascii.Error):
        raise InvalidParameter("invalid X-Registry-Auth header") from None
    if not isinstance(doc, dict):
        return None
    doc = {k.lower(): v for k, v in doc.items() if isinstance(v, str) and v}
    if doc.get("auth") and not doc.get("username"):
        user, _, password = base64.b64decode(doc["auth"]).decode().partition(":")
        doc["username"], doc["password"] = user, password
    creds = {
        k: doc[k]
        for k in ("username", "password", "identitytoken", "registrytoken", "serveraddress")
        if k in doc
    }
    if not any(k in creds for k in ("username", "identitytoken", "registrytoken")):
        return None
    return creds


def normalize_registry(registry: str | None) -> str:
    """The registry host of a `docker login` argument (`docker.io` for Docker Hub)."""
    if not registry:
        return DOCKER_HUB
    host = registry.split("://", 1)[-1].split("/", 1)[0]
    if host in ("index.docker.io", "registry-1.docker.io", "docker.io", "registry.hub.docker.com"):
        return DOCKER_HUB
    return host


async def login(
    registry: str, username: str, password: str, registry_config: RegistryConfig | None = None
) -> dict:
    """Check credentials against the registry's /v2/; Docker's answer on success.

    Returns {"Status": "Login Succeeded", "IdentityToken": "..."}; raises Unauthorized.
    """
    domain = normalize_registry(registry)
    creds = {"username": username, "password": password}
    async with aiohttp.ClientSession(trust_env=False) as http:
        t = RegistryTransport(http, domain, registry_config or RegistryConfig(), creds)
        await t.open()
        ch = t.auth.challenge
        identity = ""
        if ch is not None and ch.scheme == "bearer":
            await t.auth.fetch_token(ch, [], offline=True)
            identity = getattr(t.auth, "refresh_token", "") or ""
        elif ch is not None:
            url = t.url("/v2/")
            async with http.get(
                url, ssl=t.ssl, headers={"Authorization": basic_header(username, password)}
            ) as resp:
                body = await resp.read()
                if resp.status == 401:
                    raise Unauthorized(
                        f"login attempt to {url} failed with status: 401 Unauthorized"
                    )
                if resp.status != 200:
                    raise Unauthorized(
                        f"login attempt to {url} failed with status: "
                        f"{resp.status} {resp.reason}: "
                        f"{describe(body, resp.status)}"
                    )
    return {"Status": "Login Succeeded", "IdentityToken": identity}
