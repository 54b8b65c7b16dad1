"""Pull: resolve a reference to a manifest, download config and layers into the content store.

`fetch()` does the network part (manifest, index with platform selection, concurrent layer
downloads with resume, Docker's progress messages); `pull()` then hands the manifest to the
image service, which unpacks and records the image.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp

from ..content.store import ContentStore, digest_of
from ..errors import (
    DockyardError,
    InvalidParameter,
    NotFound,
    SystemError_,
    Unauthorized,
    Unavailable,
)
from . import mediatypes
from .config import RegistryConfig
from .mediatypes import Descriptor
from .platforms import parse_platform, select
from .progress import ProgressFn, Throttle, short_id, silent, status, transfer
from .registry_errors import describe
from .sources import BlobSources
from .transport import NETWORK_ERRORS, RegistryTransport

MAX_CONCURRENT_DOWNLOADS = 3
DOWNLOAD_ATTEMPTS = 5
RETRY_DELAY = 0.2
WRITE_CHUNK = 1 << 20
MAX_MANIFEST = 4 << 20
BLOB_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)


@dataclass
class PullResult:
    """What a fetch brought into the content store."""

    reference: object
    top_digest: str  # what the tag (or digest) named: an index or a manifest
    top_media_type: str
    manifest_digest: str  # the single-platform manifest
    media_type: str
    config_digest: str
    layers: list[Descriptor]
    downloaded: list[str] = field(default_factory=list)
    up_to_date: bool = False


@contextlib.asynccontextmanager
async def leased(images) -> AsyncIterator[None]:
    """The image service's lease (ImageService.lease), taken off the event loop."""
    lease = images.lease()
    await asyncio.to_thread(lease.__enter__)
    try:
        yield
    finally:
        await asyncio.to_thread(lease.__exit__, None, None, None)


def as_reference(reference):
    """Accept a Reference or its string form."""
    if isinstance(reference, str):
        from ..images.reference import parse_reference

        return parse_reference(reference)
    return reference


def _zstd_available() -> bool:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


