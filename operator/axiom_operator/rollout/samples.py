"""Turn runtime ``/metrics`` scrapes into an :class:`AnalysisSample` for one version.

Pure: the handler scrapes each pod, parses the text with
``axiom_runtime.metrics.parse_prometheus_text`` and hands over the parsed baseline and
current scrapes keyed by pod. A window is the difference between the two, per pod, summed.
A pod that has no baseline (it started during the window) or whose counters went down
(it restarted) counts from zero, as Prometheus' ``increase`` does. p99 comes from the summed
bucket deltas with the same linear interpolation as ``histogram_quantile``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from axiom_operator.rollout.analysis import AnalysisSample
from axiom_runtime import metric_names as names

REQUESTS = names.INFERENCE_TOTAL
LATENCY = names.INFERENCE_LATENCY
CONFIDENCE = names.MODEL_CONFIDENCE
FORWARD_FAILURES = names.CANARY_FORWARD_FAILURES
# Failure classes the canary never answered (it counted its own 5xx itself).
UNANSWERED_REASONS = frozenset({names.REASON_CONNECT, names.REASON_TIMEOUT})


class PromSample(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def value(self) -> float: ...


Scrape = Mapping[str, Sequence[PromSample]]
"""One pod's parsed ``/metrics``: sample name -> samples (``parse_prometheus_text`` output)."""


def _series(scrape: Scrape, name: str, model: str, version: str) -> Iterable[PromSample]:
    for sample in scrape.get(name, ()):
        labels = sample.labels
        if labels.get(names.MODEL_LABEL) == model and labels.get(names.VERSION_LABEL) == version:
            yield sample


def _counters(scrape: Scrape, model: str, version: str) -> dict[str, float]:
    """The monotonic values this module needs from one scrape, flat, keyed by a short name."""
    values: dict[str, float] = {"requests": 0.0, "errors": 0.0, "unanswered": 0.0}
    for sample in _series(scrape, REQUESTS, model, version):
        values["requests"] += sample.value
        if sample.labels.get(names.STATUS_LABEL) == names.STATUS_SERVER_ERROR:
            values["errors"] += sample.value
    for sample in _series(scrape, FORWARD_FAILURES, model, version):
        if sample.labels.get(names.REASON_LABEL) in UNANSWERED_REASONS:
            values["unanswered"] += sample.value
    for sample in _series(scrape, f"{LATENCY}_bucket", model, version):
        key = f"le:{sample.labels.get('le', '+Inf')}"
        values[key] = values.get(key, 0.0) + sample.value
    for suffix in ("sum", "count"):
        for sample in _series(scrape, f"{CONFIDENCE}_{suffix}", model, version):
            values[f"confidence_{suffix}"] = values.get(f"confidence_{suffix}", 0.0) + sample.value
    return values


def _delta(before: Mapping[str, float] | None, after: Mapping[str, float]) -> dict[str, float]:
    if before is None or any(after.get(key, 0.0) < value for key, value in before.items()):
        return dict(after)  # new or restarted pod: everything it counted is in the window
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def _parse_le(text: str) -> float:
    return math.inf if text in ("+Inf", "Inf", "inf") else float(text)


def histogram_quantile(quantile: float, cumulative: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` on (upper bound, cumulative count) pairs."""
    buckets = sorted(cumulative)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = quantile * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower  # the answer is past the last finite bound: report that bound
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def window_sample(
    baseline: Mapping[str, Scrape],
    current: Mapping[str, Scrape],
    *,
    model: str,
    version: str,
) -> AnalysisSample:
    """Sum over pods of (current - baseline) for ``model``/``version``; pods keyed by name."""
    total: dict[str, float] = {}
    for pod, scrape in current.items():
        before = _counters(baseline[pod], model, version) if pod in baseline else None
        for key, value in _delta(before, _counters(scrape, model, version)).items():
            total[key] = total.get(key, 0.0) + value
    buckets = [(_parse_le(key[3:]), value) for key, value in total.items() if key.startswith("le:")]
    p99_seconds = histogram_quantile(0.99, buckets)
    confidence_count = total.get("confidence_count", 0.0)
    return AnalysisSample(
        requests=round(total.get("requests", 0.0)),
        errors=round(total.get("errors", 0.0)),
        p99_ms=None if p99_seconds is None else p99_seconds * 1000.0,
        mean_confidence=(
            total.get("confidence_sum", 0.0) / confidence_count if confidence_count > 0 else None
        ),
        canary_forward_failures=round(total.get("unanswered", 0.0)),
    )
