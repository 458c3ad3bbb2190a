"""Cost per request of `axiom serve` vs the bare aiohttp ceiling, robust to a busy machine.

Requests per second on a shared 2-core machine swing with whatever else runs; the CPU time
the server process spends per request served barely does (contention delays the work, it
does not add to it). So this bench starts every server once, then drives them in turn,
round after round, with the same wrk load, and reports for each: the median CPU-µs per
request (process user + system CPU seconds / requests completed) and the median req/s.
Interleaving the rounds puts each comparison back to back under the same background load.

A server variant is a name and a source tree: ``--variant before=/tmp/base/runtime`` runs
``axiom serve`` with that tree first on PYTHONPATH (e.g. a ``git archive`` of an older
commit), so before and after are measured in one command. ``--profile DIR`` instead runs
each axiom variant once under cProfile and writes ``DIR/<variant>.prof``.

Usage: python bench/runtime_cpu_bench.py [--duration 5] [--rounds 3] [--connections 32]
       [--variant NAME=PATH ...] [--body one-row|batch64] [--profile DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runtime_bench as rb  # a sibling script, not a package


@dataclass
class Measured:
    name: str
    cpu_us_per_request: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    errors: int = 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and its children (all threads included)."""
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def drive(
    server: rb.Server, body: str, connections: int, duration: int
) -> tuple[float, float, int]:
    """One wrk run; returns (CPU-µs per request, req/s, errors)."""
    before = cpu_seconds(server.process.pid)
    result = rb.wrk(server.url, body, connections, duration)
    spent = cpu_seconds(server.process.pid) - before
    return spent / max(result.requests, 1) * 1e6, result.rps, result.errors


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME=PATH of a runtime source tree (default: current=<repo>/runtime)",
    )
    parser.add_argument("--body", choices=("one-row", "batch64"), default="one-row")
    parser.add_argument("--model", choices=("digits", "mnist784"), default="digits")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare aiohttp server")
    parser.add_argument("--profile", type=Path, help="write cProfile output per axiom variant")
    args = parser.parse_args()
    rb.WORK.mkdir(parents=True, exist_ok=True)
    variants = dict(item.split("=", 1) for item in args.variant) or {
        "current": str(rb.ROOT / "runtime")
    }
    models = rb.build_models()
    package = models[args.model]
    width = 64 if args.model == "digits" else 784
    rows = 1 if args.body == "one-row" else 64
    body = rb.v2_body(np.random.default_rng(0).random((rows, width)).round(4))

    with contextlib.ExitStack() as stack:
        servers: list[rb.Server] = []
        if not args.no_bare and not args.profile:
            servers.append(stack.enter_context(rb.bare_server()))
        for name, path in variants.items():
            extra = {"PYTHONPATH": path}
            server_cm = rb.axiom_server(*package, name=f"axiom-{name}", extra_env=extra)
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                server_cm = _profiled(package, name, path, args.profile / f"{name}.prof")
            servers.append(stack.enter_context(server_cm))
        for server in servers:
            rb.check_answer(server, body)
            rb.wrk(server.url, body, args.connections, 1)  # warm up
        measured = {server.name: Measured(server.name) for server in servers}
        load = []
        for _ in range(args.rounds):
            for server in servers:
                load.append(psutil.getloadavg()[0])
                cpu_us, rps, errors = drive(server, body, args.connections, args.duration)
                entry = measured[server.name]
                entry.cpu_us_per_request.append(cpu_us)
                entry.rps.append(rps)
                entry.errors += errors

    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} interleaved rounds, "
        f"model {args.model}, body {args.body}; load average during the run "
        f"{min(load):.1f}-{max(load):.1f} on {psutil.cpu_count()} cores\n"
    )
    print(
        "| server | CPU-µs/request (median) | all rounds CPU-µs | req/s (median) "
        "| all rounds req/s | errors |"
    )
    print("|---|---|---|---|---|---|")
    for entry in measured.values():
        print(
            f"| {entry.name} | {statistics.median(entry.cpu_us_per_request):.0f} | "
            f"{', '.join(f'{c:.0f}' for c in entry.cpu_us_per_request)} | "
            f"{statistics.median(entry.rps):,.0f} | "
            f"{', '.join(f'{r:,.0f}' for r in entry.rps)} | {entry.errors} |"
        )
    bare = measured.get("bare-aiohttp")
    if bare is not None:
        bare_cpu = statistics.median(bare.cpu_us_per_request)
        bare_rps = statistics.median(bare.rps)
        print()
        for entry in measured.values():
            if entry is bare:
                continue
            # Per round, so each ratio compares two runs made under the same load.
            ratios = [a / b for a, b in zip(entry.rps, bare.rps, strict=True)]
            print(
                f"- {entry.name}: {statistics.median(entry.rps) / bare_rps:.0%} of bare req/s "
                f"(per-round ratios {', '.join(f'{r:.0%}' for r in ratios)}); "
                f"CPU per request {statistics.median(entry.cpu_us_per_request) / bare_cpu:.2f}x "
                f"bare's, i.e. a CPU-bound ceiling of "
                f"{bare_cpu / statistics.median(entry.cpu_us_per_request):.0%}"
            )
    return 0


def _profiled(
    package: tuple[Path, Path | None, Path | None], name: str, path: str, output: Path
) -> contextlib.AbstractContextManager[rb.Server]:
    model_path, certificate, keys = package
    port = rb.free_port()
    env = {
        "PYTHONPATH": path,
        "AXIOM_MODEL_URI": str(model_path),
        "AXIOM_HOST": "127.0.0.1",
        "AXIOM_PORT": str(port),
        "AXIOM_LOG_LEVEL": "WARNING",
    }
    if certificate is not None and keys is not None:
        env |= {"AXIOM_CERTIFICATE": str(certificate), "AXIOM_TRUSTED_KEYS": str(keys)}
    model = json.loads(rb._model_json(model_path))["name"]
    command = [rb.PYTHON, "-m", "cProfile", "-o", str(output), "-m", "axiom_runtime.server"]
    return rb.running(
        f"axiom-{name}-profiled",
        command,
        port,
        f"/v2/models/{model}/infer",
        "/ready",
        env=env,
        cwd=rb.ROOT,
    )


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"\n(took {time.monotonic() - started:.0f} s)")
    sys.exit(code)
