"""dockyard's registry server: the OCI distribution spec 1.1 over aiohttp.

`make_app(root, htpasswd=None)` builds the aiohttp application, `RegistryServer` runs it
inside an existing event loop (the daemon does so on a configured address), and `main(argv)`
is `dockyard registry serve --addr HOST:PORT --root DIR [--htpasswd F] [--tls-cert F --tls-key F]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import json
import os
import re
import ssl
import sys
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from ..errors import DockyardError
from . import mediatypes
from .htpasswd import Htpasswd
from .registry_errors import RegistryError
from .storage import (
    BlobUnknown,
    DigestInvalid,
    DigestUnsupported,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    RegistryStorage,
    TagInvalid,
    Upload,
    UploadUnknown,
    check_digest,
    check_name,
)

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")
MAX_MANIFEST = 4 << 20
CHUNK = 1 << 20
REALM = "Registry Realm"

ROUTES = [
    (re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<uuid>[^/]*)$"), "upload"),
    (re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$"), "blob"),
    (re.compile(r"^(?P<name>.+)/manifests/(?P<reference>[^/]+)$"), "manifest"),
    (re.compile(r"^(?P<name>.+)/tags/list$"), "tags"),
    (re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)$"), "referrers"),
]

STORAGE_KEY = web.AppKey("storage", RegistryStorage)
HTPASSWD_KEY = web.AppKey("htpasswd", object)


# storage's failures -> the spec's error codes (an unsupported digest algorithm is a 400)
_STORAGE_CODES: dict[type, tuple[str, int | None]] = {
    BlobUnknown: ("BLOB_UNKNOWN", None),
    UploadUnknown: ("BLOB_UPLOAD_UNKNOWN", None),
    ManifestUnknown: ("MANIFEST_UNKNOWN", None),
    NameUnknown: ("NAME_UNKNOWN", None),
    NameInvalid: ("NAME_INVALID", None),
    TagInvalid: ("TAG_INVALID", None),
    DigestInvalid: ("DIGEST_INVALID", None),
    DigestUnsupported: ("UNSUPPORTED", 400),
}


def _registry_error(err: DockyardError) -> RegistryError | None:
    """The spec error for a storage failure; None for any other error."""
    mapped = _STORAGE_CODES.get(type(err))
    if mapped is None:
        return None
    code, status = mapped
    return RegistryError(code, err.message, detail=getattr(err, "detail", None), status=status)


def _error_response(err: RegistryError, headers: dict | None = None) -> web.Response:
    return web.Response(
        status=err.status, body=err.body(), content_type="application/json", headers=headers
    )


@web.middleware
async def _middleware(request: web.Request, handler: Callable[[web.Request], Awaitable]):
    headers = {API_VERSION_HEADER[0]: API_VERSION_HEADER[1]}
    users: Htpasswd | None = request.app[HTPASSWD_KEY]  # type: ignore[assignment]
    if users is not None and not _authorized(request, users):
        return _error_response(
            RegistryError("UNAUTHORIZED", detail=None),
            {**headers, "WWW-Authenticate": f'Basic realm="{REALM}"'},
        )
    try:
        response = await handler(request)
    except RegistryError as e:
        response = _error_response(e)
    except DockyardError as e:
        mapped = _registry_error(e)
        if mapped is None:
            raise
        response = _error_response(mapped)
    except web.HTTPException as e:
        e.headers.update(headers)
        raise
    response.headers.update(headers)
    return response


def _authorized(request: web.Request, users: Htpasswd) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return users.check(user, password)


async def _base(request: web.Request) -> web.Response:
    return web.json_response({})


async def _dispatch(request: web.Request) -> web.StreamResponse:
    tail = request.match_info["tail"]
    if tail == "_catalog":
        if request.method != "GET":
            raise RegistryError("UNSUPPORTED")
        return await _catalog(request)
    for pattern, kind in ROUTES:
        m = pattern.match(tail)
        if m:
            args = m.groupdict()
            check_name(args["name"])
            handler = _HANDLERS.get((kind, request.method))
            if handler is None:
                raise RegistryError("UNSUPPORTED", detail={"method": request.method})
            return await handler(request, **args)
    raise web.HTTPNotFound(text="404 page not found\n")


def _storage(request: web.Request) -> RegistryStorage:
    return request.app[STORAGE_KEY]


# -- listings -------------------------------------------------------------------------------


def _page(request: web.Request, items: list[str], path: str) -> tuple[list[str], dict]:
    """Apply `n` and `last` to a sorted list; a Link header when entries remain."""
    last = request.query.get("last")
    if last:
        items = [i for i in items if i > last]
    n_param = request.query.get("n")
    if n_param is None or n_param == "":
        return items, {}
    try:
        n = int(n_param)
        if n < 0:
            raise ValueError
    except ValueError:
        raise RegistryError("PAGINATION_NUMBER_INVALID", detail={"n": n_param}) from None
    page = items[:n]
    headers = {}
    if n and len(items) > n:
        query = urlencode({"last": page[-1], "n": n})
        headers["Link"] = f'<{path}?{query}>; rel="next"'
    return page, headers


async def _catalog(request: web.Request) -> web.Response:
    names = await asyncio.to_thread(_storage(request).catalog)
    page, headers = _page(request, names, "/v2/_catalog")
    return web.json_response({"repositories": page}, headers=headers)


async def _tags(request: web.Request, name: str) -> web.Response:
    tags = await asyncio.to_thread(_storage(request).tags, name)
    page, headers = _page(request, tags, f"/v2/{name}/tags/list")
    return web.json_response({"name": name, "tags": page}, headers=headers)


# -- blobs ----------------------------------------------------------------------------------


async def _blob_get(request: web.Request, name: str, digest: str) -> web.StreamResponse:
    check_digest(digest)
    path = await asyncio.to_thread(_storage(request).blob_path, name, digest)
    headers = {
        "Docker-Content-Digest": digest,
        "Content-Type": "application/octet-stream",
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
    }
    return web.FileResponse(path, headers=headers)


async def _blob_delete(request: web.Request, name: str, digest: str) -> web.Response:
    check_digest(digest)
    await asyncio.to_thread(_storage(request).delete_blob, name, digest)
    return web.Response(status=202)


# -- uploads --------------------------------------------------------------------------------


def _upload_headers(upload: Upload, size: int) -> dict:
    return {
        "Location": f"/v2/{upload.name}/blobs/uploads/{upload.id}",
        "Range": f"0-{max(size - 1, 0)}",
        "Docker-Upload-UUID": upload.id,
    }


def _created(name: str, digest: str) -> web.Response:
    return web.Response(
        status=201,
        headers={
            "Location": f"/v2/{name}/blobs/{digest}",
            "Docker-Content-Digest": digest,
        },
    )


async def _receive(request: web.Request, storage: RegistryStorage, upload: Upload) -> int:
    """Stream the request body onto the end of an upload; returns the bytes received."""
    received = 0
    buffer = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        buffer += chunk
        received += len(chunk)
        if len(buffer) >= CHUNK:
            await asyncio.to_thread(storage.append, upload, bytes(buffer))
            buffer.clear()
    if buffer:
        await asyncio.to_thread(storage.append, upload, bytes(buffer))
    length = request.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) != received:
        raise RegistryError("SIZE_INVALID", detail={"length": length, "received": received})
    return received


async def _upload_start(request: web.Request, name: str, uuid: str) -> web.Response:
    if uuid:
        raise RegistryError("UNSUPPORTED", detail={"method": "POST"})
    storage = _storage(request)
    mount, source = request.query.get("mount"), request.query.get("from")
    if mount and source:
        check_digest(mount)
        if await asyncio.to_thread(storage.mount_blob, name, mount, source):
            return _created(name, mount)
    upload = await asyncio.to_thread(storage.start_upload, name)
    digest = request.query.get("digest")
    if digest:
        try:
            check_digest(digest)
            await _receive(request, storage, upload)
            await asyncio.to_thread(storage.finish_upload, upload, digest)
        except BaseException:  # also when cancelled: the clean-up runs to its end regardless
            await asyncio.shield(asyncio.to_thread(storage.cancel_upload, upload))
            raise
        return _created(name, digest)
    return web.Response(status=202, headers=_upload_headers(upload, 0))


def _parse_content_range(value: str) -> tuple[int, int]:
    m = re.match(r"^(?:bytes )?(\d+)-(\d+)(?:/\d+|/\*)?$", value.strip())
    if not m or int(m.group(2)) < int(m.group(1)):
        raise RegistryError("RANGE_INVALID", detail={"Content-Range": value})
    return int(m.group(1)), int(m.group(2))


async def _upload_patch(request: web.Request, name: str, uuid: str) -> web.Response:
    storage = _storage(request)
    upload = await asyncio.to_thread(storage.upload, name, uuid)
    size = upload.size
    content_range = request.headers.get("Content-Range")
    if content_range:
        start, end = _parse_content_range(content_range)
        length = request.headers.get("Content-Length")
        if start != size or (
            length is not None and length.isdigit() and int(length) != end - start + 1
        ):
            headers = _upload_headers(upload, size)
            err = RegistryError(
                "RANGE_INVALID", detail={"Content-Range": content_range, "offset": size}
            )
            return _error_response(err, headers)
    await _receive(request, storage, upload)
    return web.Response(status=202, headers=_upload_headers(upload, upload.size))


async def _upload_put(request: web.Request, name: str, uuid: str) -> web.Response:
    storage = _storage(request)
    upload = await asyncio.to_thread(storage.upload, name, uuid)
    digest = request.query.get("digest")
    if not digest:
        raise RegistryError("DIGEST_INVALID", "digest missing")
    check_digest(digest)
    content_range = request.headers.get("Content-Range")
    if content_range:
        start, _end = _parse_content_range(content_range)
        if start != upload.size:
            return _error_response(
                RegistryError("RANGE_INVALID", detail={"offset": upload.size}),
                _upload_headers(upload, upload.size),
            )
    await _receive(request, storage, upload)
    await asyncio.to_thread(storage.finish_upload, upload, digest)
    return _created(name, digest)


async def _upload_status(request: web.Request, name: str, uuid: str) -> web.Response:
    upload = await asyncio.to_thread(_storage(request).upload, name, uuid)
    return web.Response(status=204, headers=_upload_headers(upload, upload.size))


async def _upload_cancel(request: web.Request, name: str, uuid: str) -> web.Response:
    storage = _storage(request)
    upload = await asyncio.to_thread(storage.upload, name, uuid)
    await asyncio.to_thread(storage.cancel_upload, upload)
    return web.Response(status=204)


# -- manifests ------------------------------------------------------------------------------


def _accepted(request: web.Request) -> list[str]:
    out = []
    for header in request.headers.getall("Accept", []):
        for part in header.split(","):
            media = part.split(";")[0].strip()
            if media:
                out.append(media)
    return out


_REFUSALS = {
    mediatypes.OCI_MANIFEST: "OCI manifest found, but accept header does not support OCI manifests",
    mediatypes.OCI_INDEX: "OCI index found, but accept header does not support OCI indexes",
}


def _negotiate(
    storage: RegistryStorage,
    name: str,
    digest: str,
    body: bytes,
    media_type: str,
    accepted: list[str],
) -> tuple[str, bytes, str]:
    """Serve what the client accepts: the stored manifest, or linux/amd64 out of a list."""
    if not accepted or media_type in accepted or "*/*" in accepted:
        return digest, body, media_type
    if media_type in mediatypes.INDEXES:
        try:
            entries = mediatypes.load(body, media_type).manifests
        except mediatypes.ManifestError:
            entries = ()
        for entry in entries:
            platform = entry.platform or {}
            if (
                (platform.get("os"), platform.get("architecture")) == ("linux", "amd64")
                and entry.media_type in accepted
                and storage.has_manifest(name, entry.digest)
            ):
                child, child_type = storage.manifest(name, entry.digest)
                return entry.digest, child, child_type
    if media_type in _REFUSALS:
        raise RegistryError("MANIFEST_UNKNOWN", _REFUSALS[media_type])
    return digest, body, media_type


async def _manifest_get(request: web.Request, name: str, reference: str) -> web.Response:
    storage = _storage(request)
    digest = await asyncio.to_thread(storage.resolve, name, reference)
    body, media_type = await asyncio.to_thread(storage.manifest, name, digest)
    if ":" not in reference:  # a digest names exact bytes: only tags are negotiated
        digest, body, media_type = await asyncio.to_thread(
            _negotiate, storage, name, digest, body, media_type, _accepted(request)
        )
    return web.Response(
        body=body,
        headers={
            "Content-Type": media_type,
            "Docker-Content-Digest": digest,
            "ETag": f'"{digest}"',
        },
    )


def _check_references(storage: RegistryStorage, name: str, manifest: mediatypes.Manifest) -> None:
    missing = [d.digest for d in manifest.blobs() if not storage.has_blob(name, d.digest)]
    missing += [d.digest for d in manifest.manifests if not storage.has_manifest(name, d.digest)]
    if missing:
        raise RegistryError("MANIFEST_BLOB_UNKNOWN", detail={"digest": missing[0]})


async def _manifest_put(request: web.Request, name: str, reference: str) -> web.Response:
    storage = _storage(request)
    body = await request.content.read(MAX_MANIFEST + 1)
    if len(body) > MAX_MANIFEST:
        raise RegistryError("MANIFEST_INVALID", "manifest too big", status=413)
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip() or None
    try:
        manifest = mediatypes.load(body, content_type)
    except mediatypes.ManifestError as e:
        raise RegistryError("MANIFEST_INVALID", detail=str(e)) from None
    declared = manifest.doc.get("mediaType")
    if (
        declared
        and content_type
        and content_type != declared
        and content_type in mediatypes.MANIFESTS
    ):
        raise RegistryError("MANIFEST_INVALID", detail="mediaType does not match Content-Type")
    if manifest.media_type not in mediatypes.MANIFESTS and not content_type:
        raise RegistryError("MANIFEST_INVALID", detail="unknown manifest media type")
    digest = "sha256:" + (await asyncio.to_thread(hashlib.sha256, body)).hexdigest()
    tag = None
    if ":" in reference:
        check_digest(reference)
        if reference != digest:
            raise RegistryError("DIGEST_INVALID", detail={"digest": reference, "actual": digest})
    else:
        tag = reference
    await asyncio.to_thread(_check_references, storage, name, manifest)
    await asyncio.to_thread(storage.put_manifest, name, body, manifest.media_type, tag)
    headers = {
        "Location": f"/v2/{name}/manifests/{digest}",
        "Docker-Content-Digest": digest,
    }
    if manifest.subject is not None:
        headers["OCI-Subject"] = manifest.subject.digest
    return web.Response(status=201, headers=headers)


async def _manifest_delete(request: web.Request, name: str, reference: str) -> web.Response:
    storage = _storage(request)
    if ":" in reference:
        check_digest(reference)
        await asyncio.to_thread(storage.delete_manifest, name, reference)
    else:
        await asyncio.to_thread(storage.delete_tag, name, reference)
    return web.Response(status=202)


async def _referrers(request: web.Request, name: str, digest: str) -> web.Response:
    """OCI 1.1 referrers: an index of the manifests in `name` whose subject is `digest`."""
    check_digest(digest)
    storage = _storage(request)
    wanted_type = request.query.get("artifactType")

    def collect() -> list[dict]:
        found = []
        for rev in storage.revisions(name):
            try:
                body, media_type = storage.manifest(name, rev)
                manifest = mediatypes.load(body, media_type)
            except (ManifestUnknown, mediatypes.ManifestError):
                continue
            if manifest.subject is None or manifest.subject.digest != digest:
                continue
            artifact = manifest.doc.get("artifactType") or (
                manifest.config.media_type if manifest.config else None
            )
            if wanted_type and artifact != wanted_type:
                continue
            entry = {"mediaType": media_type, "digest": rev, "size": len(body)}
            if artifact:
                entry["artifactType"] = artifact
            if manifest.doc.get("annotations"):
                entry["annotations"] = manifest.doc["annotations"]
            found.append(entry)
        return found

    entries = await asyncio.to_thread(collect)
    headers = {"OCI-Filters-Applied": "artifactType"} if wanted_type else {}
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries}
    ).encode()
    return web.Response(body=body, content_type=mediatypes.OCI_INDEX, headers=headers)


_HANDLERS = {
    ("blob", "GET"): _blob_get,
    ("blob", "HEAD"): _blob_get,
    ("blob", "DELETE"): _blob_delete,
    ("upload", "POST"): _upload_start,
    ("upload", "PATCH"): _upload_patch,
    ("upload", "PUT"): _upload_put,
    ("upload", "GET"): _upload_status,
    ("upload", "DELETE"): _upload_cancel,
    ("manifest", "GET"): _manifest_get,
    ("manifest", "HEAD"): _manifest_get,
    ("manifest", "PUT"): _manifest_put,
    ("manifest", "DELETE"): _manifest_delete,
    ("tags", "GET"): _tags,
    ("referrers", "GET"): _referrers,
}


def make_app(root: str, htpasswd: str | None = None) -> web.Application:
    """The registry as an aiohttp application storing under `root`."""
    app = web.Application(middlewares=[_middleware], client_max_size=MAX_MANIFEST + 1)
    app[STORAGE_KEY] = RegistryStorage(root)
    app[HTPASSWD_KEY] = Htpasswd(htpasswd) if htpasswd else None
    app.router.add_route("GET", "/v2/", _base)
    app.router.add_route("GET", "/v2", _base)
    app.router.add_route("*", "/v2/{tail:.+}", _dispatch)
    return app


def ssl_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


class RegistryServer:
    """The registry running in the current event loop (e.g. inside the daemon)."""

    def __init__(
        self, root: str, htpasswd: str | None = None, tls: tuple[str, str] | None = None
    ) -> None:
        self.app = make_app(root, htpasswd)
        self._ssl = ssl_context(*tls) if tls else None
        self._runner: web.AppRunner | None = None
        self.host = ""
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 5000) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self._ssl)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.host, self.port = host, sockets[0].getsockname()[1] if sockets else port

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def parse_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"invalid address {addr!r}: want HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


async def start_in_daemon(settings: dict, data_root: str) -> RegistryServer | None:
    """The registry inside the daemon when daemon.json has `registry-addr` (HOST:PORT).

    It stores under DATA_ROOT/registry, apart from the daemon's content store.
    """
    addr = settings.get("registry-addr")
    if not addr:
        return None
    host, port = parse_addr(addr)
    server = RegistryServer(os.path.join(data_root, "registry"))
    await server.start(host, port)
    return server


def main(argv: list[str]) -> int:
    """`dockyard registry serve ...`; argv starts after `registry`."""
    parser = argparse.ArgumentParser(
        prog="dockyard registry", description="Run an OCI distribution registry"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a registry")
    serve.add_argument("--addr", default="127.0.0.1:5000", help="listen address HOST:PORT")
    serve.add_argument("--root", required=True, help="storage directory")
    serve.add_argument("--htpasswd", help="htpasswd file (bcrypt) for basic auth")
    serve.add_argument("--tls-cert", help="TLS certificate (PEM)")
    serve.add_argument("--tls-key", help="TLS private key (PEM)")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    try:
        host, port = parse_addr(args.addr)
    except ValueError as e:
        parser.error(str(e))
    app = make_app(args.root, args.htpasswd)
    ctx = ssl_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    scheme = "https" if ctx else "http"
    print(f"registry listening on {scheme}://{host}:{port}", file=sys.stderr, flush=True)
    web.run_app(app, host=host, port=port, ssl_context=ctx, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
