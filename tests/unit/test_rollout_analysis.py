"""Canary analysis verdicts, and /metrics scrapes turned into analysis samples."""

from __future__ import annotations

import math

import pytest
from prometheus_client import Counter, Histogram

from axiom_operator.rollout import (
    AnalysisSample,
    AnalysisThresholds,
    Unreachable,
    Verdict,
    evaluate,
    histogram_quantile,
    window_sample,
)
from axiom_runtime import metric_names as names
from axiom_runtime.metrics import new_registry, parse_prometheus_text, render

LIMITS = AnalysisThresholds(min_requests=50, max_error_rate=0.01, max_p99_latency_ms=250)
HEALTHY = AnalysisSample(requests=1000, errors=2, p99_ms=40.0, mean_confidence=0.9)


def test_a_canary_within_every_threshold_succeeds() -> None:
    result = evaluate(HEALTHY, HEALTHY, LIMITS)
    assert result.verdict is Verdict.SUCCESS
    assert result.canary is not None and result.canary.error_rate == pytest.approx(0.002)


def test_too_few_requests_is_inconclusive_never_success() -> None:
    result = evaluate(AnalysisSample(requests=49, errors=0, p99_ms=1.0), HEALTHY, LIMITS)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "minRequests" in result.reasons[0]


def test_zero_requests_is_inconclusive_even_with_min_requests_zero() -> None:
    limits = AnalysisThresholds(min_requests=0)
    assert evaluate(AnalysisSample(0, 0), HEALTHY, limits).verdict is Verdict.INCONCLUSIVE


def test_an_error_rate_above_the_limit_fails() -> None:
    result = evaluate(AnalysisSample(requests=1000, errors=20, p99_ms=40.0), HEALTHY, LIMITS)
    assert result.verdict is Verdict.FAILURE
    assert "error rate" in result.reasons[0]


def test_a_p99_above_the_limit_fails() -> None:
    result = evaluate(AnalysisSample(requests=1000, errors=0, p99_ms=300.0), HEALTHY, LIMITS)
    assert result.verdict is Verdict.FAILURE and "p99" in result.reasons[0]


def test_a_missing_latency_histogram_is_inconclusive_when_p99_is_checked() -> None:
    result = evaluate(AnalysisSample(requests=1000, errors=0, p99_ms=None), HEALTHY, LIMITS)
    assert result.verdict is Verdict.INCONCLUSIVE


def test_mean_confidence_below_the_minimum_fails() -> None:
    limits = AnalysisThresholds(min_confidence=0.8)
    canary = AnalysisSample(requests=1000, errors=0, p99_ms=10.0, mean_confidence=0.6)
    assert evaluate(canary, HEALTHY, limits).verdict is Verdict.FAILURE


def test_forwards_the_canary_never_answered_count_as_canary_errors() -> None:
    canary = AnalysisSample(requests=900, errors=0, p99_ms=10.0)
    stable = AnalysisSample(requests=5000, errors=0, p99_ms=10.0, canary_forward_failures=100)
    result = evaluate(canary, stable, LIMITS)
    assert result.verdict is Verdict.FAILURE
    assert result.canary is not None
    assert (result.canary.requests, result.canary.errors) == (1000, 100)


def test_unreachable_canary_metrics_are_inconclusive_with_the_reason() -> None:
    result = evaluate(Unreachable("connection refused"), HEALTHY, LIMITS)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "connection refused" in result.reasons[0]


def test_unreachable_canary_with_many_unanswered_forwards_fails() -> None:
    stable = AnalysisSample(requests=5000, errors=0, p99_ms=10.0, canary_forward_failures=80)
    assert evaluate(Unreachable("refused"), stable, LIMITS).verdict is Verdict.FAILURE


def test_canary_much_slower_than_stable_fails_the_relative_check() -> None:
    limits = AnalysisThresholds(max_p99_latency_ms=None, max_latency_ratio=2.0)
    canary = AnalysisSample(requests=1000, errors=0, p99_ms=90.0)
    stable = AnalysisSample(requests=1000, errors=0, p99_ms=40.0)
    assert evaluate(canary, stable, limits).verdict is Verdict.FAILURE


def test_relative_checks_are_skipped_when_the_stable_sample_is_too_thin() -> None:
    limits = AnalysisThresholds(max_p99_latency_ms=None, max_latency_ratio=2.0)
    canary = AnalysisSample(requests=1000, errors=0, p99_ms=90.0)
    stable = AnalysisSample(requests=10, errors=0, p99_ms=40.0)
    assert evaluate(canary, stable, limits).verdict is Verdict.SUCCESS


