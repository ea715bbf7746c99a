"""An aiohttp application served on 127.0.0.1 from its own event loop in a background thread.

Test doubles subclass it and add their routes in `routes(app)`; tests use them as context managers:

    with FakeOpenAI(latency=0.01) as server:   # started on a free port
        ... server.url ...
"""

from __future__ import annotations

import asyncio
import threading


class LoopbackServer:
    name = "loopback"
    client_max_size = 64 * 1024 * 1024  # bytes of one request body

    def __init__(self, port: int = 0):
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._runner = None

    def routes(self, app) -> None:
        raise NotImplementedError

    def middlewares(self) -> list:
        return []

    async def _serve(self) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=self.client_max_size, middlewares=self.middlewares())
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=4096)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def start(self):
        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._serve())
            self._ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True, name=self.name)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.name} did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