class _Puller:
    def __init__(
        self,
        ref,
        content: ContentStore,
        transport: RegistryTransport,
        progress: ProgressFn,
        sources: BlobSources | None,
    ) -> None:
        self.ref = ref
        self.content = content
        self.t = transport
        self.progress = progress
        self.sources = sources
        self.scopes = [f"repository:{ref.path}:pull"]

    # -- manifests
    async def head_manifest(self, reference: str) -> tuple[str | None, str | None]:
        url = f"/v2/{self.ref.path}/manifests/{reference}"
        async with await self.t.request(
            "HEAD", url, scopes=self.scopes, headers={"Accept": mediatypes.ACCEPT}
        ) as resp:
            if resp.status != 200:
                await self._manifest_error(resp, b"")
            digest = resp.headers.get("Docker-Content-Digest")
            return digest, resp.headers.get("Content-Type")

    async def get_manifest(self, reference: str, expected: str | None) -> tuple[bytes, str, str]:
        """(body, media type, digest) of a manifest, verified against `expected`."""
        if expected and self.content.exists(expected):
            body = await asyncio.to_thread(self.content.read, expected)
            return body, mediatypes.media_type_of(body), expected
        url = f"/v2/{self.ref.path}/manifests/{reference}"
        async with await self.t.request(
            "GET", url, scopes=self.scopes, headers={"Accept": mediatypes.ACCEPT}
        ) as resp:
            body = await resp.content.read(MAX_MANIFEST + 1)
            if resp.status != 200:
                await self._manifest_error(resp, body)
            if len(body) > MAX_MANIFEST:
                raise InvalidParameter(f"manifest for {self.ref.familiar()} is too big")
            header_digest = resp.headers.get("Docker-Content-Digest")
            content_type = resp.headers.get("Content-Type")
        digest = digest_of(body)
        want = expected or (
            header_digest if header_digest and header_digest.startswith("sha256:") else None
        )
        if want and want != digest:
            raise SystemError_(f"manifest verification failed for digest {want}")
        try:
            media_type = mediatypes.media_type_of(body, content_type)
        except mediatypes.ManifestError as e:
            raise InvalidParameter(f"invalid manifest: {e}") from None
        return body, media_type, digest

    async def _manifest_error(self, resp: aiohttp.ClientResponse, body: bytes) -> None:
        if not body and resp.method != "HEAD":
            body = await resp.read()
        text = describe(body, resp.status, resp.reason or "")
        if resp.status == 404:
            if "name unknown" in text:
                raise NotFound(f"repository {self.ref.name} not found: {text}")
            if not body:
                text = "manifest unknown: manifest unknown"
            raise NotFound(f"manifest for {self.ref.familiar()} not found: {text}")
        if resp.status == 403 or "denied" in text:
            raise NotFound(
                f"pull access denied for {self.ref.familiar_name}, repository does not exist "
                f"or may require 'docker login': {text}"
            )
        if resp.status == 401:
            raise Unauthorized(text)
        raise DockyardError(text)

    # -- blobs
    async def download(self, desc: Descriptor, layer_id: str | None) -> None:
        """Download one blob into the content store, verified; resumes after a drop."""
        throttle = Throttle()
        url = f"/v2/{self.ref.path}/blobs/{desc.digest}"
        attempts = 0
        writer = self.content.writer(desc.digest, desc.size)
        try:
            while True:
                headers = {"Range": f"bytes={writer.offset}-"} if writer.offset else {}
                try:
                    async with await self.t.request(
                        "GET", url, scopes=self.scopes, headers=headers, timeout=BLOB_TIMEOUT
                    ) as resp:
                        if resp.status == 200 and writer.offset:
                            writer.abort()  # the server ignored Range: start again
                            writer = self.content.writer(desc.digest, desc.size)
                        elif resp.status not in (200, 206):
                            body = await resp.read()
                            text = describe(body, resp.status, resp.reason or "")
                            raise NotFound(text) if resp.status == 404 else DockyardError(text)
                        await self._receive(resp, writer, desc, layer_id, throttle)
                    break
                except (Unavailable, *NETWORK_ERRORS) as e:
                    attempts += 1
                    if attempts >= DOWNLOAD_ATTEMPTS:
                        raise SystemError_(
                            f"failed to download {desc.digest}: {e or type(e).__name__}"
                        ) from e
                    await asyncio.sleep(RETRY_DELAY * 2 ** (attempts - 1))
            if layer_id:
                self.progress(status("Verifying Checksum", layer_id))
            try:
                await asyncio.to_thread(writer.commit)
            except InvalidParameter:
                kind = "filesystem layer" if layer_id else "image config"
                raise SystemError_(f"{kind} verification failed for digest {desc.digest}") from None
        finally:
            writer.abort()  # harmless after a commit: the ingest file is gone
        if self.sources is not None:
            await asyncio.to_thread(self.sources.add, desc.digest, self.ref.domain, self.ref.path)
        if layer_id:
            self.progress(status("Download complete", layer_id))

    async def _receive(
        self,
        resp: aiohttp.ClientResponse,
        writer,
        desc: Descriptor,
        layer_id: str | None,
        throttle: Throttle,
    ) -> None:
        buffer = bytearray()
        async for chunk in resp.content.iter_chunked(1 << 20):
            buffer += chunk
            if writer.offset + len(buffer) > desc.size:
                kind = "filesystem layer" if layer_id else "image config"
                raise SystemError_(f"{kind} verification failed for digest {desc.digest}")
            if len(buffer) >= WRITE_CHUNK:
                data = bytes(buffer)
                buffer.clear()
                await asyncio.to_thread(writer.write, data)
                if layer_id and throttle.ready():
                    self.progress(transfer("Downloading", layer_id, writer.offset, desc.size))
        if buffer:
            await asyncio.to_thread(writer.write, bytes(buffer))
            if layer_id:
                self.progress(transfer("Downloading", layer_id, writer.offset, desc.size))


async def fetch(
    reference,
    content: ContentStore,
    *,
    registry_config: RegistryConfig | None = None,
    auth: dict | None = None,
    platform: str | None = None,
    progress: ProgressFn | None = None,
    sources: BlobSources | None = None,
) -> PullResult:
    """Bring the manifest, config and layers of `reference` into `content`."""
    ref = as_reference(reference)
    progress = progress or silent
    config = registry_config or RegistryConfig()
    wanted = parse_platform(platform)
    if sources is None:
        sources = BlobSources.beside(content.root)
    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(
        connector=connector, auto_decompress=False, trust_env=False, read_bufsize=1 << 20
    ) as http:
        transport = RegistryTransport(http, ref.domain, config, auth, use_mirrors=True)
        candidates = transport.candidates()
        for i, (target, mirror) in enumerate(candidates):
            last = i == len(candidates) - 1
            try:
                await transport.open(target)
                puller = _Puller(ref, content, transport, progress, sources)
                return await _fetch(puller, wanted)
            except DockyardError:
                if mirror and not last:
                    transport = RegistryTransport(http, ref.domain, config, auth, use_mirrors=True)
                    continue
                raise
    raise AssertionError("unreachable")


