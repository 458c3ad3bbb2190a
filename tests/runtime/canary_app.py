"""A stand-in canary runtime for the splitter tests, run as its own process.

Usage: python canary_app.py VERSION MODE   (MODE: ok | fail | slow | model | permuted | hang).
Binds 127.0.0.1 on a free port and prints the port on stdout, so the test can kill it like
a real pod. ``model`` answers ``/predict`` like a classifier (:func:`classify`, the shadow
tests' stable answers the same); ``permuted`` with the same confidence but the class shifted
by one; ``hang`` never answers.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiohttp import web


def classify(row: list[float], shift: int = 0) -> dict[str, object]:
    """A /predict answer for one row: probabilities proportional to the inputs (plus 1)."""
    weights = [abs(value) + 1.0 for value in row]
    total = sum(weights)
    scores = [weight / total for weight in weights]
    best = max(range(len(scores)), key=scores.__getitem__)
    if shift:
        scores = scores[-shift:] + scores[:-shift]
    return {
        "prediction": scores,
        "class": (best + shift) % len(scores),
        "confidence": max(scores),
    }


def build_app(version: str, mode: str) -> web.Application:
    async def infer(request: web.Request) -> web.Response:
        body = await request.read()
        if mode in ("model", "permuted"):
            row = json.loads(body)["input"]
            return web.json_response(
                classify(row, 1 if mode == "permuted" else 0),
                headers={"X-Axiom-Version": version},
            )
        if mode == "hang":
            await asyncio.Event().wait()
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
