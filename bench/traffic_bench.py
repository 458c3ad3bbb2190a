"""What the runtime traffic split costs: real `axiom serve` processes on loopback.

A stable runtime (digits 1.0.0) with a traffic config file and a canary runtime
(digits 2.0.0), both real processes. Two measurements:

1. Added latency of the forwarded share: one client, keep-alive, one request at a time with
   fresh request ids at weight 50; p50 of answers served locally vs answers from the canary
   (told apart by X-Axiom-Version). Also the canary reached directly, for reference.
2. Throughput of the stable pod at canary weight 0 %, 10 % and 50 % (wrk, no request id, so
   each request is a random draw), and the share wrk's requests actually forwarded.
3. Shadow mirroring (weight 0, every request the stable answers also copied to the canary
   and compared): the stable's p50/p99 with 100 % mirroring against 0 %, for one sequential
   client (15 short alternations of the two settings, latencies pooled: the machine's load
   drifts within seconds) and under wrk load, side by side, and the stable and canary
   processes' CPU time per request (psutil), whose difference is the CPU cost of one
   mirrored request (copy, canary answer, comparison).

Bounded: each wrk run lasts --duration seconds (default 10). On the 2-core dev machine the
load generator, the stable pod and the canary share the cores: read the numbers as relative.

Usage: python bench/traffic_bench.py [--duration 10] [--requests 2000] [--mirror-only]
       [--alternations 15 --chunk 300] [--pin-cpus]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import psutil

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from runtime_bench import DIGITS, KEYS, WORK, Server, axiom_server, wrk  # noqa: E402


def write_config(
    path: Path, generation: int, canary_url: str | None, weight: float, mirror: float = 0.0
) -> None:
    canary: dict[str, object] | None = (
        None if canary_url is None else {"version": "2.0.0", "url": canary_url, "weight": weight}
    )
    if canary is not None and mirror:
        canary["mirrorPercent"] = mirror
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps({"generation": generation, "canary": canary}))
    os.replace(scratch, path)


def wait_generation(port: int, generation: int, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
            if json.loads(response.read()).get("trafficGeneration") == generation:
                return
        time.sleep(0.1)
    raise RuntimeError(f"stable pod never applied traffic generation {generation}")


async def timed_requests(url: str, body: bytes, count: int) -> dict[str, list[float]]:
    """Latency in ms of ``count`` sequential requests, grouped by the version that answered."""
    by_version: dict[str, list[float]] = {}
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            headers["X-Request-ID"] = str(uuid.uuid4())
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url} answered {response.status}")
                version = response.headers.get("X-Axiom-Version", "?")
            by_version.setdefault(version, []).append((time.perf_counter() - started) * 1000)
    return by_version


def forwarded_share(port: int) -> tuple[float, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    counts = {"stable": 0.0, "canary": 0.0}
    for line in text.splitlines():
        if line.startswith("axiom_split_requests_total{"):
            for target in counts:
                if f'target="{target}"' in line:
                    counts[target] += float(line.rsplit(" ", 1)[1])
    return counts["stable"], counts["canary"]


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def shadow_counts(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("axiom_shadow_requests_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = counts.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def sequential_pooled(
    args: argparse.Namespace, config: Path, canary_base: str, stable: Server, canary: Server,
    body: bytes, generation: int,
) -> tuple[dict[float, dict[str, float]], int]:  # fmt: skip
    """One sequential client, mirror 0 % and 100 % alternating in short chunks
    (``--alternations`` x ``--chunk`` requests each), latencies pooled per setting: the
    machine's load drifts over seconds (other work shares these cores), and long rounds
    compared one by one measure that drift as much as the mirror."""
    url = f"http://127.0.0.1:{stable.port}/predict"
    pooled: dict[float, list[float]] = {0.0: [], 100.0: []}
    cpu = {key: {"stable_user": 0.0, "stable_system": 0.0, "canary": 0.0} for key in pooled}
    asyncio.run(timed_requests(url, body, 300))  # warm
    for _ in range(args.alternations):
        for mirror in (0.0, 100.0):
            generation += 1
            write_config(config, generation, canary_base, 0.0, mirror)
            wait_generation(stable.port, generation)
            asyncio.run(timed_requests(url, body, 20))
            before = psutil.Process(stable.process.pid).cpu_times()
            before_canary = cpu_seconds(canary.process.pid)
            pooled[mirror] += asyncio.run(timed_requests(url, body, args.chunk)).get("1.0.0", [])
            after = psutil.Process(stable.process.pid).cpu_times()
            cpu[mirror]["stable_user"] += after.user - before.user
            cpu[mirror]["stable_system"] += after.system - before.system
            cpu[mirror]["canary"] += cpu_seconds(canary.process.pid) - before_canary
    count = args.alternations * args.chunk
    figures = {
        mirror: {
            "p50": statistics.median(values),
            "p99": p99(values),
            **{key: value / count * 1e6 for key, value in cpu[mirror].items()},
        }
        for mirror, values in pooled.items()
    }
    return figures, generation


def mirror_cost(
    args: argparse.Namespace,
    config: Path,
    canary_base: str,
    stable: Server,
    canary: Server,
    body: str,
) -> None:
    """Section 3: what 100 % shadow mirroring costs the stable pod.

    The sequential client's figures are pooled over short alternations
    (:func:`sequential_pooled`); under wrk, mirror 0 % and 100 % alternate ``--rounds``
    times and each figure is the median over the rounds."""
    stable_predict = f"http://127.0.0.1:{stable.port}/predict"
    seq, generation = sequential_pooled(
        args, config, canary_base, stable, canary, body.encode(), 10
    )
    rounds: dict[float, list[dict[str, float]]] = {0.0: [], 100.0: []}
    for _ in range(args.rounds):
        for mirror in (0.0, 100.0):
            generation += 1
            write_config(config, generation, canary_base, 0.0, mirror)
            wait_generation(stable.port, generation)
            asyncio.run(timed_requests(stable_predict, body.encode(), 100))  # warm
            before_cpu, before_shadow = cpu_seconds(stable.process.pid), shadow_counts(stable.port)
            result = wrk(stable_predict, body, 16, args.duration)
            cpu = cpu_seconds(stable.process.pid) - before_cpu
            after_shadow = shadow_counts(stable.port)
            rounds[mirror].append(
                {
                    "rps": result.rps,
                    "wrk_p50": result.p50_ms,
                    "wrk_p99": result.p99_ms,
                    "cpu_us": cpu / (result.rps * args.duration) * 1e6,
                    "requests": result.rps * args.duration,
                    "compared": after_shadow.get("compared", 0.0)
                    - before_shadow.get("compared", 0.0),
                    "dropped": after_shadow.get("dropped", 0.0) - before_shadow.get("dropped", 0.0),
                }
            )

    def median(mirror: float, key: str) -> float:
        return statistics.median(r[key] for r in rounds[mirror])

    print("Shadow mirroring: weight 0, the stable answers every request (digits 1.0.0 -> 2.0.0)")
    print(f"(sequential: 1 client, {args.alternations} alternations of {args.chunk} requests "
          f"per setting, pooled; wrk -t1 -c16 -d{args.duration}s, median of {args.rounds} "
          f"alternating rounds; CPUs {'pinned' if args.pin_cpus else 'shared'})\n")  # fmt: skip
    print("| mirror | sequential p50 ms | sequential p99 ms | stable CPU us/request (user + sys) "
          "| canary CPU us/request | wrk req/s | wrk p50 ms | wrk p99 ms | wrk stable CPU "
          "us/request | wrk copies compared | dropped |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mirror in (0.0, 100.0):
        s = seq[mirror]
        print(f"| {mirror:.0f} % | {s['p50']:.3f} | {s['p99']:.3f} | "
              f"{s['stable_user'] + s['stable_system']:.0f} ({s['stable_user']:.0f} + "
              f"{s['stable_system']:.0f}) | {s['canary']:.0f} | "
              f"{median(mirror, 'rps'):,.0f} | {median(mirror, 'wrk_p50'):.2f} | "
              f"{median(mirror, 'wrk_p99'):.2f} | {median(mirror, 'cpu_us'):.0f} | "
              f"{median(mirror, 'compared'):,.0f} | {median(mirror, 'dropped'):,.0f} |")  # fmt: skip
    seq_ratio = seq[100.0]["p99"] / seq[0.0]["p99"]
    wrk_ratio = median(100.0, "wrk_p99") / median(0.0, "wrk_p99")
    added_cpu = sum(seq[100.0][k] - seq[0.0][k] for k in ("stable_user", "stable_system"))
    added_p50 = (seq[100.0]["p50"] - seq[0.0]["p50"]) * 1000
    # Under wrk most copies are dropped (the canary shares the 2 cores); a dropped copy costs
    # a failed queue put, so the cost of one copy actually sent and compared is this:
    per_compared = statistics.median(
        (with_mirror["cpu_us"] - without["cpu_us"])
        * with_mirror["requests"]
        / with_mirror["compared"]
        for with_mirror, without in zip(rounds[100.0], rounds[0.0], strict=True)
        if with_mirror["compared"]
    )
    print(f"\nstable p99 with 100 % mirroring / without: sequential client {seq_ratio:.2f}x, "
          f"under wrk load {wrk_ratio:.2f}x")  # fmt: skip
    print(f"sequential client: each copy adds {added_cpu:.0f} us of stable CPU and "
          f"{seq[100.0]['canary'] - seq[0.0]['canary']:.0f} us of canary CPU; its p50 grew "
          f"{added_p50:.0f} us")  # fmt: skip
    print(f"CPU per copy sent and compared under wrk: {per_compared:.0f} us "
          "(the canary's own inference not included)\n")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--requests", type=int, default=2000, help="sequential latency requests")
    parser.add_argument("--soak", type=int, default=0, help="ignored (shared run_all option)")
    parser.add_argument(
        "--mirror-only", action="store_true", help="only section 3 (shadow mirroring)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="wrk mirror 0 %%/100 %% rounds")
    parser.add_argument(
        "--alternations", type=int, default=15, help="sequential mirror 0/100 %% alternations"
    )
    parser.add_argument("--chunk", type=int, default=300, help="sequential requests per chunk")
    parser.add_argument(
        "--pin-cpus",
        action="store_true",
        help="stable pod and client on CPU 0, canary on CPU 1 (canary on another node)",
    )
    parser.add_argument("--skip-mlserver", action="store_true", help="ignored (shared option)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    config = WORK / "traffic.json"
    write_config(config, 0, None, 0.0)
    sample = json.loads((DIGITS / "sample-digit-3.json").read_text())
    # One flat row: a nested list would put "]]" in the body, which ends wrk's Lua string.
    body = json.dumps({"input": sample["input"][0]})
    canary_package = DIGITS / "digits-2.0.0.axiom"
    stable_package = DIGITS / "digits-1.0.0.axiom"
    with (
        axiom_server(canary_package, DIGITS / "digits-2.0.0.cert.json", KEYS, name="canary") as canary,
        axiom_server(
            stable_package, DIGITS / "digits-1.0.0.cert.json", KEYS, name="stable",
            extra_env={"AXIOM_TRAFFIC_CONFIG": str(config)},
        ) as stable,
    ):  # fmt: skip
        canary_base = f"http://127.0.0.1:{canary.port}"
        if args.pin_cpus:
            # As if the canary ran on another node: it no longer takes the core that the
            # stable pod and this client share (2-core machine).
            os.sched_setaffinity(0, {0})
            os.sched_setaffinity(stable.process.pid, {0})
            os.sched_setaffinity(canary.process.pid, {1})
        stable_predict = f"http://127.0.0.1:{stable.port}/predict"
        canary_predict = f"{canary_base}/predict"

        if args.mirror_only:
            mirror_cost(args, config, canary_base, stable, canary, body)
            return 0
        write_config(config, 1, canary_base, 50.0)
        wait_generation(stable.port, 1)
        asyncio.run(timed_requests(stable_predict, body.encode(), 200))  # warm both paths
        split = asyncio.run(timed_requests(stable_predict, body.encode(), args.requests))
        direct = asyncio.run(timed_requests(canary_predict, body.encode(), args.requests // 2))
        local = statistics.median(split.get("1.0.0", [float("nan")]))
        forwarded = statistics.median(split.get("2.0.0", [float("nan")]))
        direct_p50 = statistics.median(direct.get("2.0.0", [float("nan")]))
        print("Added latency of the forwarded share (1 client, sequential, weight 50 %)\n")
        print("| path | requests | p50 ms |")
        print("|---|---:|---:|")
        print(f"| stable pod answers itself | {len(split.get('1.0.0', []))} | {local:.3f} |")
        print(
            f"| stable pod forwards to canary | {len(split.get('2.0.0', []))} | {forwarded:.3f} |"
        )
        print(f"| canary reached directly | {len(direct.get('2.0.0', []))} | {direct_p50:.3f} |")
        print(f"\np50 added by forwarding: {forwarded - local:+.3f} ms (vs. local answer), "
              f"{forwarded - direct_p50:+.3f} ms (vs. canary direct)\n")  # fmt: skip

        print(f"Throughput of the stable pod (wrk -t1 -c16 -d{args.duration}s, /predict, no id)\n")
        print("| canary weight | req/s | p50 ms | p99 ms | errors | forwarded share |")
        print("|---:|---:|---:|---:|---:|---:|")
        for generation, weight in enumerate((0.0, 10.0, 50.0), start=2):
            write_config(config, generation, canary_base if weight else None, weight)
            wait_generation(stable.port, generation)
            before = forwarded_share(stable.port)
            result = wrk(stable_predict, body, 16, args.duration)
            after = forwarded_share(stable.port)
            local_n, canary_n = after[0] - before[0], after[1] - before[1]
            share = 100 * canary_n / (local_n + canary_n) if local_n + canary_n else 0.0
            print(f"| {weight:.0f} % | {result.rps:,.0f} | {result.p50_ms:.2f} | "
                  f"{result.p99_ms:.2f} | {result.errors} | {share:.1f} % |")  # fmt: skip
        print()
        mirror_cost(args, config, canary_base, stable, canary, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
