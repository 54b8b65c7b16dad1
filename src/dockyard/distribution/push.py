"""Push: blobs (existence check, cross-repository mount, monolithic or chunked upload), then
the manifest, with Docker's progress messages.

`push_manifest()` pushes a manifest whose blobs are in the content store; `push()` asks the
image service for the manifest of a local image first.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from ..content.store import ContentStore, digest_of
from ..errors import DockyardError, InvalidParameter, NotFound
from . import mediatypes
from .config import RegistryConfig
from .mediatypes import Descriptor
from .progress import ProgressFn, Throttle, short_id, silent, status, transfer
from .pull import as_reference, leased
from .registry_errors import describe
from .sources import BlobSources
from .transport import RegistryTransport

MAX_CONCURRENT_UPLOADS = 5
MONOLITHIC_LIMIT = 4 << 20  # blobs up to this size go in one PUT
CHUNK_SIZE = 32 << 20  # larger ones in PATCH chunks of this size
STREAM_CHUNK = 1 << 20
UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)


class _Pusher:
    def __init__(
        self,
        ref,
        content: ContentStore,
        transport: RegistryTransport,
        progress: ProgressFn,
        sources: BlobSources,
    ) -> None:
        self.ref = ref
        self.content = content
        self.t = transport
        self.progress = progress
        self.sources = sources
        self.scopes = [f"repository:{ref.path}:pull,push"]

    def _fail(self, what: str, resp: aiohttp.ClientResponse, body: bytes) -> DockyardError:
        text = describe(body, resp.status, resp.reason or "")
        if resp.status in (401, 403) or "denied" in text:
            return DockyardError(text)
        return DockyardError(f"{what}: {text}")

    async def exists(self, digest: str) -> bool:
        url = f"/v2/{self.ref.path}/blobs/{digest}"
        async with await self.t.request("HEAD", url, scopes=self.scopes) as resp:
            if resp.status == 200:
                return True
            if resp.status == 404:
                return False
            raise self._fail(f"checking blob {digest}", resp, b"")

    async def mount(self, digest: str, source: str) -> str | None:
        """Try a cross-repository mount; returns an upload Location when it falls back."""
        url = f"/v2/{self.ref.path}/blobs/uploads/"
        scopes = self.scopes + [f"repository:{source}:pull"]
        async with await self.t.request(
            "POST", url, scopes=scopes, params={"mount": digest, "from": source}
        ) as resp:
            await resp.read()
            if resp.status == 201:
                return None
            if resp.status == 202 and resp.headers.get("Location"):
                return resp.headers["Location"]
        return await self.start_upload()

    async def start_upload(self) -> str:
        url = f"/v2/{self.ref.path}/blobs/uploads/"
        async with await self.t.request("POST", url, scopes=self.scopes) as resp:
            body = await resp.read()
            if resp.status != 202 or not resp.headers.get("Location"):
                raise self._fail("starting upload", resp, body)
            return resp.headers["Location"]

    async def upload(self, desc: Descriptor, location: str, layer_id: str | None) -> None:
        path = self.content.path(desc.digest)
        size = desc.size
        throttle = Throttle()
        sent = 0

        def report(n: int) -> None:
            nonlocal sent
            sent += n
            if layer_id and throttle.ready(sent >= size):
                self.progress(transfer("Pushing", layer_id, sent, size))

        if size <= MONOLITHIC_LIMIT:
            data = await asyncio.to_thread(_read, path, 0, size)
            url = self.t.location(location, digest=desc.digest)
            async with await self.t.request(
                "PUT",
                url,
                scopes=self.scopes,
                data=data,
                headers={"Content-Type": "application/octet-stream"},
                timeout=UPLOAD_TIMEOUT,
            ) as resp:
                body = await resp.read()
                if resp.status != 201:
                    raise self._fail(f"uploading blob {desc.digest}", resp, body)
            report(size)
            return
        offset = 0
        while offset < size:
            end = min(offset + CHUNK_SIZE, size)
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{end - 1}",
                "Content-Length": str(end - offset),
            }
            async with await self.t.request(
                "PATCH",
                self.t.location(location),
                scopes=self.scopes,
                headers=headers,
                data=_stream(path, offset, end, report),
                replayable=False,
                timeout=UPLOAD_TIMEOUT,
            ) as resp:
                body = await resp.read()
                if resp.status != 202:
                    raise self._fail(f"uploading blob {desc.digest}", resp, body)
                location = resp.headers.get("Location") or location
            offset = end
        url = self.t.location(location, digest=desc.digest)
        async with await self.t.request(
            "PUT", url, scopes=self.scopes, timeout=UPLOAD_TIMEOUT
        ) as resp:
            body = await resp.read()
            if resp.status != 201:
                raise self._fail(f"finishing upload of {desc.digest}", resp, body)

    async def push_blob(self, desc: Descriptor, layer_id: str | None) -> None:
        if not self.content.exists(desc.digest):
            raise NotFound(f"blob {desc.digest} is not in the content store")
        if await self.exists(desc.digest):
            if layer_id:
                self.progress(status("Layer already exists", layer_id))
            await asyncio.to_thread(self.sources.add, desc.digest, self.ref.domain, self.ref.path)
            return
        location = None
        sources = [
            s for s in self.sources.in_registry(desc.digest, self.ref.domain) if s != self.ref.path
        ]
        if sources:
            location = await self.mount(desc.digest, sources[0])
            if location is None:
                if layer_id:
                    self.progress(status(f"Mounted from {sources[0]}", layer_id))
                await asyncio.to_thread(
                    self.sources.add, desc.digest, self.ref.domain, self.ref.path
                )
                return
        if layer_id:
            self.progress(transfer("Pushing", layer_id, 0, desc.size))
        location = location or await self.start_upload()
        await self.upload(desc, location, layer_id)
        await asyncio.to_thread(self.sources.add, desc.digest, self.ref.domain, self.ref.path)
        if layer_id:
            self.progress(status("Pushed", layer_id))

    async def put_manifest(self, reference: str, body: bytes, media_type: str) -> str:
        url = f"/v2/{self.ref.path}/manifests/{reference}"
        async with await self.t.request(
            "PUT", url, scopes=self.scopes, data=body, headers={"Content-Type": media_type}
        ) as resp:
            text = await resp.read()
            if resp.status not in (200, 201):
                raise self._fail("pushing manifest", resp, text)
            returned = resp.headers.get("Docker-Content-Digest")
        digest = digest_of(body)
        if returned and returned != digest:
            raise DockyardError(f"registry returned digest {returned}, expected {digest}")
        return digest


def _read(path: str, start: int, end: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(end - start)


async def _stream(path: str, start: int, end: int, report):
    """An upload body: the bytes [start, end) of a file, read in a thread chunk by chunk."""
    f = await asyncio.to_thread(open, path, "rb")
    try:
        f.seek(start)
        remaining = end - start
        while remaining > 0:
            chunk = await asyncio.to_thread(f.read, min(STREAM_CHUNK, remaining))
            if not chunk:
                raise InvalidParameter(f"{path} is shorter than expected")
            remaining -= len(chunk)
            yield chunk
            report(len(chunk))
    finally:
        f.close()


def _layer_ids(content: ContentStore, manifest: mediatypes.Manifest) -> list[str]:
    """Docker shows a pushed layer by the short form of its diff id (from the config)."""
    ids = [short_id(d.digest) for d in manifest.layers]
    try:
        config = json.loads(content.read(manifest.config.digest))
        diff_ids = config["rootfs"]["diff_ids"]
        if len(diff_ids) == len(ids):
            return [short_id(d) for d in diff_ids]
    except (DockyardError, ValueError, KeyError, TypeError):
        pass
    return ids


async def _push_image(p: _Pusher, manifest: mediatypes.Manifest) -> None:
    layers = list(manifest.layers)
    ids = _layer_ids(p.content, manifest)
    order = list(reversed(range(len(layers))))  # Docker lists the top layer first
    unique: list[int] = []
    seen: set[str] = set()
    for i in order:
        if layers[i].digest not in seen:
            seen.add(layers[i].digest)
            unique.append(i)
    for i in unique:
        p.progress(status("Preparing", ids[i]))
    for i in unique[MAX_CONCURRENT_UPLOADS:]:
        p.progress(status("Waiting", ids[i]))
    limit = asyncio.Semaphore(MAX_CONCURRENT_UPLOADS)

    async def one(i: int) -> None:
        async with limit:
            await p.push_blob(layers[i], ids[i])

    tasks = [asyncio.create_task(one(i)) for i in unique]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    await p.push_blob(manifest.config, None)


async def push_manifest(
    reference,
    content: ContentStore,
    body: bytes,
    media_type: str,
    *,
    registry_config: RegistryConfig | None = None,
    auth: dict | None = None,
    progress: ProgressFn | None = None,
    sources: BlobSources | None = None,
) -> str:
    """Push a manifest (or index) whose blobs are in `content`; returns its digest."""
    ref = as_reference(reference)
    progress = progress or silent
    sources = sources or BlobSources.beside(content.root)
    try:
        manifest = mediatypes.load(body, media_type)
    except mediatypes.ManifestError as e:
        raise InvalidParameter(f"invalid manifest: {e}") from None
    progress(status(f"The push refers to repository [{ref.name}]"))
    async with aiohttp.ClientSession(auto_decompress=False, trust_env=False) as http:
        transport = RegistryTransport(http, ref.domain, registry_config or RegistryConfig(), auth)
        await transport.open()
        p = _Pusher(ref, content, transport, progress, sources)
        if manifest.is_index:
            for entry in manifest.manifests:
                child = await asyncio.to_thread(content.read, entry.digest)
                child_manifest = mediatypes.load(child, entry.media_type or None)
                await _push_image(p, child_manifest)
                await p.put_manifest(entry.digest, child, child_manifest.media_type)
        else:
            await _push_image(p, manifest)
        tag = ref.tag or "latest"
        digest = await p.put_manifest(ref.digest or tag, body, media_type)
    progress(status(f"{tag}: digest: {digest} size: {len(body)}"))
    progress({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": len(body)}})
    return digest


async def push(
    reference,
    content: ContentStore,
    images,
    *,
    registry_config: RegistryConfig | None = None,
    auth: dict | None = None,
    progress: ProgressFn | None = None,
) -> str:
    """Push the local image `reference` names; returns the manifest digest."""
    ref = as_reference(reference)
    image_id = await asyncio.to_thread(_image_id, images, ref)
    async with leased(images):  # an rmi meanwhile leaves the blobs until the push is done
        digest, body, media_type = await asyncio.to_thread(images.push_manifest, image_id)
        digest = await push_manifest(
            ref,
            content,
            body,
            media_type,
            registry_config=registry_config,
            auth=auth,
            progress=progress,
        )
    await asyncio.to_thread(images.record_push, image_id, ref, digest)
    return digest


def _image_id(images, ref) -> str:
    """The id of the local image `ref` names (the image service's lookup)."""
    return images.resolve(str(ref))
