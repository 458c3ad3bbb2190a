"""Sequential decisions, checked by simulation: bounded false rollbacks, real faults caught."""

from __future__ import annotations

import numpy as np
import pytest

from axiom_operator.rollout.sequential import (
    Counts,
    Evidence,
    SequentialSettings,
    SequentialVerdict,
    accumulate,
    judge,
    slow_bound,
)
from axiom_runtime.server.runtime_metrics import LATENCY_BUCKETS

EDGES_MS = np.array([edge * 1000.0 for edge in LATENCY_BUCKETS] + [np.inf])
# The defaults a user would pick: the stable errs 1 % of the time, the guard is at 1 %, so a
# canary is promotable only when its rate is shown below that and rolled back once shown
# above the stable's.
SETTINGS = SequentialSettings(
    false_rollback_rate=0.05, min_requests=50, max_error_rate=0.01, max_p99_latency_ms=250.0
)


def window(rng: np.random.Generator, requests: int, error_rate: float, median_ms: float) -> Counts:
    """One version's window: Bernoulli errors, lognormal latency into the runtime's buckets."""
    latencies = rng.lognormal(np.log(median_ms), 0.35, size=requests)
    cumulative = np.searchsorted(np.sort(latencies), EDGES_MS, side="right")
    return Counts(
        requests=requests,
        errors=int(rng.binomial(requests, error_rate)),
        latency=tuple(zip(EDGES_MS.tolist(), cumulative.astype(float).tolist(), strict=True)),
    )


def run_canary(
    rng: np.random.Generator,
    *,
    windows: int,
    per_window: int,
    share: float,
    canary_error: float = 0.01,
    canary_slowdown: float = 1.0,
    stable_error: float = 0.01,
) -> tuple[SequentialVerdict, int]:
    """Judge after every window; the first Harmful or Good ends it. (verdict, canary requests)."""
    evidence = Evidence()
    for _ in range(windows):
        canary_n = int(rng.binomial(per_window, share))
        evidence = accumulate(
            evidence,
            window(rng, canary_n, canary_error, 1.0 * canary_slowdown),
            window(rng, per_window - canary_n, stable_error, 1.0),
            SETTINGS,
        )
        verdict = judge(evidence, SETTINGS).verdict
        if verdict is not SequentialVerdict.UNDECIDED:
            return verdict, evidence.canary_requests
    return SequentialVerdict.UNDECIDED, evidence.canary_requests


def test_a_thousand_a_a_canaries_roll_back_at_most_the_configured_rate() -> None:
    rng = np.random.default_rng(15)
    harmful = 0
    runs = 1000
    for _ in range(runs):
        # Never stopped by a Good verdict: every A/A canary is watched for all 40 windows.
        evidence = Evidence()
        for _ in range(40):
            canary_n = int(rng.binomial(400, 0.2))
            evidence = accumulate(
                evidence,
                window(rng, canary_n, 0.01, 1.0),
                window(rng, 400 - canary_n, 0.01, 1.0),
                SETTINGS,
            )
            if judge(evidence, SETTINGS).verdict is SequentialVerdict.HARMFUL:
                harmful += 1
                break
    assert harmful / runs <= SETTINGS.false_rollback_rate


def test_a_doubled_error_rate_is_caught() -> None:
    rng = np.random.default_rng(2)
    outcomes = [
        run_canary(rng, windows=200, per_window=400, share=0.5, canary_error=0.02)[0]
        for _ in range(50)
    ]
    assert outcomes.count(SequentialVerdict.HARMFUL) >= 45


def test_a_one_and_a_half_times_slower_canary_is_caught() -> None:
    rng = np.random.default_rng(3)
    outcomes = [
        run_canary(
            rng,
            windows=200,
            per_window=400,
            share=0.5,
            canary_slowdown=1.5,
            canary_error=0.002,
            stable_error=0.002,
        )[0]
        for _ in range(50)
    ]
    assert outcomes.count(SequentialVerdict.HARMFUL) >= 45


def test_a_good_canary_is_shown_good_once_evidence_suffices() -> None:
    rng = np.random.default_rng(4)
    verdict, requests = run_canary(
        rng, windows=200, per_window=400, share=0.5, canary_error=0.002, stable_error=0.002
    )
    assert verdict is SequentialVerdict.GOOD
    assert requests >= SETTINGS.min_requests


def test_too_little_evidence_is_undecided_never_good() -> None:
    evidence = accumulate(Evidence(), Counts(49, 0), Counts(500, 0), SETTINGS)
    result = judge(evidence, SETTINGS)
    assert result.verdict is SequentialVerdict.UNDECIDED
    assert "minSample" in result.reasons[0]


def test_a_perfect_canary_needs_enough_requests_to_be_good() -> None:
    settings = SequentialSettings(max_error_rate=0.01, max_p99_latency_ms=None)
    few = accumulate(Evidence(), Counts(100, 0), Counts(100, 0), settings)
    assert judge(few, settings).verdict is SequentialVerdict.UNDECIDED
    many = accumulate(few, Counts(400, 0), Counts(400, 0), settings)
    assert judge(many, settings).verdict is SequentialVerdict.GOOD


def test_the_slow_bound_is_the_edge_at_or_below_the_stable_p99() -> None:
    buckets = ((1.0, 50.0), (2.0, 98.0), (5.0, 100.0), (float("inf"), 100.0))
    assert slow_bound(buckets) == 2.0
    assert slow_bound(((1.0, 100.0), (float("inf"), 100.0))) == 1.0
    assert slow_bound(()) is None


def test_evidence_counts_accumulate_over_windows() -> None:
    evidence = accumulate(Evidence(), Counts(10, 1), Counts(90, 2), SETTINGS)
    evidence = accumulate(evidence, Counts(20, 0), Counts(80, 1), SETTINGS)
    assert (evidence.canary_requests, evidence.canary_errors) == (30, 1)
    assert (evidence.stable_requests, evidence.stable_errors) == (170, 3)


@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_harm_needs_more_evidence_at_a_lower_rate(alpha: float) -> None:
    settings = SequentialSettings(false_rollback_rate=alpha, max_p99_latency_ms=None)
    evidence = accumulate(Evidence(), Counts(1000, 20), Counts(1000, 10), settings)
    result = judge(evidence, settings)
    assert result.error_harm > 1.0
    assert (result.verdict is SequentialVerdict.HARMFUL) == (result.error_harm >= 2 / alpha)
