"""Operator benchmark on the local control plane (kwok nodes): not a timed test, a measurement.

Measures, with the operator running as its own process (`axiom operator`), so that its RSS
is its own:
  1. apply-to-Deployment latency: create one AxiomModel at a time, time until its Deployment
     exists (p50/p95 over --latency-samples models);
  2. N AxiomModels (--models, default 200) created at once: time until all are Ready=True;
  3. operator RSS with all of them;
  4. API writes during an idle window (--idle seconds, default 60), from the operator's own
     counter axiom_operator_api_writes_total (target: zero).

Usage: python bench/operator_bench.py [--models 200] [--idle 60] [--latency-samples 20]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import psutil
from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from operator_support import (  # noqa: E402
    deploy_version,
    model_manifest,
    package,
    put_trusted_keys,
)

from axiom_devcluster.controlplane import ControlPlane  # noqa: E402
from axiom_devcluster.operator_fixtures import apply_crds, free_port  # noqa: E402
from axiom_operator.kube import AxiomModelResource  # noqa: E402
from axiom_runtime.metrics import parse_prometheus_text  # noqa: E402

NAMESPACE = "bench"


def _counter_total(port: int, name: str) -> float:
    """One counter of the operator's /metrics, summed over its labels."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(sample.value for sample in parse_prometheus_text(text).get(name, []))


def reconciles(port: int) -> float:
    return _counter_total(port, "axiom_operator_reconciles_total")


def writes(port: int) -> float:
    return _counter_total(port, "axiom_operator_api_writes_total")


def manifest(name: str, sha: str, secret: str) -> dict[str, Any]:
    m: dict[str, Any] = model_manifest(name, NAMESPACE, "1.0.0", sha, secret)
    m["spec"]["model"]["uri"] = "configmap://digits-1-0-0/model.axiom"
    m["spec"]["model"]["name"] = "digits"  # one signed package serves every benchmark model
    m["spec"]["resources"] = {"requests": {"cpu": "1m", "memory": "1Mi"}}
    return m


async def ready_count(client: AsyncClient) -> int:
    count = 0
    async for model in client.list(AxiomModelResource, namespace=NAMESPACE):
        conditions = (model.get("status") or {}).get("conditions") or []
        count += any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return count


def start_operator_process(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], IO[str]]:
    """`axiom operator` as its own process, so its RSS is measured alone."""
    log = open(Path(tempfile.gettempdir()) / "axiom-operator-bench.log", "w")  # noqa: SIM115
    command = [
        sys.executable,
        "-m",
        "axiom_runtime.cli",
        "operator",
        "--namespace",
        NAMESPACE,
        "--standalone",
    ]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), log


async def run(args: argparse.Namespace, plane: ControlPlane) -> list[tuple[str, str]]:
    client = AsyncClient(
        config=KubeConfig.from_file(str(plane.kubeconfig)), field_manager="bench", trust_env=False
    )
    await client.create(Namespace(metadata=ObjectMeta(name=NAMESPACE)))
    await put_trusted_keys(client, NAMESPACE)
    data = package("digits", "1.0.0")
    sha, secret = await deploy_version(client, NAMESPACE, "digits", "1.0.0", data=data)
    assert sha == hashlib.sha256(data).hexdigest()

    port = free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(plane.kubeconfig),
        "AXIOM_OPERATOR_METRICS_PORT": str(port),
        # Shorter than --idle, so every model is resynced (read, compared) during the idle
        # window: the zero-writes figure then covers the periodic resync too.
        "AXIOM_OPERATOR_RESYNC_SECONDS": str(args.resync),
    }
    operator, log = start_operator_process(env)
    rows: list[tuple[str, str]] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                writes(port)
                break
            except OSError:
                if time.monotonic() > deadline or operator.poll() is not None:
                    raise RuntimeError(
                        "operator did not start (see axiom-operator-bench.log)"
                    ) from None
                await asyncio.sleep(0.2)

        latencies = []
        for i in range(args.latency_samples):
            name = f"lat-{i}"
            started = time.perf_counter()
            await client.create(AxiomModelResource.from_dict(manifest(name, sha, secret)))
            while True:
                try:
                    await client.get(Deployment, f"{name}-v1-0-0", namespace=NAMESPACE)
                    break
                except Exception:
                    await asyncio.sleep(0.01)
            latencies.append(time.perf_counter() - started)
        latencies.sort()
        rows.append(("apply -> Deployment p50", f"{statistics.median(latencies) * 1000:.0f} ms"))
        rows.append(
            (
                "apply -> Deployment p95",
                f"{latencies[int(0.95 * (len(latencies) - 1))] * 1000:.0f} ms",
            )
        )

        started = time.perf_counter()
        await asyncio.gather(
            *(
                client.create(AxiomModelResource.from_dict(manifest(f"m{i}", sha, secret)))
                for i in range(args.models)
            )
        )
        total = args.models + args.latency_samples
        deadline = time.monotonic() + args.ready_timeout
        while (done := await ready_count(client)) < total:
            if time.monotonic() > deadline:
                rows.append(
                    (
                        f"{args.models} models at once -> all Ready",
                        f"TIMEOUT ({done}/{total} Ready)",
                    )
                )
                break
            await asyncio.sleep(0.5)
        else:
            rows.append(
                (
                    f"{args.models} models at once -> all Ready",
                    f"{time.perf_counter() - started:.1f} s",
                )
            )
        rss = psutil.Process(operator.pid).memory_info().rss
        rows.append((f"operator RSS with {total} models", f"{rss / 2**20:.0f} MiB"))

        await asyncio.sleep(5)  # let the last status writes settle
        before, passes_before = writes(port), reconciles(port)
        await asyncio.sleep(args.idle)
        idle_writes = writes(port) - before
        rows.append(
            (
                f"API writes during {args.idle:.0f} s idle",
                f"{idle_writes:.0f} ({idle_writes * 60 / args.idle:.1f}/min)",
            )
        )
        rows.append(
            (
                f"reconcile passes in that window (resync every {args.resync:.0f} s)",
                f"{reconciles(port) - passes_before:.0f}",
            )
        )
        rows.append(("API writes in total", f"{writes(port):.0f}"))
    finally:
        operator.terminate()
        operator.wait(30)
        log.close()
        await client.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--resync", type=float, default=30.0, help="operator resync period, s")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    args, _ = parser.parse_known_args()  # run_all.py passes shared flags (e.g. --duration)
    with tempfile.TemporaryDirectory(prefix="axiom-operator-bench-") as directory:
        plane = ControlPlane(Path(directory), kwok_nodes=3, tie_to_parent=True)
        plane.start()
        try:
            apply_crds(plane)
            rows = asyncio.run(run(args, plane))
        finally:
            plane.stop()
    width = max(len(r[0]) for r in rows)
    print(f"{'operator benchmark (local control plane, kwok nodes)':<{width}}  value")
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
