"""Sequential decisions: judge the canary at every interval without inflating false alarms.

A fixed-window threshold either waits too long or rolls back on noise: checked every 30 s,
a 5 % test raises a false alarm far more often than 5 % of the time over a long canary.
This module keeps, for the whole canary, likelihood-ratio *e-processes* (nonnegative
supermartingales under the null) and decides when one of them crosses ``1/alpha``. By
Ville's inequality the chance that it ever crosses, however often it is looked at, is at
most ``alpha``: the operator may check at every interval, and stop early either way.

Two kinds of test, for each of two events (an *error*, and a *slow* request):

- **Harm** (two-sample, canary against stable, rolls back): the events of both versions,
  each either the canary's or the stable's. If the canary's event rate equals the stable's,
  an event is the canary's with probability ``pi``, the canary's share of the requests in
  that window. Under "the canary's rate is ``rho`` times the stable's" that probability is
  ``rho*pi / (rho*pi + 1 - pi)``. The mixture over a grid of ``rho > 1`` (equal weights) of
  the likelihood ratios against ``rho = 1`` is a supermartingale whenever the canary is no
  worse than the stable, whatever the common rate is, and needs only the counts per window
  (conditioning on the window's event total: the exact law is hypergeometric, which is
  dominated in convex order by the binomial used here, so the ratio stays a
  supermartingale). Errors and latency each get ``alpha / 2``: together the false rollback
  rate is at most ``falseRollbackRate``.
- **Good enough** (one-sample, canary alone, lets a step pass): the canary's event rate is
  below the user's guard (``maxErrorRate``; for latency, 1 % of requests slower than
  ``maxP99LatencyMs``), tested as "rate >= guard" against a grid of lower rates. Until it
  crosses, the canary has not shown it is good: the verdict is Inconclusive, never Success.

Latency is judged on the share of requests slower than a fixed bound: the latency
histogram's bucket edge at or just below the stable's p99 in the first window with enough
stable requests (fixed there, so later windows test one question). A canary whose p99 is
1.5x the stable's has far more of its requests above that edge.

All state is a few numbers (:class:`Evidence`): log likelihood ratios per grid point and
counts, kept in the machine's status, so a restarted operator continues the same test.
Without a latency histogram (figures read from Prometheus, which answers a p99 only) the
latency tests have nothing to count: the ``maxP99LatencyMs`` guard judges latency window by
window there.

Pure: no I/O, no clock, no numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

# Rate ratios (canary / stable) the harm test is powered for; equal prior weight each.
HARM_RATIOS: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
# Fractions of the guard rate the good-enough test is powered for.
GOOD_FRACTIONS: tuple[float, ...] = (0.5, 0.25, 0.1, 0.02)
# Share of requests a healthy version may have above its maxP99LatencyMs bound.
P99_TAIL = 0.01

Buckets = Sequence[tuple[float, float]]
"""Cumulative latency histogram: (upper bound in ms, requests at or below it), any order."""


class SequentialVerdict(StrEnum):
    HARMFUL = "Harmful"  # evidence that the canary is worse than the stable: roll back
    GOOD = "Good"  # evidence that the canary is within the guards: the step may pass
    UNDECIDED = "Undecided"  # not enough evidence either way: keep measuring


@dataclass(frozen=True)
class SequentialSettings:
    """``spec.rollout.analysis.sequential``."""

    false_rollback_rate: float = 0.05
    min_requests: int = 50
    max_error_rate: float = 0.01
    max_p99_latency_ms: float | None = 250.0


@dataclass(frozen=True)
class Counts:
    """One version's counts in one window: requests, errors, and latency buckets (ms)."""

    requests: int
    errors: int
    latency: Buckets = ()


@dataclass(frozen=True)
class Evidence:
    """The whole canary's evidence so far (the machine keeps it in status)."""

    canary_requests: int = 0
    canary_errors: int = 0
    stable_requests: int = 0
    stable_errors: int = 0
    canary_slow: int = 0
    stable_slow: int = 0
    canary_over_guard: int = 0
    canary_timed: int = 0  # canary requests seen in a latency histogram
    slow_bound_ms: float | None = None
    # Log likelihood ratios, one per grid point (HARM_RATIOS, GOOD_FRACTIONS).
    error_harm: tuple[float, ...] = field(default=(0.0,) * len(HARM_RATIOS))
    slow_harm: tuple[float, ...] = field(default=(0.0,) * len(HARM_RATIOS))
    error_good: tuple[float, ...] = field(default=(0.0,) * len(GOOD_FRACTIONS))
    slow_good: tuple[float, ...] = field(default=(0.0,) * len(GOOD_FRACTIONS))


