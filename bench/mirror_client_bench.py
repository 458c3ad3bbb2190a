"""Why the shadow mirror has its own HTTP client: CPU per request, aiohttp's client against
``axiom_runtime.traffic.mirror_client.MirrorConnection``.

Both send the same sequential POSTs (a digits row to /predict, one keep-alive connection)
to a real ``axiom serve`` of digits 2.0.0 on loopback; the figure is this process's CPU
time (user + system) per request, which is what every mirrored copy costs a stable pod.

Usage: python bench/mirror_client_bench.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from runtime_bench import DIGITS, KEYS, WORK, axiom_server  # noqa: E402

from axiom_runtime.traffic.mirror_client import MirrorConnection  # noqa: E402

HEADERS = {"Content-Type": "application/json", "X-Request-ID": "bench"}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(send: Callable[[], Awaitable[bytes]], count: int) -> tuple[float, float]:
    """(CPU us, wall us) per request after 100 warm-up requests."""
    for _ in range(100):
        await send()
    cpu, wall = cpu_seconds(), time.perf_counter()
    for _ in range(count):
        await send()
    return (cpu_seconds() - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e6


async def run(url: str, body: bytes, count: int) -> dict[str, tuple[float, float]]:
    results = {}
    timeout = aiohttp.ClientTimeout(total=2.0)
    connector = aiohttp.TCPConnector(limit=8)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def with_aiohttp() -> bytes:
            async with session.post(url, data=body, headers=HEADERS, timeout=timeout) as answer:
                return await answer.read()

        results["aiohttp ClientSession"] = await measure(with_aiohttp, count)
    connection = MirrorConnection()

    async def with_mirror_client() -> bytes:
        return (await connection.post(url, HEADERS, body, 2.0)).body

    results["MirrorConnection"] = await measure(with_mirror_client, count)
    connection.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="sequential POSTs per client")
    for ignored in ("--duration", "--soak"):
        parser.add_argument(ignored, default=0, help="ignored (shared run_all option)")
    parser.add_argument("--skip-mlserver", action="store_true", help="ignored (shared option)")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    sample = json.loads((DIGITS / "sample-digit-3.json").read_text())
    body = json.dumps({"input": sample["input"][0]}).encode()
    with axiom_server(
        DIGITS / "digits-2.0.0.axiom", DIGITS / "digits-2.0.0.cert.json", KEYS, name="canary"
    ) as canary:
        results = asyncio.run(run(f"http://127.0.0.1:{canary.port}/predict", body, args.requests))
    print(f"{args.requests} sequential POST /predict to axiom serve (digits 2.0.0), keep-alive\n")
    print("| client | CPU us / request (this process) | wall us / request |")
    print("|---|---:|---:|")
    for name, (cpu, wall) in results.items():
        print(f"| {name} | {cpu:.0f} | {wall:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
