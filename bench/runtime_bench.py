"""Benchmark `axiom serve` against MLServer 1.7 and a bare aiohttp handler, with wrk.

Same machine, same run, same model (the digits MLP, 64 inputs, 32 hidden, 10 classes), same
request (V2 JSON infer, one row), same concurrency. Every run is time-bounded (wrk -d).
Also: the concurrency curve, a 784-input model, batch-of-64 requests, batching on/off,
uvloop on/off, and the server's RSS idle, under load and over a soak run.

Usage: python bench/runtime_bench.py [--duration 10] [--soak 30] [--skip-mlserver]
Needs: wrk (apt-get install -y wrk). MLServer is installed into bench/.venv-mlserver on first
use (pip install mlserver==1.7.1 mlserver-sklearn==1.7.1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
RESULTS = BENCH / "results"
MLSERVER_VENV = BENCH / ".venv-mlserver"
# uvloop<0.22: with uvloop 0.23, MLServer 1.7.1's parallel inference workers die at start
# ("There is no current event loop" in mlserver/parallel/worker.py _ignore_signals).
MLSERVER_PACKAGES = ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22"]
DIGITS = ROOT / "examples" / "digits"
KEYS = ROOT / "examples" / "keys" / "trusted"
PYTHON = sys.executable

sys.path.insert(0, str(ROOT / "runtime"))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- servers -----------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    infer_path: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.infer_path}"

    def rss_mib(self) -> float:
        """RSS of the server and its children (MLServer forks workers)."""
        total = 0
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += proc.memory_info().rss
        return total / 2**20


def wait_ready(
    port: int, path: str, process: subprocess.Popen[bytes], log: Path, limit_s: float = 120
) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"server on port {port} not ready after {limit_s}s:\n{log.read_text()[-3000:]}"
    )


@contextlib.contextmanager
def running(
    name: str,
    command: list[str],
    port: int,
    infer_path: str,
    ready_path: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[Server]:
    log = WORK / f"{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    try:
        wait_ready(port, ready_path, process, log)
        yield Server(name, process, port, infer_path)
    finally:
        # Our own process group (start_new_session): MLServer's workers go with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def axiom_server(
    package: Path,
    certificate: Path | None,
    keys: Path | None,
    name: str = "axiom",
    extra_env: dict[str, str] | None = None,
) -> contextlib.AbstractContextManager[Server]:
    port = free_port()
    env = {
        "AXIOM_MODEL_URI": str(package),
        "AXIOM_HOST": "127.0.0.1",
        "AXIOM_PORT": str(port),
        "AXIOM_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    if certificate is not None and keys is not None:
        env |= {"AXIOM_CERTIFICATE": str(certificate), "AXIOM_TRUSTED_KEYS": str(keys)}
    model = json.loads(_model_json(package))["name"]
    return running(
        name,
        [PYTHON, "-m", "axiom_runtime.server"],
        port,
        f"/v2/models/{model}/infer",
        "/ready",
        env=env,
        cwd=ROOT,
    )


def _model_json(package: Path) -> str:
    import zipfile

    with zipfile.ZipFile(package) as archive:
        return archive.read("model.json").decode()


def bare_server(no_uvloop: bool = False) -> contextlib.AbstractContextManager[Server]:
    port = free_port()
    command = [PYTHON, str(BENCH / "bare_aiohttp.py"), "--port", str(port)]
    if no_uvloop:
        command.append("--no-uvloop")
    return running("bare-aiohttp", command, port, "/v2/models/bare/infer", "/v2/health/ready")


def ensure_mlserver() -> str | None:
    """Install MLServer into its venv if needed; return None or why it is unavailable."""
    mlserver = MLSERVER_VENV / "bin" / "mlserver"
    if mlserver.exists():
        return None
    base = (
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    try:
        subprocess.run(
            [str(base), "-m", "venv", str(MLSERVER_VENV)], check=True, capture_output=True
        )
        pip = [str(MLSERVER_VENV / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, "-U", "pip"], check=True, capture_output=True, timeout=600)
        result = subprocess.run(
            [*pip, *MLSERVER_PACKAGES], capture_output=True, text=True, timeout=1800
        )
        if result.returncode != 0:
            return (
                f"pip install {' '.join(MLSERVER_PACKAGES)} failed: {result.stderr.strip()[-800:]}"
            )
    except (subprocess.SubprocessError, OSError) as error:
        return f"could not create {MLSERVER_VENV}: {error}"
    return None


def mlserver_server(parallel_workers: int) -> contextlib.AbstractContextManager[Server]:
    repo = WORK / "mlserver"
    if not (repo / "digits" / "model.joblib").exists():
        subprocess.run(
            [str(MLSERVER_VENV / "bin" / "python"), str(BENCH / "mlserver_model.py"), str(repo)],
            check=True,
            capture_output=True,
        )
    port = free_port()
    settings = {
        "debug": False,  # no access log line per request
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": parallel_workers,
        "metrics_dir": str(WORK / "mlserver-metrics"),
    }
    (repo / "settings.json").write_text(json.dumps(settings))
    return running(
        f"mlserver-pw{parallel_workers}",
        [str(MLSERVER_VENV / "bin" / "mlserver"), "start", str(repo)],
        port,
        "/v2/models/digits/infer",
        "/v2/models/digits/ready",
        cwd=repo,
    )


# -- load ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int

    def row(self) -> list[str]:
        return [
            f"{self.rps:,.0f}",
            f"{self.p50_ms:.2f}",
            f"{self.p99_ms:.2f}",
            "0" if self.errors == 0 else f"**{self.errors}**",
        ]


def v2_body(rows: np.ndarray) -> str:
    tensor = {
        "name": "input-0",
        "shape": list(rows.shape),
        "datatype": "FP32",
        "data": [round(float(v), 4) for v in rows.reshape(-1)],
    }
    return json.dumps({"inputs": [tensor]})


def wrk(url: str, body: str, connections: int, duration: int) -> Result:
    script = WORK / f"wrk-{abs(hash(body))}.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{body}]]\n"
    )
    threads = 1  # one core for the load generator, one for the server (2-core machine)
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(errors_match.group(1)) if errors_match else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return Result(rps, _percentile(output, "50%"), _percentile(output, "99%"), requests, errors)


def _percentile(output: str, label: str) -> float:
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def check_answer(server: Server, body: str) -> None:
    request = urllib.request.Request(
        server.url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        document = json.loads(response.read())
    assert document.get("outputs"), document


class RssSampler:
    """Samples a server's RSS in a thread while load runs."""

    def __init__(self, server: Server, every_s: float) -> None:
        self.server, self.every_s = server, every_s
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.every_s):
            self.samples.append((time.monotonic() - started, self.server.rss_mib()))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- tables ----------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def build_models() -> dict[str, tuple[Path, Path | None, Path | None]]:
    from axiom_runtime.server.testing import build_signed_model

    models: dict[str, tuple[Path, Path | None, Path | None]] = {}
    digits = DIGITS / "digits-1.0.0.axiom"
    if not digits.exists():
        raise SystemExit("examples/digits/digits-1.0.0.axiom is missing: run `make example` first")
    models["digits"] = (digits, DIGITS / "digits-1.0.0.cert.json", KEYS)
    mnist_dir = WORK / "mnist784"
    if not (mnist_dir / "mnist-1.0.0.axiom").exists():
        build_signed_model(
            mnist_dir,
            name="mnist",
            version="1.0.0",
            input_size=784,
            hidden=128,
            classes=10,
            input_range=(0.0, 1.0),
            seed=1,
        )
    models["mnist784"] = (
        mnist_dir / "mnist-1.0.0.axiom",
        mnist_dir / "mnist-1.0.0.cert.json",
        mnist_dir / "trusted",
    )
    return models


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument(
        "--connections", type=int, default=32, help="concurrency of the main comparison"
    )
    parser.add_argument(
        "--soak", type=int, default=30, help="seconds of the memory soak run (e.g. 120)"
    )
    parser.add_argument("--skip-mlserver", action="store_true")
    parser.add_argument(
        "--mlserver-workers",
        default="0,1",
        help="MLServer parallel_workers settings to measure, comma-separated (1 is its default)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    models = build_models()
    rng = np.random.default_rng(0)
    one_row = v2_body(rng.random((1, 64)).round(4))
    batch64 = v2_body(rng.random((64, 64)).round(4))
    mnist_row = v2_body(rng.random((1, 784)).round(4))
    mnist_batch64 = v2_body(rng.random((64, 784)).round(4))
    duration, conc = args.duration, args.connections
    report: list[str] = []
    raw: dict[str, Any] = {}

    def say(text: str) -> None:
        print(text, flush=True)
        report.append(text)

    say(
        f"# Runtime benchmark\n\nmachine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}; "
        f"load: wrk -t1 -c<C> -d{duration}s (one core for wrk, one for the server)\n"
    )

    # 1. Side by side: bare aiohttp, axiom, MLServer — V2 JSON, 1 row, same concurrency.
    main_rows: list[list[str]] = []
    curve: dict[str, dict[int, Result]] = {}
    levels = [1, 8, 32, 128]
    with bare_server() as bare:
        check_answer(bare, one_row)
        curve["bare aiohttp (ceiling)"] = {c: wrk(bare.url, one_row, c, duration) for c in levels}
    digits = models["digits"]
    with axiom_server(*digits) as axiom:
        check_answer(axiom, one_row)
        idle_rss = axiom.rss_mib()
        with RssSampler(axiom, 0.5) as sampler:
            curve["axiom serve"] = {c: wrk(axiom.url, one_row, c, duration) for c in levels}
        load_rss = max(rss for _, rss in sampler.samples)
    mlserver_note = ""
    if not args.skip_mlserver:
        problem = ensure_mlserver()
        if problem is None:
            for workers in (int(w) for w in args.mlserver_workers.split(",")):
                with mlserver_server(workers) as mlserver:
                    check_answer(mlserver, one_row)
                    curve[f"MLServer 1.7.1 sklearn (parallel_workers={workers})"] = {
                        c: wrk(mlserver.url, one_row, c, duration) for c in levels
                    }
        else:
            mlserver_note = f"MLServer not measured: {problem}"
    else:
        mlserver_note = "MLServer skipped (--skip-mlserver)"

    say(f"## Same model (digits MLP), V2 JSON infer, 1 row, concurrency {conc}\n")
    axiom_main = curve["axiom serve"][conc]
    bare_main = curve["bare aiohttp (ceiling)"][conc]
    for name, results in curve.items():
        result = results[conc]
        main_rows.append(
            [
                name,
                *result.row(),
                f"{result.rps / axiom_main.rps:.2f}x" if name != "axiom serve" else "1.00x",
            ]
        )
    say(table(["server", "req/s", "p50 ms", "p99 ms", "errors", "vs axiom (req/s)"], main_rows))
    ml_key = next((k for k in curve if k.startswith("MLServer")), None)
    summary = [
        f"axiom / bare-aiohttp ceiling: {axiom_main.rps / bare_main.rps:.0%} (target >= 40%)"
    ]
    if ml_key:
        ml = curve[ml_key][conc]
        summary.append(
            f"axiom / MLServer: {axiom_main.rps / ml.rps:.1f}x req/s (target >= 8x), "
            f"p99 {axiom_main.p99_ms:.2f} ms vs {ml.p99_ms:.2f} ms"
        )
    if mlserver_note:
        summary.append(mlserver_note)
    say("\n" + "\n".join(f"- {line}" for line in summary) + "\n")

    say("## Throughput curve (req/s, p99 ms) by concurrency\n")
    say(
        table(
            ["server", *[f"c={c}" for c in levels]],
            [
                [name, *[f"{r[c].rps:,.0f} ({r[c].p99_ms:.1f})" for c in levels]]
                for name, r in curve.items()
            ],
        )
    )
    raw["curve"] = {
        name: {c: r.__dict__ for c, r in results.items()} for name, results in curve.items()
    }

    # 2. Request and model shapes; batching and uvloop on/off.
    variants: list[list[str]] = []

    def variant(
        label: str, server: Server, body: str, rows_per_request: int, c: int = conc
    ) -> None:
        check_answer(server, body)
        result = wrk(server.url, body, c, duration)
        variants.append([label, f"c={c}", *result.row(), f"{result.rps * rows_per_request:,.0f}"])
        raw[label + f" c={c}"] = result.__dict__

    with axiom_server(*digits) as axiom:
        variant("digits, 1 row", axiom, one_row, 1)
        variant("digits, batch of 64 rows", axiom, batch64, 64)
    with axiom_server(*models["mnist784"]) as mnist:
        variant("784-input MLP (random weights), 1 row", mnist, mnist_row, 1)
        variant("784-input MLP, batch of 64 rows", mnist, mnist_batch64, 64)
    with axiom_server(
        *digits, name="axiom-nobatch", extra_env={"AXIOM_MAX_BATCH_SIZE": "1"}
    ) as nobatch:
        variant("digits, 1 row, batching off (max batch 1)", nobatch, one_row, 1)
        variant("digits, 1 row, batching off (max batch 1)", nobatch, one_row, 1, c=128)
    with axiom_server(
        *digits, name="axiom-wait0", extra_env={"AXIOM_MAX_BATCH_WAIT_MS": "0"}
    ) as nowait:
        variant("digits, 1 row, batch wait 0 ms", nowait, one_row, 1)
        variant("digits, 1 row, batch wait 0 ms", nowait, one_row, 1, c=128)
    with axiom_server(*digits, name="axiom-asyncio", extra_env={"AXIOM_UVLOOP": "off"}) as plain:
        variant("digits, 1 row, asyncio loop (uvloop off)", plain, one_row, 1)
    variants.insert(
        2,
        [
            "digits, 1 row (default: batching on, uvloop)",
            "c=128",
            *curve["axiom serve"][128].row(),
            f"{curve['axiom serve'][128].rps:,.0f}",
        ],
    )
    say("\n## axiom serve: request shapes, models, batching, event loop\n")
    say(table(["case", "conc", "req/s", "p50 ms", "p99 ms", "errors", "rows/s"], variants))

    # 3. Memory: idle, under load, and a soak run.
    with axiom_server(*digits, name="axiom-soak") as axiom:
        soak_idle = axiom.rss_mib()
        with RssSampler(axiom, 2.0) as sampler:
            soak = wrk(axiom.url, one_row, conc, args.soak)
        samples = [rss for _, rss in sampler.samples]
    third = max(len(samples) // 3, 1)
    early, late = np.mean(samples[:third]), np.mean(samples[-third:])
    say("\n## Memory (RSS of the axiom server process)\n")
    say(
        table(
            ["measure", "MiB"],
            [
                ["idle, model loaded (before the curve runs)", f"{idle_rss:.1f}"],
                ["max under load (curve runs, c=1..128)", f"{load_rss:.1f}"],
                ["soak: idle before", f"{soak_idle:.1f}"],
                [f"soak {args.soak}s at c={conc}: mean of first third of samples", f"{early:.1f}"],
                [f"soak {args.soak}s at c={conc}: mean of last third of samples", f"{late:.1f}"],
                [
                    f"soak: growth last vs first third ({soak.requests:,} requests, {len(samples)} samples)",
                    f"{late - early:+.1f}",
                ],
            ],
        )
    )
    raw["memory"] = {
        "idle": idle_rss,
        "load_max": load_rss,
        "soak_samples": samples,
        "soak_seconds": args.soak,
    }
    (RESULTS / "runtime.md").write_text("\n".join(report) + "\n")
    (RESULTS / "runtime.json").write_text(json.dumps(raw, indent=1, default=str))
    print(f"\n(written to {RESULTS.relative_to(ROOT)}/runtime.md and runtime.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
