"""Streaming responses: JSON lines, Docker's multiplexed stdio frames, and the connection hijack.

- `JSONStream`: newline-delimited JSON (pull progress, events, stats), flushed per message.
- `stdcopy_frame`: the 8-byte header [stream, 0, 0, 0, size(4, big endian)] + payload that
  logs and non-tty attach use.
- `hijack`: `Connection: Upgrade` / `Upgrade: tcp` requests (attach, exec start) get
  `101 UPGRADED`; after that the connection carries raw bytes both ways, with half-close:
  the client may shut its write side (stdin EOF) and still read output.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import socket
import struct
import termios
from typing import Any

from aiohttp import web

STDIN, STDOUT, STDERR, SYSTEM = 0, 1, 2, 3
RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


def stdcopy_frame(stream: int, data: bytes) -> bytes:
    """One frame of the multiplexed stream."""
    return struct.pack(">BxxxL", stream, len(data)) + data


def dumps(obj: Any) -> bytes:
    """Compact JSON as Go's encoder writes it, with its trailing newline."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class JSONStream:
    """A chunked response of newline-delimited JSON messages."""

    def __init__(self, request: web.Request, content_type: str = "application/json") -> None:
        self.request = request
        self.response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
        self.prepared = False

    async def start(self) -> None:
        if not self.prepared:
            self.response.enable_chunked_encoding()
            await self.response.prepare(self.request)
            self.prepared = True

    async def send(self, obj: Any) -> None:
        await self.start()
        await self.response.write(dumps(obj))

    async def error(self, message: str) -> None:
        """An error after the 200 went out: Docker's errorDetail message."""
        await self.send({"errorDetail": {"message": message}, "error": message})

    async def finish(self) -> web.StreamResponse:
        await self.start()
        await self.response.write_eof()
        return self.response


class _HijackProtocol(asyncio.Protocol):
    """Takes over the transport from aiohttp's request handler after the 101."""

    def __init__(self, original: asyncio.BaseProtocol, tail: bytes) -> None:
        self.original = original
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.eof = False
        self.closed = False
        self._paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self.transport: asyncio.Transport | None = None
        if tail:
            self.queue.put_nowait(tail)

    def data_received(self, data: bytes) -> None:
        self.queue.put_nowait(data)

    def eof_received(self) -> bool:
        self.eof = True
        self.queue.put_nowait(b"")
        return True  # keep our write side open: half-close

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.queue.put_nowait(b"")
        for w in self._drain_waiters:
            if not w.done():
                w.set_result(None)
        self._drain_waiters.clear()
        self.original.connection_lost(exc)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        for w in self._drain_waiters:
            if not w.done():
                w.set_result(None)
        self._drain_waiters.clear()


class HijackedConnection:
    """The raw byte stream of a hijacked connection."""

    def __init__(self, transport: asyncio.Transport, proto: _HijackProtocol) -> None:
        self.transport = transport
        self._proto = proto

    async def read(self) -> bytes:
        """The next bytes from the client; b"" at EOF (half-close or disconnect)."""
        if self._proto.closed and self._proto.queue.empty():
            return b""
        data = await self._proto.queue.get()
        if not data:
            self._proto.queue.put_nowait(b"")  # stay at EOF for later readers
        return data

    @property
    def closed(self) -> bool:
        return self._proto.closed or self.transport.is_closing()

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("hijacked connection closed")
        self.transport.write(data)
        if self._proto._paused:
            fut = asyncio.get_running_loop().create_future()
            self._proto._drain_waiters.append(fut)
            await fut

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


class _HijackedResponse(web.StreamResponse):
    """What a hijacking handler returns: its head went out raw, so aiohttp writes nothing."""

    async def prepare(self, request: web.BaseRequest) -> None:  # type: ignore[override]
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


