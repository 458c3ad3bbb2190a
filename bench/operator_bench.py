"""Operator at scale on the local control plane (kwok nodes), against the bare control plane.

One run, one control plane, printed side by side:
  0. baseline: --models bare Deployments + Services created at once (no operator): time until
     every Deployment is available. The ratio below divides by this.
  1. --models AxiomModels created at once (the operator running as its own process, as a
     ServiceAccount, so its RSS is its own and the apiserver's audit log names its writes):
     time until all are Ready; every write the operator sent from creation to Ready, per model
     and per kind (Kopf's own patches included: counted by the apiserver, not by us);
  2. operator RSS with all of them;
  3. apply -> Deployment latency while they exist (--latency-samples models, one at a time);
  4. an idle window (--idle s): writes (target 0) and how resync passes spread over it;
  5. --canaries of the models get a new version at once (Replicas traffic, two timed steps):
     how late each step is decided after its pause ended (target: within 2 s).

Usage: python bench/operator_bench.py [--models 1000] [--canaries 50] [--idle 60]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psutil
from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Namespace
from lightkube.types import PatchType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "bench"))

from operator_scale import (  # noqa: E402
    bare_deployment,
    bare_service,
    count_available,
    count_deployments,
    counter_total,
    cpu_seconds,
    create_all,
    operator_kubeconfig,
    profile_summary,
    wait_until,
)
from operator_support import deploy_version, model_manifest, package, put_trusted_keys  # noqa: E402

from axiom_devcluster import audit  # noqa: E402
from axiom_devcluster.controlplane import ControlPlane  # noqa: E402
from axiom_devcluster.nodes import MAX_PODS_PER_NODE  # noqa: E402
from axiom_devcluster.operator_fixtures import apply_crds, free_port  # noqa: E402
from axiom_operator.kube import AxiomModelResource  # noqa: E402

NAMESPACE = "bench"
BASELINE = "baseline"
STEP_PAUSE_S = 10
CANARY_STEPS = [
    {"weight": 20, "pause": f"{STEP_PAUSE_S}s"},
    {"weight": 50, "pause": f"{STEP_PAUSE_S}s"},
]
Row = tuple[str, str, str]  # what, measured, floor


class Rows(list[Row]):
    """The table, each row also printed as soon as it is measured (a long run shows progress)."""

    def append(self, row: Row) -> None:
        print("  ".join(row), file=sys.stderr, flush=True)
        super().append(row)


def manifest(name: str, version: str, sha: str, secret: str, canary: bool) -> dict[str, Any]:
    m: dict[str, Any] = model_manifest(name, NAMESPACE, version, sha, secret)
    m["spec"]["model"]["uri"] = f"configmap://digits-{version.replace('.', '-')}/model.axiom"
    m["spec"]["model"]["name"] = "digits"  # one signed package per version serves every model
    m["spec"]["resources"] = {"requests": {"cpu": "1m", "memory": "1Mi"}}
    if canary:
        # kwok pods cannot be reached, so the Runtime split's "weight applied" report never
        # comes: the canaries use the replica-ratio split, and steps without analysis.
        m["spec"]["traffic"] = {"mode": "Replicas"}
        m["spec"]["rollout"] = {"steps": CANARY_STEPS}
    return m


async def ready_count(client: AsyncClient) -> int:
    count = 0
    async for model in client.list(AxiomModelResource, namespace=NAMESPACE):
        conditions = (model.get("status") or {}).get("conditions") or []
        count += any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return count


def start_operator(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], IO[str]]:
    log = open(Path(tempfile.gettempdir()) / "axiom-operator-bench.log", "w")  # noqa: SIM115
    command = [sys.executable, "-m", "axiom_runtime.cli", "operator", "--namespace", NAMESPACE]
    return subprocess.Popen([*command, "--standalone"], env=env, stdout=log, stderr=log), log


async def baseline(client: AsyncClient, models: int, limit: float) -> tuple[float | None, int]:
    await client.create(Namespace(metadata=ObjectMeta(name=BASELINE)))
    objects: list[Any] = []
    for i in range(models):
        objects += [bare_deployment(f"b{i}", BASELINE), bare_service(f"b{i}", BASELINE)]
    started = time.perf_counter()
    await create_all(client, objects)
    seconds, done = await wait_until(lambda: count_available(client, BASELINE), models, limit)
    return (None if seconds is None else time.perf_counter() - started), done


async def canary_lateness(
    client: AsyncClient, names: list[str], version: str, sha: str, secret: str, limit: float
) -> tuple[list[float], int]:
    """Start a canary on each model at once; for each step decision, seconds between the end
    of the step's pause (status stepStartedAt + pause) and the bench seeing the next step."""
    for name in names:
        spec = manifest(name, version, sha, secret, canary=True)["spec"]
        await client.patch(
            AxiomModelResource,
            name,
            {
                "spec": {
                    "version": version,
                    "model": spec["model"],
                    "certificate": spec["certificate"],
                }
            },
            namespace=NAMESPACE,
            patch_type=PatchType.MERGE,
        )
    seen: dict[str, tuple[int | None, str | None]] = {}
    lateness: list[float] = []
    finished: set[str] = set()
    deadline = time.monotonic() + limit
    while len(finished) < len(names) and time.monotonic() < deadline:
        now = datetime.now(UTC)
        async for model in client.list(AxiomModelResource, namespace=NAMESPACE):
            name = model["metadata"]["name"]
            if name not in names or name in finished:
                continue
            rollout = (model.get("status") or {}).get("rollout") or {}
            step, started = rollout.get("step"), rollout.get("stepStartedAt")
            before = seen.get(name)
            if before is not None and before[1] is not None and (step, started) != before:
                ended = datetime.fromisoformat(before[1].replace("Z", "+00:00"))
                lateness.append((now - ended).total_seconds() - STEP_PAUSE_S)
            seen[name] = (step, started)
            if rollout.get("stableVersion") == version:
                finished.add(name)
        await asyncio.sleep(0.2)
    return lateness, len(finished)


