"""Run an aiohttp app on a UNIX socket in a background thread (for client and API tests)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aiohttp import web


class ServerThread:
    def __init__(self, app_factory: Callable[[], web.Application], sock_path: str) -> None:
        self.app_factory = app_factory
        self.sock_path = sock_path
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.runner: web.AppRunner | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self.runner = web.AppRunner(self.app_factory(), access_log=None)
            await self.runner.setup()
            await web.UnixSite(self.runner, self.sock_path).start()
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def call(self, fn: Callable[[], object]) -> None:
        self.loop.call_soon_threadsafe(fn)

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self.runner is not None
            await self.runner.cleanup()

        fut = asyncio.run_coroutine_threadsafe(stop(), self.loop)
        fut.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