@dataclass(frozen=True)
class SequentialResult:
    verdict: SequentialVerdict
    reasons: tuple[str, ...]
    # e-values (mixture likelihood ratios), for status and Events.
    error_harm: float
    latency_harm: float
    error_good: float
    latency_good: float


def _mixture(logs: Sequence[float]) -> float:
    """Equal-weight mixture of exp(logs), computed without overflow."""
    top = max(logs)
    if math.isinf(top):
        return top if top > 0 else 0.0
    log_mixture = top + math.log(sum(math.exp(value - top) for value in logs) / len(logs))
    # Beyond e^700 a float overflows; such evidence has long crossed every bar.
    return math.exp(log_mixture) if log_mixture < 700 else math.inf


def _harm_step(logs: Sequence[float], canary: int, stable: int, share: float) -> tuple[float, ...]:
    """Add one window's events (canary's, stable's; canary share of requests) to the harm LRs."""
    if canary + stable == 0 or not 0.0 < share < 1.0:
        return tuple(logs)
    updated = []
    for log_ratio, rho in zip(logs, HARM_RATIOS, strict=True):
        theta = rho * share / (rho * share + 1.0 - share)
        updated.append(
            log_ratio
            + canary * math.log(theta / share)
            + stable * math.log((1.0 - theta) / (1.0 - share))
        )
    return tuple(updated)


def _good_step(
    logs: Sequence[float], events: int, requests: int, guard: float
) -> tuple[float, ...]:
    """Add ``events`` out of ``requests`` to the LRs of "rate < guard" against "rate = guard"."""
    if requests <= 0 or not 0.0 < guard < 1.0:
        return tuple(logs)
    misses = requests - events
    updated = []
    for log_ratio, fraction in zip(logs, GOOD_FRACTIONS, strict=True):
        low = guard * fraction
        updated.append(
            log_ratio + events * math.log(low / guard) + misses * math.log((1 - low) / (1 - guard))
        )
    return tuple(updated)


def _total(buckets: Buckets) -> float:
    return max((count for _, count in buckets), default=0.0)


def _at_or_below(buckets: Buckets, bound: float) -> float:
    """Requests at or below ``bound`` (an edge of the histogram)."""
    return max((count for upper, count in buckets if upper <= bound), default=0.0)


def slow_bound(buckets: Buckets, quantile: float = 0.99) -> float | None:
    """The finite bucket edge at or just below the ``quantile`` of ``buckets`` (the first edge
    when even that holds more than the quantile); None without finite edges or requests."""
    total = _total(buckets)
    edges = sorted((upper, count) for upper, count in buckets if math.isfinite(upper))
    if total <= 0 or not edges:
        return None
    chosen = edges[0][0]
    for upper, count in edges:
        if count <= quantile * total:
            chosen = upper
    return chosen


def guard_edge(buckets: Buckets, limit_ms: float) -> float | None:
    """The largest finite edge at or below ``limit_ms``: requests above it are at least those
    above the limit, so "few above it" is a conservative reading of "p99 within the limit"."""
    edges = [upper for upper, _ in buckets if math.isfinite(upper) and upper <= limit_ms]
    return max(edges) if edges else None


def accumulate(
    evidence: Evidence, canary: Counts, stable: Counts, settings: SequentialSettings
) -> Evidence:
    """``evidence`` plus one window of both versions."""
    total = canary.requests + stable.requests
    share = canary.requests / total if total > 0 else 0.0
    error_harm = _harm_step(evidence.error_harm, canary.errors, stable.errors, share)
    error_good = _good_step(
        evidence.error_good, canary.errors, canary.requests, settings.max_error_rate
    )
    bound = evidence.slow_bound_ms
    if bound is None and stable.requests >= settings.min_requests:
        bound = slow_bound(stable.latency)
    slow_harm = evidence.slow_harm
    canary_slow = stable_slow = 0
    if bound is not None and canary.latency and stable.latency:
        canary_slow = round(_total(canary.latency) - _at_or_below(canary.latency, bound))
        stable_slow = round(_total(stable.latency) - _at_or_below(stable.latency, bound))
        timed = _total(canary.latency) + _total(stable.latency)
        slow_harm = _harm_step(
            slow_harm, canary_slow, stable_slow, _total(canary.latency) / timed if timed else 0.0
        )
    slow_good = evidence.slow_good
    over_guard = 0
    limit = settings.max_p99_latency_ms
    if limit is not None and canary.latency:
        edge = guard_edge(canary.latency, limit)
        timed_canary = round(_total(canary.latency))
        over_guard = (
            timed_canary
            if edge is None
            else round(_total(canary.latency) - _at_or_below(canary.latency, edge))
        )
        slow_good = _good_step(slow_good, over_guard, timed_canary, P99_TAIL)
    return replace(
        evidence,
        canary_requests=evidence.canary_requests + canary.requests,
        canary_errors=evidence.canary_errors + canary.errors,
        stable_requests=evidence.stable_requests + stable.requests,
        stable_errors=evidence.stable_errors + stable.errors,
        canary_slow=evidence.canary_slow + canary_slow,
        stable_slow=evidence.stable_slow + stable_slow,
        canary_over_guard=evidence.canary_over_guard + over_guard,
        canary_timed=evidence.canary_timed + round(_total(canary.latency)),
        slow_bound_ms=bound,
        error_harm=error_harm,
        slow_harm=slow_harm,
        error_good=error_good,
        slow_good=slow_good,
    )


