"""Benchmark `axiom serve` over gRPC and HTTP against MLServer 1.7.1's gRPC and REST.

The same digits MLP on both servers (MLServer: its scikit-learn runtime, the model trained
in its own venv by bench/mlserver_model.py, as in runtime_bench.py), the same one-row V2
request (gRPC: ``ModelInfer`` with typed ``fp32_contents``; HTTP: V2 JSON), the same
concurrency. Load generators are compiled and pinned to one core each run, so that they are
not the bottleneck on a 2-core machine: ghz (built from its Go module) for gRPC, wrk for
HTTP. Reported per server and protocol: req/s, p50/p99 latency, and the server's CPU time
per request (user + system of its whole process tree over the run / answered requests),
which stays meaningful when the machine is busy.

Usage: python bench/grpc_bench.py [--duration 5] [--concurrency 32] [--skip-mlserver]
Needs: wrk; Go (ghz is installed with `go install github.com/bojand/ghz/cmd/ghz@v0.120.0`
into bench/.work/gobin on first use); MLServer is installed into bench/.venv-mlserver on
first use (see runtime_bench.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import psutil
from runtime_bench import (
    BENCH,
    DIGITS,
    KEYS,
    MLSERVER_VENV,
    PYTHON,
    ROOT,
    WORK,
    Server,
    ensure_mlserver,
    free_port,
    running,
    table,
    v2_body,
    wrk,
)

GHZ_MODULE = "github.com/bojand/ghz/cmd/ghz@v0.120.0"
GOBIN = WORK / "gobin"
PROTO = ROOT / "runtime" / "axiom_runtime" / "server" / "protocol" / "open_inference.proto"
ROW = np.asarray(json.loads((DIGITS / "sample-digit-3.json").read_text())["input"][0], np.float32)


@dataclass(frozen=True)
class Measured:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us_per_request: float

    def row(self, server: str, protocol: str) -> list[str]:
        return [
            server,
            protocol,
            f"{self.rps:,.0f}",
            f"{self.p50_ms:.2f}",
            f"{self.p99_ms:.2f}",
            f"{self.cpu_us_per_request:,.0f}",
            str(self.errors),
        ]


def ensure_ghz() -> str | None:
    """The ghz binary, built from its Go module on first use; None when Go is missing."""
    found = shutil.which("ghz") or (str(GOBIN / "ghz") if (GOBIN / "ghz").exists() else None)
    if found:
        return found
    go = shutil.which("go")
    if go is None:
        return None
    GOBIN.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [go, "install", GHZ_MODULE],
        check=True,
        env={**os.environ, "GOBIN": str(GOBIN), "GOTOOLCHAIN": "local"},
        timeout=1800,
    )
    return str(GOBIN / "ghz")


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(process.pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


def ghz(
    ghz_bin: str, target: str, model: str, concurrency: int, duration: int
) -> dict[str, object]:
    request = {
        "model_name": model,
        "inputs": [
            {
                "name": "input-0",
                "datatype": "FP32",
                "shape": [1, int(ROW.size)],
                "contents": {"fp32_contents": [round(float(v), 4) for v in ROW]},
            }
        ],
    }
    output = subprocess.run(
        [
            ghz_bin,
            "--insecure",
            "--proto",
            str(PROTO),
            "--call",
            "inference.GRPCInferenceService.ModelInfer",
            "-d",
            json.dumps(request),
            "-c",
            str(concurrency),
            "-z",
            f"{duration}s",
            "--cpus",
            "1",  # one core for the load generator, one for the server
            "--timeout",
            "5s",
            "-O",
            "json",
            target,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 120,
        check=True,
    ).stdout
    document: dict[str, object] = json.loads(output)
    return document


def measure_grpc(
    ghz_bin: str, server: Server, target: str, model: str, concurrency: int, duration: int
) -> Measured:
    ghz(ghz_bin, target, model, concurrency, 1)  # warm-up: connections, caches
    before = cpu_seconds(server.process)
    report = ghz(ghz_bin, target, model, concurrency, duration)
    used = cpu_seconds(server.process) - before
    codes = report.get("statusCodeDistribution") or {}
    assert isinstance(codes, dict)
    ok = int(codes.get("OK", 0))
    # ghz cuts the calls in flight when the duration ends (-c of them, "Unavailable"); any
    # other failure is a real one and is shown.
    errors = report.get("errorDistribution") or {}
    assert isinstance(errors, dict)
    for message, count in list(errors.items())[:3]:
        if count > concurrency:
            print(f"  {server.name} gRPC: {count} x {message}", file=sys.stderr)
    latencies = {
        int(item["percentage"]): float(item["latency"]) / 1e6
        for item in report.get("latencyDistribution") or []  # type: ignore[attr-defined]
    }
    return Measured(
        rps=float(report["rps"]),  # type: ignore[arg-type]
        p50_ms=latencies.get(50, float("nan")),
        p99_ms=latencies.get(99, float("nan")),
        requests=int(report["count"]),  # type: ignore[call-overload]
        errors=int(report["count"]) - ok,  # type: ignore[call-overload]
        cpu_us_per_request=used / max(ok, 1) * 1e6,
    )


def measure_http(server: Server, concurrency: int, duration: int) -> Measured:
    body = v2_body(ROW.reshape(1, -1))
    wrk(server.url, body, concurrency, 1)  # warm-up
    before = cpu_seconds(server.process)
    result = wrk(server.url, body, concurrency, duration)
    used = cpu_seconds(server.process) - before
    answered = max(result.requests - result.errors, 1)
    return Measured(
        result.rps,
        result.p50_ms,
        result.p99_ms,
        result.requests,
        result.errors,
        used / answered * 1e6,
    )


@contextlib.contextmanager
def axiom_both() -> Iterator[tuple[Server, str]]:
    port, grpc_port = free_port(), free_port()
    env = {
        "AXIOM_MODEL_URI": str(DIGITS / "digits-1.0.0.axiom"),
        "AXIOM_CERTIFICATE": str(DIGITS / "digits-1.0.0.cert.json"),
        "AXIOM_TRUSTED_KEYS": str(KEYS),
        "AXIOM_HOST": "127.0.0.1",
        "AXIOM_PORT": str(port),
        "AXIOM_GRPC_PORT": str(grpc_port),
        "AXIOM_LOG_LEVEL": "WARNING",
    }
    with running(
        "axiom-grpc",
        [PYTHON, "-m", "axiom_runtime.server"],
        port,
        "/v2/models/digits/infer",
        "/ready",
        env=env,
        cwd=ROOT,
    ) as server:
        yield server, f"127.0.0.1:{grpc_port}"


@contextlib.contextmanager
def bare_grpc() -> Iterator[tuple[Server, str]]:
    port, grpc_port = free_port(), free_port()
    command = [
        PYTHON,
        str(BENCH / "bare_grpc.py"),
        "--port",
        str(port),
        "--grpc-port",
        str(grpc_port),
    ]
    with running("bare-grpc", command, port, "/v2/models/bare/infer", "/ready", cwd=ROOT) as server:
        yield server, f"127.0.0.1:{grpc_port}"


@contextlib.contextmanager
def mlserver_both(parallel_workers: int) -> Iterator[tuple[Server, str]]:
    repo = WORK / "mlserver-grpc"
    if not (repo / "digits" / "model.joblib").exists():
        subprocess.run(
            [str(MLSERVER_VENV / "bin" / "python"), str(BENCH / "mlserver_model.py"), str(repo)],
            check=True,
            capture_output=True,
        )
    port, grpc_port = free_port(), free_port()
    settings = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": grpc_port,
        "metrics_port": free_port(),
        "parallel_workers": parallel_workers,
        "metrics_dir": str(WORK / "mlserver-grpc-metrics"),
    }
    (repo / "settings.json").write_text(json.dumps(settings))
    with running(
        f"mlserver-grpc-pw{parallel_workers}",
        [str(MLSERVER_VENV / "bin" / "mlserver"), "start", str(repo)],
        port,
        "/v2/models/digits/infer",
        "/v2/models/digits/ready",
        cwd=repo,
    ) as server:
        yield server, f"127.0.0.1:{grpc_port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (default 5)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-mlserver", action="store_true")
    parser.add_argument(
        "--mlserver-workers", default="0", help="MLServer parallel_workers values (default 0)"
    )
    # runtime_bench's other flags may come through `make bench`: accept and ignore them.
    args, _ = parser.parse_known_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 1
    ghz_bin = ensure_ghz()
    if ghz_bin is None:
        print(
            "go not found: ghz (the gRPC load generator) is built from its Go module",
            file=sys.stderr,
        )
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    c, duration = args.concurrency, args.duration
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}; one-row digits request, "
        f"concurrency {c}, {duration}s per run; ghz --cpus 1 -c {c} (gRPC), wrk -t1 -c{c} (HTTP)",
        flush=True,
    )
    rows: list[list[str]] = []
    results: dict[str, Measured] = {}
    with bare_grpc() as (server, target):
        ceiling = measure_grpc(ghz_bin, server, target, "bare", c, duration)
    rows.append(ceiling.row("bare grpc.aio (ceiling)", "gRPC"))
    with axiom_both() as (server, target):
        results["axiom gRPC"] = measure_grpc(ghz_bin, server, target, "digits", c, duration)
        results["axiom HTTP"] = measure_http(server, c, duration)
    rows += [results["axiom gRPC"].row("axiom serve", "gRPC")]
    rows += [results["axiom HTTP"].row("axiom serve", "HTTP (V2 JSON)")]
    if not args.skip_mlserver:
        problem = ensure_mlserver()
        if problem is not None:
            print(f"MLServer skipped: {problem}", file=sys.stderr)
        else:
            for workers in (int(w) for w in args.mlserver_workers.split(",")):
                name = f"MLServer 1.7.1 (parallel_workers={workers})"
                with mlserver_both(workers) as (server, target):
                    time.sleep(1)
                    grpc_result = measure_grpc(ghz_bin, server, target, "digits", c, duration)
                    http_result = measure_http(server, c, duration)
                results[f"mlserver{workers} gRPC"] = grpc_result
                rows += [grpc_result.row(name, "gRPC"), http_result.row(name, "REST (V2 JSON)")]
    print()
    print(
        table(["server", "protocol", "req/s", "p50 ms", "p99 ms", "CPU-µs/request", "errors"], rows)
    )
    ours = results["axiom gRPC"]
    theirs = [m for key, m in results.items() if key.startswith("mlserver") and "gRPC" in key]
    if theirs:
        best = max(theirs, key=lambda m: m.rps)
        print(
            f"\naxiom gRPC vs MLServer's best gRPC: {ours.rps / best.rps:.1f}x req/s, "
            f"p99 {ours.p99_ms:.2f} vs {best.p99_ms:.2f} ms, "
            f"{ours.cpu_us_per_request:,.0f} vs {best.cpu_us_per_request:,.0f} CPU-µs/request"
        )
    print(
        f"axiom gRPC keeps {ours.rps / ceiling.rps:.0%} of the bare grpc.aio ceiling "
        f"({ceiling.rps:,.0f} req/s, {ceiling.cpu_us_per_request:,.0f} CPU-µs/request)"
    )
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