async def _fetch(p: _Puller, wanted) -> PullResult:
    ref = p.ref
    p.progress({"status": f"Pulling from {ref.path}", "id": ref.digest or ref.tag or "latest"})
    if ref.digest:
        expected = ref.digest
    else:
        expected, _ = await p.head_manifest(ref.tag or "latest")
        if expected and not expected.startswith("sha256:"):
            expected = None
    existed = bool(expected) and p.content.exists(expected)
    body, media_type, top_digest = await p.get_manifest(expected or ref.tag, expected)
    top_media_type = media_type
    manifests = [(body, top_digest)]  # stored last: only a complete pull leaves them
    manifest = _load(body, media_type)
    if manifest.is_index:
        entry = select(manifest.manifests, wanted)
        body, media_type, digest = await p.get_manifest(entry.digest, entry.digest)
        manifest = _load(body, media_type)
        if manifest.is_index:
            raise InvalidParameter("nested manifest lists are not supported")
        manifests.append((body, digest))
    else:
        digest = top_digest
    if manifest.config is None:
        raise InvalidParameter("manifest has no config")
    for layer in manifest.layers:
        if layer.media_type == mediatypes.OCI_LAYER_ZSTD and not _zstd_available():
            raise InvalidParameter(
                f"layer {layer.digest} is zstd-compressed and zstandard is not installed"
            )
    downloaded: list[str] = []
    if not p.content.exists(manifest.config.digest):
        await p.download(manifest.config, None)
        downloaded.append(manifest.config.digest)
    await _download_layers(p, manifest.layers, downloaded)
    for blob, blob_digest in reversed(manifests):
        if not p.content.exists(blob_digest):
            await asyncio.to_thread(p.content.put, blob, blob_digest)
    return PullResult(
        ref,
        top_digest,
        top_media_type,
        digest,
        manifest.media_type,
        manifest.config.digest,
        list(manifest.layers),
        downloaded,
        up_to_date=existed and not downloaded,
    )


def _load(body: bytes, media_type: str) -> mediatypes.Manifest:
    try:
        return mediatypes.load(body, media_type)
    except mediatypes.ManifestError as e:
        raise InvalidParameter(f"invalid manifest: {e}") from None


async def _download_layers(p: _Puller, layers, downloaded: list[str]) -> None:
    todo: list[Descriptor] = []
    seen: set[str] = set()
    for layer in layers:
        layer_id = short_id(layer.digest)
        if layer.digest in seen:
            continue
        seen.add(layer.digest)
        if layer.urls or layer.media_type == mediatypes.DOCKER_LAYER_FOREIGN:
            if not p.content.exists(layer.digest):
                raise InvalidParameter(f"foreign layer {layer.digest} is not supported")
        if p.content.exists(layer.digest):
            p.progress(status("Already exists", layer_id))
        else:
            p.progress(status("Pulling fs layer", layer_id))
            todo.append(layer)
    for layer in todo[MAX_CONCURRENT_DOWNLOADS:]:
        p.progress(status("Waiting", short_id(layer.digest)))
    limit = asyncio.Semaphore(MAX_CONCURRENT_DOWNLOADS)

    async def one(layer: Descriptor) -> None:
        async with limit:
            await p.download(layer, short_id(layer.digest))
            downloaded.append(layer.digest)

    tasks = [asyncio.create_task(one(layer)) for layer in todo]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def pull(
    reference,
    content: ContentStore,
    images,
    *,
    registry_config: RegistryConfig | None = None,
    auth: dict | None = None,
    platform: str | None = None,
    progress: ProgressFn | None = None,
):
    """Pull `reference` and register it with `images`; returns what `images.register` does."""
    ref = as_reference(reference)
    progress = progress or silent
    loop = asyncio.get_running_loop()

    def unpacking(layer_digest: str, text: str) -> None:
        # called from the image service's thread: hand the message to the loop
        if text in ("Extracting", "Pull complete"):
            loop.call_soon_threadsafe(progress, status(text, short_id(layer_digest)))

    async with leased(images):  # the blobs are no image's until register records them
        result = await fetch(
            ref,
            content,
            registry_config=registry_config,
            auth=auth,
            platform=platform,
            progress=progress,
        )
        image = await asyncio.to_thread(
            images.register,
            result.manifest_digest,
            ref,
            progress=unpacking,
            repo_digest=result.top_digest,
        )
    await asyncio.sleep(0)  # let the queued progress messages go first
    progress(status(f"Digest: {result.top_digest}"))
    if result.up_to_date:
        progress(status(f"Status: Image is up to date for {ref.familiar()}"))
    else:
        progress(status(f"Status: Downloaded newer image for {ref.familiar()}"))
    return image
