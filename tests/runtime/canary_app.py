"""A stand-in canary runtime for the splitter tests, run as its own process.

Usage: python canary_app.py VERSION MODE   (MODE: ok | fail | slow). Binds 127.0.0.1 on a
free port and prints the port on stdout, so the test can kill it like a real pod.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiohttp import web


def build_app(version: str, mode: str) -> web.Application:
    async def infer(request: web.Request) -> web.Response:
        await request.read()
        if mode == "fail":
            return web.json_response({"error": "canary broken"}, status=500)
        if mode == "slow":
            await asyncio.sleep(5)
        seen = request.headers.get("X-Axiom-Forwarded", "")
        return web.json_response(
            {"version": version, "forwardedBy": seen}, headers={"X-Axiom-Version": version}
        )

    app = web.Application()
    app.router.add_post("/predict", infer)
    app.router.add_post("/v2/models/{name}/infer", infer)
    return app


async def main(version: str, mode: str) -> None:
    runner = web.AppRunner(build_app(version, mode), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(json.dumps({"port": port}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
