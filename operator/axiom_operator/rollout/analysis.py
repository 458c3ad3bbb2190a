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

from dataclasses import dataclass, field
from enum import StrEnum

from axiom_operator.rollout import comparison as compare
from axiom_operator.rollout import sequential as seq
from axiom_operator.rollout.comparison import (
    ComparisonFigures,
    ComparisonThresholds,
    ShadowSample,
)


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
    # Cumulative latency histogram of the window, (upper bound in ms, requests): what the
    # sequential latency test counts slow requests from. Left out of equality: it is the raw
    # material of ``p99_ms``, which is compared.
    latency_buckets_ms: tuple[tuple[float, float], ...] = field(default=(), compare=False)


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
    # Same-input comparison limits (checked only on windows with mirrored rows).
    comparison: ComparisonThresholds = field(default_factory=ComparisonThresholds)
    # Sequential decisions on error rate and latency, on by default as in the CRD
    # (None: window by window, the thresholds alone).
    false_rollback_rate: float | None = 0.05
    # Canary requests over the whole canary before the sequential tests decide anything.
    sequential_min_sample: int = 100
    # While the sequential tests are undecided, a window of at least min_requests may pass
    # on the thresholds (True, the default) or is Inconclusive (False: strict).
    pass_undecided_on_thresholds: bool = True

    def sequential_settings(self) -> seq.SequentialSettings | None:
        if self.false_rollback_rate is None:
            return None
        return seq.SequentialSettings(
            false_rollback_rate=self.false_rollback_rate,
            min_requests=self.sequential_min_sample,
            max_error_rate=self.max_error_rate,
            max_p99_latency_ms=self.max_p99_latency_ms,
        )


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
    comparison: ComparisonFigures | None = None
    sequential: seq.SequentialResult | None = None
    # The sequential evidence including this window (what the machine keeps), or None.
    evidence: seq.Evidence | None = None


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


def _comparison(
    shadow: ShadowSample | None, thresholds: AnalysisThresholds, expect: bool
) -> tuple[ComparisonFigures | None, list[str], list[str]]:
    """(figures, failures, doubts) of the window's same-input comparison."""
    if shadow is None or shadow.rows == 0:
        doubts = ["shadow step: no mirrored request was compared"] if expect else []
        return None, [], doubts
    figures = compare.figures(shadow)
    if shadow.rows < thresholds.min_requests:
        return figures, [], [f"{shadow.rows} mirrored rows < minRequests {thresholds.min_requests}"]
    return figures, compare.failures(figures, thresholds.comparison), []


def evaluate(
    canary: MetricsReading,
    stable: MetricsReading,
    thresholds: AnalysisThresholds,
    *,
    shadow: ShadowSample | None = None,
    evidence: seq.Evidence | None = None,
    expect_comparison: bool = False,
) -> AnalysisResult:
    """Judge one window of the canary against ``thresholds`` and against the stable version.

    ``shadow`` is what the stable pods compared of mirrored requests in the window;
    ``expect_comparison`` (a shadow step) makes its absence inconclusive. With sequential
    decisions (``thresholds.false_rollback_rate``) the window is added to ``evidence``
    (the whole canary's so far) and the tests decide; the thresholds stay as guards.
    """
    stable_sample = stable if isinstance(stable, AnalysisSample) else None
    unanswered = stable_sample.canary_forward_failures if stable_sample else 0
    if shadow is not None:
        unanswered += shadow.unanswered  # copies the canary never answered: errors too
    stable_figures = (
        _figures(stable_sample.requests, stable_sample.errors, stable_sample)
        if stable_sample
        else None
    )
    settings = thresholds.sequential_settings()

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
                evidence=evidence,
            )
        return AnalysisResult(
            Verdict.INCONCLUSIVE,
            (f"canary metrics unreachable: {canary.reason}",),
            None,
            stable_figures,
            evidence=evidence,
        )

    requests = canary.requests + unanswered
    errors = canary.errors + unanswered
    figures = _figures(requests, errors, canary)
    comparison, comparison_failures, comparison_doubts = _comparison(
        shadow, thresholds, expect_comparison
    )
    sequential: seq.SequentialResult | None = None
    if settings is not None:
        evidence = seq.accumulate(
            evidence or seq.Evidence(),
            seq.Counts(requests, errors, canary.latency_buckets_ms),
            seq.Counts(
                stable_sample.requests if stable_sample else 0,
                stable_sample.errors if stable_sample else 0,
                stable_sample.latency_buckets_ms if stable_sample else (),
            ),
            settings,
        )
        sequential = seq.judge(evidence, settings)

    def result(verdict: Verdict, reasons: list[str]) -> AnalysisResult:
        return AnalysisResult(
            verdict, tuple(reasons), figures, stable_figures, comparison, sequential, evidence
        )

    thin = requests < thresholds.min_requests or requests == 0
    if thin and sequential is None:
        if comparison_failures:
            return result(Verdict.FAILURE, comparison_failures)
        return result(
            Verdict.INCONCLUSIVE,
            [f"{requests} canary requests < minRequests {thresholds.min_requests}"],
        )

    failures: list[str] = list(comparison_failures)
    doubts: list[str] = list(comparison_doubts)
    if not thin:  # the guards judge a window only when it holds enough requests
        failures.extend(_guard_failures(canary, figures, stable_figures, thresholds, doubts))
    if sequential is not None and sequential.verdict is seq.SequentialVerdict.HARMFUL:
        failures.extend(sequential.reasons)
    if failures:
        return result(Verdict.FAILURE, failures)
    if doubts:
        return result(Verdict.INCONCLUSIVE, doubts)
    if sequential is None:
        return result(Verdict.SUCCESS, [f"{requests} requests within thresholds"])
    if sequential.verdict is seq.SequentialVerdict.GOOD:
        return result(Verdict.SUCCESS, list(sequential.reasons))
    # Undecided. A step never passes on too little: a thin window is Inconclusive either way.
    # With enough requests in the window the thresholds judge it (the default), because the
    # sequential "good" test needs several hundred error-free canary requests (docs/rollout.md)
    # and a short canary step would otherwise never pass; the "harm" test keeps watching.
    if thin or not thresholds.pass_undecided_on_thresholds:
        if thin:
            doubts.append(f"{requests} canary requests < minRequests {thresholds.min_requests}")
        doubts.extend(sequential.reasons)
        return result(Verdict.INCONCLUSIVE, doubts)
    return result(
        Verdict.SUCCESS,
        [
            f"{requests} requests within thresholds",
            *(f"sequential: {r}" for r in sequential.reasons),
        ],
    )


def _guard_failures(
    canary: AnalysisSample,
    figures: Figures,
    stable_figures: Figures | None,
    thresholds: AnalysisThresholds,
    doubts: list[str],
) -> list[str]:
    """The fixed thresholds on this window (``doubts`` gets what could not be checked)."""
    failures: list[str] = []
    assert figures.error_rate is not None
    rate = figures.error_rate
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
    return failures
