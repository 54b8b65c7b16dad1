"""BuildService: `docker build` (the classic builder) below the HTTP API.

`build()` is synchronous and thread-safe (each call has its own context directory and
executor; the stores below are thread-safe): the API runs it in a thread and streams the
messages it hands to `on_message`, in Docker's JSON stream shapes:
`{"stream": "Step 1/3 : FROM busybox\\n"}`, `{"aux": {"ID": "sha256:..."}}`, and, through
`error_message()`, `{"errorDetail": {"code": N, "message": ...}, "error": ...}`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from dockyard.build.cache import BuildCache
from dockyard.build.contextdir import BuildContext
from dockyard.build.executor import Executor
from dockyard.build.runner import RunError
from dockyard.build.state import BuildError, BuildOptions, Engine
from dockyard.dockerfile.parser import parse
from dockyard.errors import DockyardError, describe
from dockyard.images.reference import parse_reference
from dockyard.images.service import Image, short_id

Message = dict[str, Any]
# pull(name, platform, auth configs by registry as X-Registry-Config has them) -> Image
PullFn = Callable[[str, str | None, dict[str, dict]], Image]


def error_message(err: BaseException) -> Message:
    """The JSON stream's error message for `err` (a RUN's exit code as its code)."""
    message = describe(err)
    detail: dict[str, Any] = {"message": message}
    if isinstance(err, RunError):
        detail = {"code": err.code, "message": message}
    return {"errorDetail": detail, "error": message}


def auth_for(name: str, auth_configs: dict[str, dict]) -> dict | None:
    """The credentials X-Registry-Config holds for the registry of image `name`."""
    from dockyard.distribution.client import normalize_registry

    registry = normalize_registry(parse_reference(name).registry)
    for server, config in auth_configs.items():
        if not isinstance(config, dict) or normalize_registry(server) != registry:
            continue
        creds = {k.lower(): v for k, v in config.items() if isinstance(v, str) and v}
        if creds.get("auth") and not creds.get("username"):
            user, _, password = base64.b64decode(creds["auth"]).decode().partition(":")
            creds["username"], creds["password"] = user, password
        picked = {
            k: creds[k] for k in ("username", "password", "identitytoken", "registrytoken")
            if k in creds
        }  # fmt: skip
        return picked or None
    return None


def _puller(content: Any, images: Any, registry_config: Any) -> PullFn:
    def pull(name: str, platform: str | None, auth_configs: dict[str, dict]) -> Image:
        from dockyard.distribution.pull import pull as fetch_and_register

        # The build runs in a worker thread without an event loop of its own.
        return asyncio.run(
            fetch_and_register(
                name,
                content,
                images,
                registry_config=registry_config,
                auth=auth_for(name, auth_configs),
                platform=platform,
            )
        )

    return pull


class BuildService:
    """Builds images from a context tar and a Dockerfile in it."""

    def __init__(
        self,
        root: str,
        *,
        images: Any,
        snapshots: Any,
        containers: Any,
        pull: PullFn | None = None,
        content: Any = None,
        registry_config: Any = None,
        tmp_dir: str | None = None,
    ) -> None:
        """`pull(name, platform)` fetches a base image that is not here (or with `pull`);
        without it, given the content store, the distribution client does it."""
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.tmp_dir = tmp_dir or os.path.join(root, "tmp")
        os.makedirs(self.tmp_dir, exist_ok=True)
        self.engine = Engine(
            images=images,
            snapshots=snapshots,
            containers=containers,
            cache=BuildCache(os.path.join(root, "cache"), images),
            pull=pull or (_puller(content, images, registry_config) if content else None),
        )

    def reconcile(self) -> list[str]:
        """At daemon start: drop what a build cut short left (its snapshots, its temp files)."""
        removed: list[str] = []
        for info in list(self.engine.snapshots.walk()):
            if info.kind != "committed" and info.name.startswith(("build-", "build-view-")):
                try:
                    self.engine.snapshots.remove(info.name)
                    removed.append(info.name)
                except DockyardError:
                    pass
        for name in os.listdir(self.tmp_dir):
            shutil.rmtree(os.path.join(self.tmp_dir, name), ignore_errors=True)
        return removed

    def cache_records(self) -> list[dict[str, Any]]:
        """The build cache as `GET /system/df` lists it (BuildCache objects)."""
        return self.engine.cache.records()

    def prune_cache(
        self, filters: dict[str, list[str]] | None = None, keep_storage: int = 0
    ) -> dict[str, Any]:
        """`POST /build/prune`: drop cache records; {"CachesDeleted", "SpaceReclaimed"}."""
        return self.engine.cache.prune(filters, keep_storage)

    def build(
        self,
        context: BinaryIO,
        *,
        dockerfile: str = "Dockerfile",
        tags: list[str] | None = None,
        buildargs: dict[str, str | None] | None = None,
        target: str | None = None,
        nocache: bool = False,
        pull: bool = False,
        rm: bool = True,
        forcerm: bool = False,
        labels: dict[str, str] | None = None,
        networkmode: str = "default",
        platform: str | None = None,
        cachefrom: list[str] | None = None,
        registry_auth: dict[str, dict] | None = None,
        quiet: bool = False,
        on_message: Callable[[Message], None] = lambda m: None,
        cancel: threading.Event | None = None,
    ) -> str:
        """Build the image; returns its ID. Errors are raised (see `error_message`).

        Setting `cancel` (the client went away) stops the build at its next step.
        """
        refs = [parse_reference(t) for t in tags or []]
        options = BuildOptions(
            dockerfile=dockerfile or "Dockerfile",
            tags=list(tags or []),
            buildargs=dict(buildargs or {}),
            target=target or None,
            nocache=nocache,
            pull=pull,
            rm=rm,
            forcerm=forcerm,
            labels=dict(labels or {}),
            networkmode=networkmode or "default",
            platform=platform or None,
            cachefrom=list(cachefrom or []),
            registry_auth=dict(registry_auth or {}),
        )
        held: list[Message] = []

        def out(text: str) -> None:
            if quiet:
                held.append({"stream": text})
            else:
                on_message({"stream": text})

        try:
            with BuildContext.from_tar(context, self.tmp_dir) as ctx:
                df = parse(ctx.read_dockerfile(options.dockerfile))
                ctx.apply_dockerignore()
                executor = Executor(
                    self.engine,
                    ctx,
                    options,
                    out,
                    lambda i: on_message({"aux": {"ID": i}}),
                    cancel,
                )
                image_id = executor.build(df)
        except BaseException:
            for message in held:
                on_message(message)
            raise
        if quiet:
            on_message({"stream": image_id + "\n"})
        else:
            on_message({"stream": f"Successfully built {short_id(image_id)}\n"})
        for ref in refs:
            self.engine.images.tag(image_id, str(ref))
            if not quiet:
                on_message({"stream": f"Successfully tagged {ref.familiar()}\n"})
        return image_id


__all__ = ["BuildError", "BuildService", "error_message"]
