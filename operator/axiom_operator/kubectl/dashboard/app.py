"""The dashboard's aiohttp app: read-only, one origin, loopback by default.

Routes: ``GET /`` (the page), ``GET /app.js``, ``GET /app.css``, ``GET /api/state`` (every
model's state and series, :func:`.series.snapshot`), ``GET /healthz``. Nothing else: no
route writes, and every other method is refused by aiohttp (405). The page's
Content-Security-Policy allows scripts, styles and fetches from this origin only, so it
loads nothing from anywhere else. The poller reads the AxiomModels every ``interval`` seconds
through the operator's own client, in the app's ``cleanup_ctx`` (started and stopped with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web

from axiom_operator.kube import APIError
from axiom_operator.kubectl.dashboard.series import ModelSeries, record, snapshot

logger = logging.getLogger(__name__)
ModelSource = Callable[[], Awaitable[list[dict[str, Any]]]]
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'"
STATIC = {
    "/": ("index.html", "text/html"),
    "/app.js": ("app.js", "application/javascript"),
    "/app.css": ("app.css", "text/css"),
}


@dataclass(frozen=True)
class DashboardConfig:
    interval: float = 1.0


MEMORY = web.AppKey("memory", dict[tuple[str, str], ModelSeries])
ERROR = web.AppKey("error", list[str])  # the last poll's failure, shown on the page


def _static(name: str) -> bytes:
    return (resources.files("axiom_operator.kubectl.dashboard") / "static" / name).read_bytes()


async def _page(request: web.Request) -> web.Response:
    name, content_type = STATIC[request.path]
    return web.Response(
        body=_static(name),
        content_type=content_type,
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
    )


async def _state(request: web.Request) -> web.Response:
    memory: dict[tuple[str, str], ModelSeries] = request.app[MEMORY]
    body = snapshot(memory, time.time())
    body["error"] = request.app[ERROR][0] if request.app[ERROR] else None
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def init_app(source: ModelSource, config: DashboardConfig) -> web.Application:
    app = web.Application()
    memory: dict[tuple[str, str], ModelSeries] = {}
    app[MEMORY] = memory
    app[ERROR] = []
    for path in STATIC:
        app.router.add_get(path, _page)
    app.router.add_get("/api/state", _state)
    app.router.add_get("/healthz", _healthz)

    async def poll() -> None:
        while True:
            try:
                record(memory, await source(), time.time())
                app[ERROR].clear()
            except APIError as error:
                app[ERROR][:] = [str(error)]  # shown on the page; the last series stay
                logger.warning("dashboard: %s", error)
            await asyncio.sleep(config.interval)

    async def poller(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(poll(), name="axiom-dashboard-poll")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(poller)
    return app
