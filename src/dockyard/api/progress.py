"""Run a job that reports progress messages and stream them as Docker's JSON lines.

The HTTP status waits for the first message: a job that fails before saying anything gets a
plain error response (so the CLI prints `Error response from daemon: ...`); after that, an
error becomes an `errorDetail` message in the stream, as dockerd does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dockyard.api.streams import JSONStream
from dockyard.errors import DockyardError, describe

log = logging.getLogger("dockyard.api")

Progress = Callable[[dict[str, Any]], None]


async def stream_progress(
    request: web.Request, job: Callable[[Progress], Awaitable[Any]]
) -> web.StreamResponse:
    """`job(progress)` runs on the loop; `progress(msg)` may be called from the loop or from
    threads."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def progress(msg: dict[str, Any]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            queue.put_nowait(msg)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, msg)

    task = asyncio.create_task(job(progress))
    task.add_done_callback(lambda _t: loop.call_soon(queue.put_nowait, None))
    out = JSONStream(request)
    try:
        while True:
            msg = await queue.get()
            if msg is None:
                # Drain what the job queued before it ended.
                while not queue.empty():
                    m = queue.get_nowait()
                    if m is not None:
                        await out.send(m)
                break
            await out.send(msg)
        exc = task.exception()
        if exc is not None:
            if not out.prepared:
                raise exc
            message = describe(exc)
            if not isinstance(exc, DockyardError):
                log.error("%s %s: %s", request.method, request.path, exc, exc_info=exc)
            await out.error(message)
        return await out.finish()
    finally:
        if not task.done():
            task.cancel()
