"""Image routes: list, inspect, history, tag, remove, prune, pull/import, push, save, load,
and /auth (login)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from dockyard.api.app import Routes
from dockyard.api.body import query_bool, read_json_object
from dockyard.api.filters import request_filters
from dockyard.api.progress import Progress, stream_progress
from dockyard.api.registryauth import request_auth
from dockyard.api.streams import BlockingBody, dumps
from dockyard.daemon.events import EventBus
from dockyard.errors import InvalidParameter

# What containers use each image: image id -> [(container id, running)], read in one pass
ImageUsage = Callable[[], dict[str, list[tuple[str, bool]]]]


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type="application/json")


class ImageRoutes:
    def __init__(
        self,
        images: Any,
        content: Any,
        events: EventBus,
        registry_config: Any = None,
        image_usage: ImageUsage | None = None,
        commit: Callable[..., str] | None = None,
    ) -> None:
        self.images = images
        self.content = content
        self.events = events
        self.registry_config = registry_config
        self.image_usage = image_usage
        self.commit_fn = commit

    def setup(self, routes: Routes) -> None:
        routes.get("/images/json", self.list)
        routes.post("/images/create", self.create)
        routes.post("/images/load", self.load)
        routes.get("/images/get", self.save)
        routes.post("/images/prune", self.prune)
        routes.post("/auth", self.auth)
        if self.commit_fn is not None:
            routes.post("/commit", self.commit)
        routes.get("/images/{name:.+}/json", self.inspect)
        routes.get("/images/{name:.+}/history", self.history)
        routes.post("/images/{name:.+}/tag", self.tag)
        routes.post("/images/{name:.+}/push", self.push)
        routes.get("/images/{name:.+}/get", self.save_one)
        routes.delete("/images/{name:.+}", self.remove)

    def _in_use(self, image_id: str) -> list[tuple[str, bool]]:
        """Blocking (reads every container's state): call it in a thread."""
        return self.image_usage().get(image_id, []) if self.image_usage else []

    def _image_event(self, action: str, image_id: str, name: str = "") -> None:
        self.events.publish("image", action, name or image_id, {"name": name or image_id})

    async def list(self, request: web.Request) -> web.Response:
        filters = request_filters(request)
        all_ = query_bool(request, "all")
        out = await asyncio.to_thread(self.images.list, all_, filters)
        if self.image_usage is not None:
            usage = await asyncio.to_thread(self.image_usage)
            for entry in out:
                entry["Containers"] = len(usage.get(entry["Id"], []))
        return _json(out)

    async def inspect(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return _json(await asyncio.to_thread(self.images.inspect, name))

    async def history(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return _json(await asyncio.to_thread(self.images.history, name))

    async def tag(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        repo = request.query.get("repo", "")
        if not repo:
            raise InvalidParameter("repository name must have at least one component")
        ref = await asyncio.to_thread(self.images.tag, name, repo, request.query.get("tag"))
        image_id = await asyncio.to_thread(self.images.resolve, str(ref))
        self.events.publish("image", "tag", image_id, {"name": ref.familiar()})
        return web.Response(status=201)

    async def remove(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        records = await asyncio.to_thread(
            self.images.remove,
            name,
            query_bool(request, "force"),
            query_bool(request, "noprune"),
            self._in_use,
        )
        for rec in records:
            if "Untagged" in rec:
                self.events.publish("image", "untag", rec["Untagged"], {"name": rec["Untagged"]})
            if "Deleted" in rec:
                self.events.publish("image", "delete", rec["Deleted"], {"name": rec["Deleted"]})
        return _json(records)

    async def prune(self, request: web.Request) -> web.Response:
        filters = request_filters(request)
        report = await asyncio.to_thread(self.images.prune, True, filters, self._in_use)
        for rec in report.get("ImagesDeleted") or []:
            if "Deleted" in rec:
                self.events.publish("image", "delete", rec["Deleted"], {"name": rec["Deleted"]})
        self.events.publish("image", "prune", "", {"reclaimed": str(report["SpaceReclaimed"])})
        return _json(report)

    # -- pull, import, push -----------------------------------------------------------------

    async def create(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("fromSrc"):
            return await self._import(request)
        from_image = q.get("fromImage", "")
        if not from_image:
            raise InvalidParameter("fromImage or fromSrc is required")
        tag = q.get("tag", "")
        ref = from_image
        if tag:
            ref += ("@" if tag.startswith("sha256:") else ":") + tag
        auth = request_auth(request)
        platform = q.get("platform") or None

        async def job(progress: Progress) -> None:
            from dockyard.distribution.pull import pull

            image = await pull(
                ref,
                self.content,
                self.images,
                registry_config=self.registry_config,
                auth=auth,
                platform=platform,
                progress=progress,
            )
            image_id = getattr(image, "id", "")
            self.events.publish("image", "pull", _familiar(ref), {"name": _familiar(ref)})
            del image_id

        return await stream_progress(request, job)

    async def _import(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        src = q["fromSrc"]
        repo = q.get("repo", "")
        tag = q.get("tag", "")
        repo_tag = None
        if repo:
            repo_tag = repo + (":" + tag if tag else "")
        changes = q.getall("changes", [])
        message = q.get("message", "")
        platform = q.get("platform") or None
        loop = asyncio.get_running_loop()

        async def job(progress: Progress) -> None:
            if src == "-":
                body: Any = BlockingBody(request, loop)
                image_id = await asyncio.to_thread(
                    self.images.import_rootfs, body, repo_tag, changes, message, platform, "-"
                )
            else:
                image_id = await asyncio.to_thread(
                    _import_url, self.images, src, repo_tag, changes, message, platform
                )
            progress({"status": image_id})
            self.events.publish("image", "import", image_id, {"name": repo_tag or image_id})

        return await stream_progress(request, job)

    async def push(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        tag = request.query.get("tag", "")
        ref = name + (":" + tag if tag else "")
        auth = request_auth(request)

        async def job(progress: Progress) -> None:
            from dockyard.distribution.push import push

            await push(
                ref,
                self.content,
                self.images,
                registry_config=self.registry_config,
                auth=auth,
                progress=progress,
            )
            self.events.publish("image", "push", _familiar(ref), {"name": _familiar(ref)})

        return await stream_progress(request, job)

    # -- save and load ----------------------------------------------------------------------

    async def save(self, request: web.Request) -> web.StreamResponse:
        names = []
        for n in request.query.getall("names", []):
            names += [x for x in n.split(",") if x] if "," in n else [n]
        if not names:
            raise InvalidParameter("no images given")
        return await self._save(request, names)

    async def save_one(self, request: web.Request) -> web.StreamResponse:
        return await self._save(request, [request.match_info["name"]])

    async def _save(self, request: web.Request, names: list[str]) -> web.StreamResponse:
        from dockyard.images import archive

        for n in names:
            await asyncio.to_thread(self.images.resolve, n)  # 404 before the 200
        rfd, wfd = os.pipe()
        errors: list[BaseException] = []

        def writer() -> None:
            with os.fdopen(wfd, "wb") as out:
                try:
                    archive.save(self.images, names, out)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

        thread = threading.Thread(target=writer, daemon=True, name="image-save")
        thread.start()
        resp = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        resp.enable_chunked_encoding()
        reader = os.fdopen(rfd, "rb")
        try:
            await resp.prepare(request)
            while True:
                chunk = await asyncio.to_thread(reader.read1, 1 << 20)
                if not chunk:
                    break
                await resp.write(chunk)
        finally:
            reader.close()
            await asyncio.to_thread(thread.join)
        if errors:
            raise errors[0]
        for n in names:
            self.events.publish("image", "save", n, {"name": n})
        await resp.write_eof()
        return resp

    async def load(self, request: web.Request) -> web.StreamResponse:
        from dockyard.images import archive

        quiet = query_bool(request, "quiet")
        loop = asyncio.get_running_loop()
        body = BlockingBody(request, loop)
        messages = await asyncio.to_thread(archive.load, self.images, body, quiet)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for m in messages:
            await resp.write(dumps({"stream": m if m.endswith("\n") else m + "\n"}))
            self.events.publish("image", "load", m.split(": ", 1)[-1].strip(), {})
        await resp.write_eof()
        return resp

    # -- commit -----------------------------------------------------------------------------

    async def commit(self, request: web.Request) -> web.Response:
        q = request.query
        ref = q.get("container", "")
        if not ref:
            raise InvalidParameter("container is required")
        body = await read_json_object(request)
        repo = q.get("repo", "")
        tag = q.get("tag", "")
        repo_tag = (repo + (":" + tag if tag else "")) if repo else None
        assert self.commit_fn is not None
        image_id = await asyncio.to_thread(
            lambda: self.commit_fn(  # type: ignore[misc]
                ref,
                repo_tag=repo_tag,
                comment=q.get("comment", ""),
                author=q.get("author", ""),
                changes=q.getall("changes", []),
                pause=query_bool(request, "pause", True),
                config=body or None,
            )
        )
        self.events.publish("container", "commit", ref, {"comment": q.get("comment", "")})
        return _json({"Id": image_id}, 201)

    # -- login ------------------------------------------------------------------------------

    async def auth(self, request: web.Request) -> web.Response:
        from dockyard.distribution.client import login

        body = await read_json_object(request)
        username = body.get("username") or ""
        password = body.get("password") or ""
        server = body.get("serveraddress") or ""
        if not isinstance(username, str) or not isinstance(password, str):
            raise InvalidParameter("json: username and password must be strings")
        if isinstance(server, str):
            url = server if server.startswith(("http://", "https://")) else "https://" + server
            problem = _go_url_problem(url)
            if problem:  # dockerd parses the address with Go's net/url first
                raise InvalidParameter(
                    f"unable to parse server address: parse {json.dumps(url)}: {problem}"
                )
        result = await login(server, username, password, self.registry_config)
        return _json(result)


_USERINFO_OK = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._:~!$&'()*+,;=%@"
)
_HOST_OK = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:[]<>\"%"
)


def _go_url_problem(url: str) -> str:
    """What Go's url.Parse refuses in an http(s) URL (its wording), or "": ASCII controls,
    userinfo outside its character set, ASCII characters a host name cannot hold."""
    if any(c < " " or c == "\x7f" for c in url):
        return "net/url: invalid control character in URL"
    authority = url.split("://", 1)[1].split("/", 1)[0]
    userinfo, at, host = authority.rpartition("@")
    if at and not all(c in _USERINFO_OK for c in userinfo):
        return "net/url: invalid userinfo"
    for c in host:
        if c < "\x80" and c not in _HOST_OK:
            return f"invalid character {json.dumps(c)} in host name"
    return ""


def _familiar(ref: str) -> str:
    try:
        from dockyard.images.reference import parse_any_reference

        return parse_any_reference(ref).familiar()
    except Exception:  # noqa: BLE001
        return ref


def _import_url(
    images: Any,
    src: str,
    repo_tag: str | None,
    changes: list[str],
    message: str,
    platform: str | None,
) -> str:
    """fromSrc=URL: fetch the tarball over HTTP(S) and import it."""
    import urllib.request

    if not src.startswith(("http://", "https://")):
        raise InvalidParameter(f"invalid fromSrc: {src!r} is neither - nor a URL")
    with urllib.request.urlopen(src, timeout=60) as resp:  # noqa: S310 - Docker's behaviour
        return images.import_rootfs(resp, repo_tag, changes, message, platform, src)