def start_profiler(pid: int, directory: Path) -> tuple[subprocess.Popen[bytes], Path] | None:
    """py-spy sampling the operator from outside (50 Hz, collapsed stacks); None if absent."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        print("py-spy not installed: no profile (make setup installs it)", file=sys.stderr)
        return None
    out = directory / "operator-profile.txt"
    command = [str(spy), "record", "--pid", str(pid), "--rate", "50", "--format", "raw"]
    process = subprocess.Popen(
        [*command, "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, out


def stop_profiler(
    profiler: tuple[subprocess.Popen[bytes], Path] | None,
) -> list[tuple[str, float]]:
    if profiler is None:
        return []
    process, out = profiler
    process.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        return []
    return profile_summary(out.read_text(errors="replace")) if out.exists() else []


async def run(args: argparse.Namespace, plane: ControlPlane) -> list[Row]:
    rows = Rows()
    client = AsyncClient(
        config=KubeConfig.from_file(str(plane.kubeconfig)), field_manager="bench", trust_env=False
    )
    base_s, base_done = await baseline(client, args.models, args.ready_timeout)
    rows.append(
        (
            f"bare: {args.models} Deployments + Services -> all available",
            "TIMEOUT" if base_s is None else f"{base_s:.1f} s",
            f"({base_done} available)",
        )
    )

    await client.create(Namespace(metadata=ObjectMeta(name=NAMESPACE)))
    await put_trusted_keys(client, NAMESPACE)
    versions = {}
    for version in ("1.0.0", "2.0.0"):
        data = package("digits", version)
        sha, secret = await deploy_version(client, NAMESPACE, "digits", version, data=data)
        assert sha == hashlib.sha256(data).hexdigest()
        versions[version] = (sha, secret)
    kubeconfig = Path(plane.directory) / "operator.kubeconfig"
    user = operator_kubeconfig(plane, NAMESPACE, kubeconfig)

    port = free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "AXIOM_OPERATOR_METRICS_PORT": str(port),
        # Short, so that many models are resynced (read, compared) during the idle window:
        # the zero-writes figure then covers the periodic resync too.
        "AXIOM_OPERATOR_RESYNC_SECONDS": str(args.resync),
        # kwok pods report made-up addresses: the operator must never try one.
        "AXIOM_OPERATOR_POD_NETWORK_ALLOWLIST": "127.0.0.0/8",
    }
    if args.operator_source:
        # Another checkout's operator (e.g. a `git worktree` of an older commit) in the same
        # run of this bench: before and after measured by the same yardstick.
        tree = args.operator_source  # made absolute by main()
        env["PYTHONPATH"] = f"{tree}/runtime:{tree}/operator"
    operator, log = start_operator(env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                counter_total(port, "axiom_operator_api_writes_total")
                break
            except OSError:
                if time.monotonic() > deadline or operator.poll() is not None:
                    raise RuntimeError(
                        "operator did not start (see axiom-operator-bench.log)"
                    ) from None
                await asyncio.sleep(0.2)

        sha, secret = versions["1.0.0"]
        models = [
            AxiomModelResource.from_dict(
                manifest(f"m{i}", "1.0.0", sha, secret, canary=i < args.canaries)
            )
            for i in range(args.models)
        ]
        components = {**plane.pids, "operator": operator.pid}
        cpu_before = cpu_seconds(components)
        profiler = start_profiler(operator.pid, plane.directory) if args.profile else None
        created_at = datetime.now(UTC)
        started = time.perf_counter()
        passes_before = counter_total(port, "axiom_operator_reconciles_total")
        pass_seconds_before = counter_total(port, "axiom_operator_reconcile_duration_seconds_sum")
        await create_all(client, models)
        created_s = time.perf_counter() - started
        made, _ = await wait_until(
            lambda: count_deployments(client, NAMESPACE), args.models, args.ready_timeout
        )
        deployments = "TIMEOUT" if made is None else f"{time.perf_counter() - started:.1f} s"
        waited, _ = await wait_until(lambda: ready_count(client), args.models, args.ready_timeout)
        ready_s = None if waited is None else time.perf_counter() - started
        ready_at = datetime.now(UTC)
        burst_s = time.perf_counter() - started
        cpu_after = cpu_seconds(components)
        profile = stop_profiler(profiler)
        limit = None if base_s is None else 1.5 * base_s
        ratio = "" if ready_s is None or base_s is None else f" = {ready_s / base_s:.2f}x bare"
        rows.append(
            (
                f"operator: {args.models} AxiomModels -> all Ready",
                "TIMEOUT" if ready_s is None else f"{ready_s:.1f} s{ratio}",
                "" if limit is None else f"<= {limit:.1f} s (1.5x bare)",
            )
        )
        rows.append(
            (f"  all {args.models} AxiomModels created (bench client)", f"{created_s:.1f} s", "")
        )
        rows.append((f"  all {args.models} Deployments exist", deployments, ""))
        passes = counter_total(port, "axiom_operator_reconciles_total") - passes_before
        pass_seconds = (
            counter_total(port, "axiom_operator_reconcile_duration_seconds_sum")
            - pass_seconds_before
        )
        rows.append(
            (
                "  reconcile passes until all Ready",
                f"{passes:.0f} ({passes / args.models:.1f}/model, mean {pass_seconds / max(passes, 1) * 1000:.0f} ms)",
                "",
            )
        )
        rss = psutil.Process(operator.pid).memory_info().rss
        rows.append(
            (f"operator RSS with {args.models} models", f"{rss / 2**20:.0f} MiB", "<= 200 MiB")
        )

        await asyncio.sleep(5)  # the passes of the last Ready models may still be writing
        writes = audit.of(
            audit.read(plane.audit_log_path), user=user, since=created_at, until=datetime.now(UTC)
        )
        per_model = len(writes) / args.models
        rows.append(("writes per model, creation -> Ready (audit log)", f"{per_model:.2f}", "<= 6"))
        for what, count in sorted(audit.by_kind(writes).items(), key=lambda kv: -kv[1]):
            rows.append((f"  {what}", f"{count / args.models:.2f}", ""))
        reasons: dict[str, int] = {}
        async for event in client.list(Event, namespace=NAMESPACE):
            reasons[event.reason or ""] = reasons.get(event.reason or "", 0) + 1
        rows.append(
            (
                "  Events by reason, per model",
                ", ".join(f"{r} {n / args.models:.2f}" for r, n in sorted(reasons.items())),
                "",
            )
        )
        for name in sorted(cpu_after, key=lambda n: -(cpu_after[n] - cpu_before.get(n, 0))):
            used = cpu_after[name] - cpu_before.get(name, 0)
            rows.append(
                (f"  CPU during it: {name}", f"{used:.1f} s ({used / burst_s:.2f} cores)", "")
            )
        for area, share in profile:
            rows.append((f"  operator CPU profile: {area}", f"{share * 100:.0f} %", ""))
        late_writes = [w for w in writes if w.at > ready_at]
        rows.append(("  (of which after the last model was Ready)", f"{len(late_writes)}", ""))

        latencies = []
        for i in range(args.latency_samples):
            name = f"lat-{i}"
            began = time.perf_counter()
            await client.create(
                AxiomModelResource.from_dict(manifest(name, "1.0.0", sha, secret, canary=False))
            )
            while True:
                try:
                    await client.get(Deployment, f"{name}-v1-0-0", namespace=NAMESPACE)
                    break
                except Exception:
                    await asyncio.sleep(0.01)
            latencies.append(time.perf_counter() - began)
        latencies.sort()
        rows.append(
            (
                f"apply -> Deployment p50 ({args.models} models exist)",
                f"{statistics.median(latencies) * 1000:.0f} ms",
                "<= 250 ms",
            )
        )
        rows.append(
            (
                "apply -> Deployment p95",
                f"{latencies[int(0.95 * (len(latencies) - 1))] * 1000:.0f} ms",
                "",
            )
        )

        await asyncio.sleep(10)  # the latency models become Ready
        idle_from = datetime.now(UTC)
        per_second = []
        previous = counter_total(port, "axiom_operator_reconciles_total")
        for _ in range(int(args.idle)):
            await asyncio.sleep(1)
            current = counter_total(port, "axiom_operator_reconciles_total")
            per_second.append(current - previous)
            previous = current
        idle = audit.of(
            audit.read(plane.audit_log_path), user=user, since=idle_from, until=datetime.now(UTC)
        )
        rows.append((f"writes in an idle {args.idle:.0f} s", f"{len(idle)}", "0"))
        expected = (args.models + args.latency_samples) / args.resync
        rows.append(
            (
                f"resync passes per second (period {args.resync:.0f} s)",
                f"mean {statistics.mean(per_second):.1f}, max {max(per_second):.0f}",
                f"~{expected:.1f}/s, no bursts",
            )
        )

        if args.canaries:
            sha2, secret2 = versions["2.0.0"]
            names = [f"m{i}" for i in range(args.canaries)]
            lateness, finished = await canary_lateness(
                client, names, "2.0.0", sha2, secret2, limit=args.ready_timeout
            )
            lateness.sort()
            rows.append(
                (
                    f"{args.canaries} canaries: steps decided after their pause, p50 / max",
                    f"{statistics.median(lateness):.1f} / {lateness[-1]:.1f} s"
                    if lateness
                    else "no decision seen",
                    "max <= 2 s",
                )
            )
            rows.append(
                (
                    f"  canaries promoted ({len(lateness)} step decisions)",
                    f"{finished}/{args.canaries}",
                    f"{args.canaries}",
                )
            )
        rows.append(
            (
                "operator writes in total (audit log)",
                f"{len(audit.of(audit.read(plane.audit_log_path), user=user))}",
                "",
            )
        )
    finally:
        operator.terminate()
        operator.wait(30)
        log.close()
        await client.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--canaries", type=int, default=50)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--idle", type=float, default=60.0)
    # 120 s: half the models resync inside the idle minute (~8.5 passes a second at 1,000).
    parser.add_argument("--resync", type=float, default=120.0, help="operator resync period, s")
    parser.add_argument("--ready-timeout", type=float, default=900.0)
    parser.add_argument(
        "--operator-source", help="run the operator from this source tree (runtime/, operator/)"
    )
    parser.add_argument(
        "--no-profile", dest="profile", action="store_false", help="do not run py-spy"
    )
    args, _ = parser.parse_known_args()  # run_all.py passes shared flags (e.g. --duration)
    if args.operator_source:
        args.operator_source = os.path.abspath(args.operator_source)
    # Baseline pods + model pods + canary pods, never capped by node capacity.
    pods = 2 * args.models + args.latency_samples + 2 * args.canaries + 50
    nodes = math.ceil(pods / MAX_PODS_PER_NODE)
    with tempfile.TemporaryDirectory(prefix="axiom-operator-bench-") as directory:
        plane = ControlPlane(
            Path(directory),
            kwok_nodes=nodes,
            kwok_pods_per_node=MAX_PODS_PER_NODE,
            tie_to_parent=True,
            audit_log=True,
            start_timeout=180,
        )
        plane.start()
        try:
            # The CRD of the operator under test: an older operator refuses fields (with their
            # defaults) that only a newer CRD has.
            source = Path(args.operator_source or ROOT)
            apply_crds(plane, source / "crds")
            rows = asyncio.run(run(args, plane))
        finally:
            load = os.getloadavg()
            plane.stop()
    width = max(len(r[0]) for r in rows)
    print(
        f"{'operator at scale (local control plane, ' + str(nodes) + ' kwok nodes)':<{width}}"
        f"  {'measured':<26}  floor"
    )
    for what, value, floor in rows:
        print(f"{what:<{width}}  {value:<26}  {floor}")
    print(
        f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
