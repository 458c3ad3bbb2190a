"""The ceiling: an aiohttp handler that reads the body and returns a constant JSON answer.

Same event loop choice as `axiom serve` (uvloop when importable), no middleware, no access
log: whatever this does per second is what the HTTP stack allows on this machine.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

ANSWER = b'{"model_name":"bare","outputs":[{"name":"output","datatype":"FP32","shape":[1,1],"data":[0.0]}]}'


async def handle(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=ANSWER, headers={"Content-Type": "application/json"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/v2/models/{name}/infer", handle)
    app.router.add_get("/v2/health/ready", lambda request: asyncio.sleep(0, web.Response()))
    loop_factory = None
    if not args.no_uvloop:
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            pass
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        loop=loop_factory and loop_factory(),
    )


if __name__ == "__main__":
    main()
