"""Canary analysis: is the canary good enough, measured over one window?

Pure and separate from the state machine so that the rules (what counts as an error, when
the data is too thin to judge) can be read and tested on their own. Three verdicts, never
two: too few requests, or metrics that could not be read, is *Inconclusive*, which the
state machine never treats as success.

Errors counted against the canary are its own 5xx answers plus the forwards the stable pods
gave up on (``connect`` and ``timeout``): those requests never got a canary answer, so the
canary's own counters miss them, yet they are exactly what a user would have suffered.
A canary that answered 5xx counted that itself, so ``status_5xx`` forward failures are not
added a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    SUCCESS = "Success"
    FAILURE = "Failure"
    INCONCLUSIVE = "Inconclusive"


@dataclass(frozen=True)
class AnalysisSample:
    """What one version's pods did during the window (deltas between two scrapes)."""

    requests: int
    errors: int
    p99_ms: float | None = None
    mean_confidence: float | None = None
    # Only meaningful on the stable sample: forwards to the canary that got no answer.
    canary_forward_failures: int = 0


@dataclass(frozen=True)
class Unreachable:
    """The metrics of a version could not be read; ``reason`` says why (for status/Events)."""

    reason: str


MetricsReading = AnalysisSample | Unreachable


@dataclass(frozen=True)
class AnalysisThresholds:
    """``spec.rollout.analysis``. Absolute limits always apply; relative ones need a stable
    sample of at least ``min_requests``. ``failure_limit`` failed windows are tolerated: the
    next one fails the canary. ``inconclusive_limit`` consecutive inconclusive evaluations
    pause the canary (never promote it)."""

    interval_seconds: float = 30.0
    min_requests: int = 50
    max_error_rate: float = 0.01
    max_p99_latency_ms: float | None = 250.0
    min_confidence: float | None = None
    failure_limit: int = 1
    inconclusive_limit: int = 10
    max_latency_ratio: float | None = None
    max_confidence_drop: float | None = None


@dataclass(frozen=True)
class Figures:
    """The numbers shown in ``status.lastAnalysis`` for one version."""

    requests: int
    errors: int
    error_rate: float | None
    p99_ms: float | None
    mean_confidence: float | None


@dataclass(frozen=True)
class AnalysisResult:
    verdict: Verdict
    reasons: tuple[str, ...]
    canary: Figures | None
    stable: Figures | None


def _figures(requests: int, errors: int, sample: AnalysisSample | None) -> Figures:
    return Figures(
        requests=requests,
        errors=errors,
        error_rate=(errors / requests) if requests > 0 else None,
        p99_ms=None if sample is None else sample.p99_ms,
        mean_confidence=None if sample is None else sample.mean_confidence,
    )


def _relative_failures(
    canary: Figures, stable: Figures, thresholds: AnalysisThresholds
) -> list[str]:
    failures: list[str] = []
    ratio = thresholds.max_latency_ratio
    if (
        ratio is not None
        and canary.p99_ms is not None
        and stable.p99_ms is not None
        and canary.p99_ms > stable.p99_ms * ratio
    ):
        failures.append(f"p99 {canary.p99_ms:.1f} ms > {ratio} x stable p99 {stable.p99_ms:.1f} ms")
    drop = thresholds.max_confidence_drop
    if (
        drop is not None
        and canary.mean_confidence is not None
        and stable.mean_confidence is not None
    ) and canary.mean_confidence < stable.mean_confidence - drop:
        failures.append(
            f"mean confidence {canary.mean_confidence:.3f} < stable "
            f"{stable.mean_confidence:.3f} - {drop}"
        )
    return failures


def evaluate(
    canary: MetricsReading, stable: MetricsReading, thresholds: AnalysisThresholds
) -> AnalysisResult:
    """Judge one window of the canary against ``thresholds`` and against the stable version."""
    stable_sample = stable if isinstance(stable, AnalysisSample) else None
    unanswered = stable_sample.canary_forward_failures if stable_sample else 0
    stable_figures = (
        _figures(stable_sample.requests, stable_sample.errors, stable_sample)
        if stable_sample
        else None
    )

    if isinstance(canary, Unreachable):
        # The stable pods' count of unanswered forwards is still evidence about the canary.
        if unanswered >= thresholds.min_requests and unanswered > 0:
            figures = _figures(unanswered, unanswered, None)
            return AnalysisResult(
                Verdict.FAILURE,
                (
                    f"canary metrics unreachable ({canary.reason}) and stable pods counted "
                    f"{unanswered} forwards the canary never answered",
                ),
                figures,
                stable_figures,
            )
        return AnalysisResult(
            Verdict.INCONCLUSIVE,
            (f"canary metrics unreachable: {canary.reason}",),
            None,
            stable_figures,
        )

    requests = canary.requests + unanswered
    errors = canary.errors + unanswered
    figures = _figures(requests, errors, canary)
    if requests < thresholds.min_requests or requests == 0:
        return AnalysisResult(
            Verdict.INCONCLUSIVE,
            (f"{requests} canary requests < minRequests {thresholds.min_requests}",),
            figures,
            stable_figures,
        )

    failures: list[str] = []
    doubts: list[str] = []
    rate = errors / requests
    if rate > thresholds.max_error_rate:
        failures.append(f"error rate {rate:.4f} > maxErrorRate {thresholds.max_error_rate}")
    if thresholds.max_p99_latency_ms is not None:
        if canary.p99_ms is None:
            doubts.append("no latency histogram for the canary")
        elif canary.p99_ms > thresholds.max_p99_latency_ms:
            failures.append(
                f"p99 {canary.p99_ms:.1f} ms > maxP99LatencyMs {thresholds.max_p99_latency_ms}"
            )
    minimum = thresholds.min_confidence
    if (
        minimum is not None
        and canary.mean_confidence is not None
        and canary.mean_confidence < minimum
    ):
        failures.append(
            f"mean confidence {canary.mean_confidence:.3f} < minConfidence "
            f"{thresholds.min_confidence}"
        )
    if stable_figures is not None and stable_figures.requests >= thresholds.min_requests:
        failures.extend(_relative_failures(figures, stable_figures, thresholds))

    if failures:
        return AnalysisResult(Verdict.FAILURE, tuple(failures), figures, stable_figures)
    if doubts:
        return AnalysisResult(Verdict.INCONCLUSIVE, tuple(doubts), figures, stable_figures)
    return AnalysisResult(
        Verdict.SUCCESS, (f"{requests} requests within thresholds",), figures, stable_figures
    )