def test_confidence_drop_against_stable_fails() -> None:
    limits = AnalysisThresholds(max_confidence_drop=0.05)
    canary = AnalysisSample(requests=1000, errors=0, p99_ms=10.0, mean_confidence=0.80)
    stable = AnalysisSample(requests=1000, errors=0, p99_ms=10.0, mean_confidence=0.90)
    assert evaluate(canary, stable, limits).verdict is Verdict.FAILURE


# -- scrapes -> samples -------------------------------------------------------------------


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.1, 50.0), (0.2, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)


def test_histogram_quantile_past_the_last_bound_reports_that_bound() -> None:
    assert histogram_quantile(0.99, [(0.1, 1.0), (math.inf, 100.0)]) == pytest.approx(0.1)


def test_histogram_quantile_of_an_empty_histogram_is_none() -> None:
    assert histogram_quantile(0.99, [(0.1, 0.0), (math.inf, 0.0)]) is None


class FakePod:
    """A pod's metrics as the runtime registers them (contract names and labels)."""

    def __init__(self, version: str) -> None:
        self.registry = registry = new_registry()
        self.version = version
        labels = names.MODEL_LABELS
        self.total = Counter(
            names.INFERENCE_TOTAL, "h", (*labels, names.STATUS_LABEL), registry=registry
        )
        self.latency = Histogram(
            names.INFERENCE_LATENCY, "h", labels, registry=registry, buckets=(0.01, 0.05, 0.1, 0.5)
        )
        self.confidence = Histogram(
            names.MODEL_CONFIDENCE, "h", labels, registry=registry, buckets=(0.5, 0.9, 1.0)
        )
        self.failures = Counter(
            names.CANARY_FORWARD_FAILURES, "h", (*labels, names.REASON_LABEL), registry=registry
        )

    def serve(self, count: int, latency: float, confidence: float, status: str = "ok") -> None:
        for _ in range(count):
            self.total.labels("digits", self.version, status).inc()
            self.latency.labels("digits", self.version).observe(latency)
            self.confidence.labels("digits", self.version).observe(confidence)

    def scrape(self) -> dict:  # type: ignore[type-arg]
        return parse_prometheus_text(render(self.registry).decode())


def test_a_window_counts_only_what_happened_since_the_baseline() -> None:
    pod = FakePod("2.0.0")
    pod.serve(100, latency=0.2, confidence=0.9)
    baseline = {"pod-a": pod.scrape()}
    pod.serve(95, latency=0.03, confidence=0.8)
    pod.serve(5, latency=0.03, confidence=0.8, status="server_error")
    sample = window_sample(baseline, {"pod-a": pod.scrape()}, model="digits", version="2.0.0")
    assert (sample.requests, sample.errors) == (100, 5)
    assert sample.p99_ms is not None and 10.0 < sample.p99_ms <= 50.0
    assert sample.mean_confidence == pytest.approx(0.8)


def test_a_pod_without_baseline_or_restarted_counts_from_zero() -> None:
    old, restarted, fresh = FakePod("2.0.0"), FakePod("2.0.0"), FakePod("2.0.0")
    old.serve(500, 0.01, 0.9)
    baseline = {"a": old.scrape()}
    restarted.serve(7, 0.01, 0.9)  # pod "a" restarted: its counters went down to 7
    fresh.serve(3, 0.01, 0.9)
    sample = window_sample(
        baseline, {"a": restarted.scrape(), "b": fresh.scrape()}, model="digits", version="2.0.0"
    )
    assert sample.requests == 10


def test_only_the_asked_version_is_counted() -> None:
    pod = FakePod("1.0.0")
    pod.serve(10, 0.01, 0.9)
    sample = window_sample({}, {"a": pod.scrape()}, model="digits", version="2.0.0")
    assert sample.requests == 0 and sample.p99_ms is None


def test_unanswered_forward_failures_are_summed_but_5xx_ones_are_not() -> None:
    pod = FakePod("1.0.0")
    pod.failures.labels("digits", "1.0.0", "connect").inc(4)
    pod.failures.labels("digits", "1.0.0", "timeout").inc(2)
    pod.failures.labels("digits", "1.0.0", "status_5xx").inc(9)
    sample = window_sample({}, {"a": pod.scrape()}, model="digits", version="1.0.0")
    assert sample.canary_forward_failures == 6