async def hijack(
    request: web.Request, content_type: str = RAW_STREAM
) -> tuple[web.StreamResponse, HijackedConnection]:
    """Answer `101 UPGRADED` (or a raw 200 for clients that did not ask to upgrade) and take
    over the connection. Read the request body before calling this. The handler returns the
    response it gets here once it is done with the connection (and has closed it)."""
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp" and "upgrade" in (
        request.headers.get("Connection", "").lower()
    )
    transport = request.transport
    original = request.protocol
    if transport is None or transport.is_closing():
        raise ConnectionResetError("client went away before the hijack")
    extra = {k: v for k, v in _COMMON_HEADERS.items()}
    if upgrade:
        head = [
            "HTTP/1.1 101 UPGRADED",
            f"Content-Type: {content_type}",
            "Connection: Upgrade",
            "Upgrade: tcp",
        ]
    else:
        head = ["HTTP/1.1 200 OK", f"Content-Type: {content_type}"]
    head += [f"{k}: {v}" for k, v in extra.items()]
    tail = b""
    if upgrade and hasattr(original, "_message_tail"):
        tail = bytes(original._message_tail or b"")
        original._message_tail = b""
    proto = _HijackProtocol(original, tail)
    proto.transport = transport
    transport.set_protocol(proto)
    transport.write(("\r\n".join(head) + "\r\n\r\n").encode())
    if not transport.is_reading():
        transport.resume_reading()
    await _head_read(transport)
    return _HijackedResponse(status=101 if upgrade else 200), HijackedConnection(transport, proto)


HEAD_READ_TIMEOUT = 2.0


async def _head_read(transport: asyncio.Transport) -> None:
    """Wait (HEAD_READ_TIMEOUT at most) until the client has read the head. Clients that read
    the head through a buffer and the stream from the raw socket (docker-py, and so
    `exec_run`) lose what came in the same read as the head: under load an exec's whole
    output. On a UNIX socket the bytes the peer has not read yet are known (SIOCOUTQ)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HEAD_READ_TIMEOUT
    while loop.time() < deadline and not transport.is_closing():
        if transport.get_write_buffer_size() == 0:
            try:
                raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            except OSError:
                return
            if struct.unpack("i", raw)[0] == 0:
                return
        await asyncio.sleep(0.002)


# Headers every response carries (set by the app; repeated on hijacked heads).
_COMMON_HEADERS: dict[str, str] = {}


def set_common_headers(headers: dict[str, str]) -> None:
    _COMMON_HEADERS.clear()
    _COMMON_HEADERS.update(headers)


class BlockingBody:
    """The request body as a blocking file object, for services that read in a thread."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop) -> None:
        self._content = request.content
        self._loop = loop

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            coro = self._content.read()
        else:
            coro = self._content.read(n)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def readable(self) -> bool:
        return True


async def iterate_in_thread(make_iter: Any, maxsize: int = 64) -> Any:
    """Run a blocking iterator in a thread and yield its items on the loop.

    `make_iter()` is called in the thread. When the consumer stops early, the thread stops
    at its next item and the iterator is closed."""
    import threading

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> None:
        fut = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while not stop.is_set():
            try:
                fut.result(0.5)
                return
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the loop is gone
                return
        fut.cancel()

    def run() -> None:
        it = None
        try:
            it = make_iter()
            for item in it:
                if stop.is_set():
                    break
                put(("item", item))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(("error", exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001
                    pass
            put(("end", None))

    thread = threading.Thread(target=run, daemon=True, name="api-iter")
    thread.start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while not queue.empty():
            queue.get_nowait()


def in_own_thread(fn: Any, *args: Any) -> asyncio.Future[Any]:
    """Run a call that may block for as long as a container lives (a wait, an attach's
    output) in its own daemon thread, so that such calls neither use up the worker pool nor
    hold the daemon's exit."""
    import threading

    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, exc: BaseException | None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)

    def run() -> None:
        try:
            value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=run, daemon=True, name=getattr(fn, "__name__", "call")).start()
    return fut
