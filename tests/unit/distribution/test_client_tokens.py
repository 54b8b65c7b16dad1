"""The bearer-token flow: a small token issuer in front of dockyard's registry server."""

from __future__ import annotations

import asyncio
import base64
import secrets

import pytest
from aiohttp import web
from distribution_helpers import digest, image_manifest, image_parts, running

from dockyard.content.store import ContentStore
from dockyard.distribution import mediatypes
from dockyard.distribution.client import fetch, login, push_manifest
from dockyard.distribution.server import make_app
from dockyard.errors import Unauthorized

USERS = {"alice": "pw"}


def token_registry(root: str) -> tuple[web.Application, dict]:
    """Our registry behind a token issuer (`/token`), as Docker Hub is behind auth.docker.io.

    Anonymous tokens may pull `public/*`; alice may pull and push everything. Refresh tokens
    (identity tokens) are issued to `offline_token=true` logins.
    """
    app = make_app(root)
    state: dict = {"tokens": {}, "refresh": {}, "token_requests": [], "realm": ""}

    def grant(user: str | None, scopes: list[str]) -> dict:
        granted = {}
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository":
                continue
            allowed = set(actions.split(","))
            if user is None:
                allowed &= {"pull"} if name.startswith("public/") else set()
            granted[name] = granted.get(name, set()) | allowed
        return granted

    async def token(request: web.Request) -> web.Response:
        user = None
        if request.method == "POST":
            form = await request.post()
            state["token_requests"].append(("POST", dict(form)))
            if (
                form.get("grant_type") != "refresh_token"
                or form.get("refresh_token") not in state["refresh"]
            ):
                return web.json_response({"details": "invalid refresh token"}, status=401)
            user = state["refresh"][form["refresh_token"]]
            scopes = [s for s in (form.get("scope") or "").split(" ") if s]
        else:
            state["token_requests"].append(("GET", dict(request.query)))
            header = request.headers.get("Authorization", "")
            if header.startswith("Basic "):
                name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                if USERS.get(name) != password:
                    return web.json_response(
                        {"details": "incorrect username or password"}, status=401
                    )
                user = name
            scopes = request.query.getall("scope", [])
        value = secrets.token_hex(8)
        state["tokens"][value] = grant(user, scopes)
        answer = {"token": value, "expires_in": 300}
        if user and request.query.get("offline_token") == "true":
            refresh = secrets.token_hex(8)
            state["refresh"][refresh] = user
            answer["refresh_token"] = refresh
        return web.json_response(answer)

    @web.middleware
    async def require_token(request: web.Request, handler):
        if request.path == "/token":
            return await handler(request)
        tail = request.path[len("/v2/") :]
        name = None
        for marker in ("/blobs/", "/manifests/", "/tags/"):
            if marker in tail:
                name = tail.split(marker)[0]
        action = "pull" if request.method in ("GET", "HEAD") else "push"
        header = request.headers.get("Authorization", "")
        granted = state["tokens"].get(header[7:]) if header.startswith("Bearer ") else None
        ok = granted is not None and (name is None or action in granted.get(name, set()))
        if request.query.get("from") and ok:
            ok = "pull" in granted.get(request.query["from"], set())
        if not ok:
            challenge = f'Bearer realm="{state["realm"]}",service="test-registry"'
            if name:
                wanted = "pull" if action == "pull" else "pull,push"
                challenge += f',scope="repository:{name}:{wanted}"'
            body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
            return web.json_response(body, status=401, headers={"WWW-Authenticate": challenge})
        return await handler(request)

    app.middlewares.append(require_token)
    app.router.add_route("GET", "/token", token)
    app.router.add_route("POST", "/token", token)
    return app, state


def test_bearer_token_flow(tmp_path):
    config, layers = image_parts(2, seed="tokens")
    src = ContentStore(str(tmp_path / "src"))
    for blob in [config, *layers]:
        src.put(blob)
    body = image_manifest(config, layers, mediatypes.OCI_MANIFEST)
    src.put(body)
    app, state = token_registry(str(tmp_path / "reg"))

    async def scenario():
        async with running(app) as host:
            state["realm"] = f"http://{host}/token"
            creds = {"username": "alice", "password": "pw"}
            # anonymous push is refused
            with pytest.raises(Unauthorized):
                await push_manifest(f"{host}/public/app:1", src, body, mediatypes.OCI_MANIFEST)
            await push_manifest(
                f"{host}/public/app:1", src, body, mediatypes.OCI_MANIFEST, auth=creds
            )
            await push_manifest(
                f"{host}/private/app:1", src, body, mediatypes.OCI_MANIFEST, auth=creds
            )
            scopes = [q.get("scope") for m, q in state["token_requests"] if m == "GET"]
            assert "repository:private/app:pull,push" in scopes
            # anonymous pull of a public repository works, of a private one not
            r = await fetch(f"{host}/public/app:1", ContentStore(str(tmp_path / "a")))
            assert r.manifest_digest == digest(body)
            with pytest.raises(Unauthorized):
                await fetch(f"{host}/private/app:1", ContentStore(str(tmp_path / "b")))
            # wrong password: the token server's refusal
            with pytest.raises(Unauthorized, match="incorrect username or password"):
                await fetch(
                    f"{host}/private/app:1",
                    ContentStore(str(tmp_path / "c")),
                    auth={"username": "alice", "password": "no"},
                )
            # login hands out an identity token, which then works as a refresh token
            answer = await login(host, "alice", "pw")
            assert answer["Status"] == "Login Succeeded" and answer["IdentityToken"]
            with pytest.raises(Unauthorized):
                await login(host, "alice", "wrong")
            r = await fetch(
                f"{host}/private/app:1",
                ContentStore(str(tmp_path / "d")),
                auth={"identitytoken": answer["IdentityToken"]},
            )
            assert r.config_digest == digest(config)
            assert any(
                m == "POST" and q["grant_type"] == "refresh_token"
                for m, q in state["token_requests"]
            )

    asyncio.run(scenario())