def judge(evidence: Evidence, settings: SequentialSettings) -> SequentialResult:
    """Harmful, Good or Undecided from the evidence so far (any time, as often as wanted)."""
    alpha = settings.false_rollback_rate
    error_harm = _mixture(evidence.error_harm)
    latency_harm = _mixture(evidence.slow_harm)
    error_good = _mixture(evidence.error_good)
    # Without a histogram (figures read from Prometheus) the maxP99LatencyMs guard judges
    # latency window by window, as without sequential decisions.
    latency_good = (
        math.inf
        if settings.max_p99_latency_ms is None or evidence.canary_timed == 0
        else _mixture(evidence.slow_good)
    )

    def result(verdict: SequentialVerdict, reasons: list[str]) -> SequentialResult:
        return SequentialResult(
            verdict, tuple(reasons), error_harm, latency_harm, error_good, latency_good
        )

    if evidence.canary_requests < settings.min_requests:
        return result(
            SequentialVerdict.UNDECIDED,
            [f"{evidence.canary_requests} canary requests < minSample {settings.min_requests}"],
        )
    harm_bar = 2.0 / alpha  # alpha/2 for each of the two harm tests
    harms = []
    if error_harm >= harm_bar:
        harms.append(
            f"error rate above stable's (sequential test: e-value {error_harm:.0f} >= "
            f"{harm_bar:.0f}; canary {evidence.canary_errors}/{evidence.canary_requests}, "
            f"stable {evidence.stable_errors}/{evidence.stable_requests})"
        )
    if latency_harm >= harm_bar:
        harms.append(
            f"latency above stable's (sequential test: e-value {latency_harm:.0f} >= "
            f"{harm_bar:.0f}; slower than {evidence.slow_bound_ms:g} ms: canary "
            f"{evidence.canary_slow}, stable {evidence.stable_slow})"
        )
    if harms:
        return result(SequentialVerdict.HARMFUL, harms)
    good_bar = 1.0 / alpha
    short = []
    if error_good < good_bar:
        short.append(
            f"error rate not yet shown below maxErrorRate {settings.max_error_rate} "
            f"(e-value {error_good:.1f} < {good_bar:.0f}; "
            f"{evidence.canary_errors}/{evidence.canary_requests})"
        )
    if latency_good < good_bar:
        short.append(
            f"p99 not yet shown below maxP99LatencyMs {settings.max_p99_latency_ms} "
            f"(e-value {latency_good:.1f} < {good_bar:.0f}; "
            f"{evidence.canary_over_guard} slower)"
        )
    if short:
        return result(SequentialVerdict.UNDECIDED, short)
    return result(
        SequentialVerdict.GOOD,
        [
            f"sequential tests passed over {evidence.canary_requests} canary requests "
            f"(false rollback rate {alpha})"
        ],
    )


# e-values are shown in status (JSON has no infinity); beyond this they all mean "decided".
E_VALUE_CAP = 1e12


@dataclass(frozen=True)
class SequentialFigures:
    """What ``status.lastAnalysis.sequential`` shows: the evidence and the four e-values."""

    canary_requests: int
    canary_errors: int
    stable_requests: int
    stable_errors: int
    error_harm: float
    latency_harm: float
    error_good: float
    latency_good: float


def sequential_figures(evidence: Evidence, result: SequentialResult) -> SequentialFigures:
    def shown(value: float) -> float:
        return float(f"{min(value, E_VALUE_CAP):.4g}")

    return SequentialFigures(
        canary_requests=evidence.canary_requests,
        canary_errors=evidence.canary_errors,
        stable_requests=evidence.stable_requests,
        stable_errors=evidence.stable_errors,
        error_harm=shown(result.error_harm),
        latency_harm=shown(result.latency_harm),
        error_good=shown(result.error_good),
        latency_good=shown(result.latency_good),
    )
