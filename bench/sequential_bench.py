"""How many requests the sequential rollout tests need, and how often they raise false alarms.

Pure simulation of ``axiom_operator.rollout.sequential`` (no cluster, no server): windows of
``--per-window`` requests, each a Bernoulli error and a lognormal latency (median 1 ms,
sigma 0.35) counted into the runtime's latency buckets, judged after every window exactly
as the operator does. Printed side by side for a canary at 10 % and at 50 % of the requests
(50 % is also what 100 % shadow mirroring gives: both versions see every request):

- A/A: canary identical to stable (1 % errors each); the share rolled back (must be <= the
  configured falseRollbackRate, 0.05), watched for ``--windows`` windows each.
- doubled error rate (1 % -> 2 %) and a 1.5x slower canary: the share caught and the canary
  requests it took (median and 90th percentile).

Usage: python bench/sequential_bench.py [--runs 1000] [--windows 50] [--per-window 400]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from axiom_operator.rollout.sequential import (
    Counts,
    Evidence,
    SequentialSettings,
    SequentialVerdict,
    accumulate,
    judge,
)
from axiom_runtime.server.runtime_metrics import LATENCY_BUCKETS

EDGES_MS = np.array([edge * 1000.0 for edge in LATENCY_BUCKETS] + [np.inf])
SETTINGS = SequentialSettings(false_rollback_rate=0.05, min_requests=50, max_error_rate=0.01)


def window(rng: np.random.Generator, requests: int, error_rate: float, median_ms: float) -> Counts:
    latencies = np.sort(rng.lognormal(np.log(median_ms), 0.35, size=requests))
    cumulative = np.searchsorted(latencies, EDGES_MS, side="right").astype(float)
    return Counts(
        requests=requests,
        errors=int(rng.binomial(requests, error_rate)),
        latency=tuple(zip(EDGES_MS.tolist(), cumulative.tolist(), strict=True)),
    )


def run(
    rng: np.random.Generator,
    *,
    share: float,
    windows: int,
    per_window: int,
    canary_error: float,
    stable_error: float,
    slowdown: float,
    stop_on_good: bool,
) -> tuple[SequentialVerdict, int]:
    evidence = Evidence()
    for _ in range(windows):
        canary_n = int(rng.binomial(per_window, share))
        evidence = accumulate(
            evidence,
            window(rng, canary_n, canary_error, slowdown),
            window(rng, per_window - canary_n, stable_error, 1.0),
            SETTINGS,
        )
        verdict = judge(evidence, SETTINGS).verdict
        if verdict is SequentialVerdict.HARMFUL or (
            stop_on_good and verdict is SequentialVerdict.GOOD
        ):
            return verdict, evidence.canary_requests
    return SequentialVerdict.UNDECIDED, evidence.canary_requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="simulated A/A canaries")
    parser.add_argument("--fault-runs", type=int, default=200, help="simulated bad canaries")
    parser.add_argument("--windows", type=int, default=50, help="windows per canary")
    parser.add_argument("--per-window", type=int, default=400, help="requests per window")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--duration", type=int, default=0, help="ignored (shared run_all option)")
    parser.add_argument("--requests", type=int, default=0, help="ignored (shared option)")
    parser.add_argument("--soak", type=int, default=0, help="ignored (shared option)")
    parser.add_argument("--skip-mlserver", action="store_true", help="ignored (shared option)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    shares = (0.1, 0.5)
    rows: list[tuple[str, list[str]]] = []
    a_a = []
    for share in shares:
        outcomes = [
            run(
                rng,
                share=share,
                windows=args.windows,
                per_window=args.per_window,
                canary_error=0.01,
                stable_error=0.01,
                slowdown=1.0,
                stop_on_good=False,
            )[0]
            for _ in range(args.runs)
        ]
        rate = outcomes.count(SequentialVerdict.HARMFUL) / args.runs
        a_a.append(f"{rate:.3f} ({outcomes.count(SequentialVerdict.HARMFUL)}/{args.runs})")
    rows.append(("A/A false rollback rate (configured 0.05)", a_a))
    faults = (
        ("errors 1 % -> 2 %", {"canary_error": 0.02, "stable_error": 0.01, "slowdown": 1.0}),
        (
            "latency 1.5x (p99 1.5x)",
            {"canary_error": 0.002, "stable_error": 0.002, "slowdown": 1.5},
        ),
    )
    for name, fault in faults:
        caught, median, p90 = [], [], []
        for share in shares:
            results = [
                run(
                    rng,
                    share=share,
                    windows=args.windows * 10,
                    per_window=args.per_window,
                    stop_on_good=True,
                    **fault,
                )
                for _ in range(args.fault_runs)
            ]
            hits = [
                requests for verdict, requests in results if verdict is SequentialVerdict.HARMFUL
            ]
            caught.append(f"{len(hits) / len(results):.3f}")
            median.append(f"{np.median(hits):.0f}" if hits else "-")
            p90.append(f"{np.percentile(hits, 90):.0f}" if hits else "-")
        rows.append((f"{name}: share caught", caught))
        rows.append((f"{name}: canary requests to detect, median", median))
        rows.append((f"{name}: canary requests to detect, p90", p90))
    good = []
    for share in shares:
        results = [
            run(
                rng,
                share=share,
                windows=args.windows * 10,
                per_window=args.per_window,
                canary_error=0.0,
                stable_error=0.0,
                slowdown=1.0,
                stop_on_good=True,
            )
            for _ in range(args.fault_runs)
        ]
        passed = [requests for verdict, requests in results if verdict is SequentialVerdict.GOOD]
        good.append(f"{np.median(passed):.0f}" if passed else "-")
    rows.append(("error-free canary: canary requests to be shown good, median", good))
    width = max(len(name) for name, _ in rows)
    print(f"{'':<{width}}  {'canary 10 %':>14}  {'canary 50 % / shadow':>20}")
    for name, values in rows:
        print(f"{name:<{width}}  {values[0]:>14}  {values[1]:>20}")
    print(
        f"\n({args.runs} A/A runs of {args.windows} windows, {args.fault_runs} fault runs, "
        f"{args.per_window} requests per window, falseRollbackRate "
        f"{SETTINGS.false_rollback_rate}, maxErrorRate {SETTINGS.max_error_rate})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
