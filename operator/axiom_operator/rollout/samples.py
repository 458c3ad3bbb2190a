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
from axiom_operator.rollout.comparison import ShadowSample
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
    latency_ms = tuple(sorted((upper * 1000.0, count) for upper, count in buckets))
    confidence_count = total.get("confidence_count", 0.0)
    return AnalysisSample(
        requests=round(total.get("requests", 0.0)),
        errors=round(total.get("errors", 0.0)),
        p99_ms=None if p99_seconds is None else p99_seconds * 1000.0,
        mean_confidence=(
            total.get("confidence_sum", 0.0) / confidence_count if confidence_count > 0 else None
        ),
        canary_forward_failures=round(total.get("unanswered", 0.0)),
        latency_buckets_ms=latency_ms,
    )


_SEP = "\x1f"  # joins label values inside one flat counter key


def _shadow_counters(scrape: Scrape, model: str, stable: str, canary: str) -> dict[str, float]:
    """The shadow series one stable pod counted for ``canary``, flat, keyed by a short name."""
    values: dict[str, float] = {}

    def add(key: str, value: float) -> None:
        values[key] = values.get(key, 0.0) + value

    def of(name: str) -> Iterable[PromSample]:
        for sample in _series(scrape, name, model, stable):
            if sample.labels.get(names.CANARY_LABEL) == canary:
                yield sample

    for sample in of(names.SHADOW_REQUESTS_TOTAL):
        add(f"outcome:{sample.labels.get(names.OUTCOME_LABEL, '')}", sample.value)
    for sample in of(names.SHADOW_ROWS_TOTAL):
        add("rows", sample.value)
    for sample in of(names.SHADOW_AGREEMENTS_TOTAL):
        add("agreements", sample.value)
    for sample in of(names.SHADOW_LABEL_FLIPS_TOTAL):
        source = sample.labels.get(names.FROM_LABEL, "")
        target = sample.labels.get(names.TO_LABEL, "")
        add(f"flip:{source}{_SEP}{target}", sample.value)
    for sample in of(f"{names.SHADOW_CONFIDENCE_DELTA}_sum"):
        add("delta_sum", sample.value)
    for sample in of(f"{names.SHADOW_CONFIDENCE_DELTA}_count"):
        add("delta_count", sample.value)
    for sample in of(f"{names.SHADOW_OUTPUT_DISTANCE}_bucket"):
        add(f"distance:{sample.labels.get('le', '+Inf')}", sample.value)
    for sample in of(f"{names.SHADOW_CONFIDENCE}_bucket"):
        side = sample.labels.get(names.SIDE_LABEL, "")
        add(f"confidence:{side}{_SEP}{sample.labels.get('le', '+Inf')}", sample.value)
    for sample in of(names.SHADOW_CLASS_TOTAL):
        side = sample.labels.get(names.SIDE_LABEL, "")
        add(f"class:{side}{_SEP}{sample.labels.get(names.CLASS_LABEL, '')}", sample.value)
    return values


def shadow_sample(
    baseline: Mapping[str, Scrape],
    current: Mapping[str, Scrape],
    *,
    model: str,
    stable: str,
    canary: str,
) -> ShadowSample:
    """What the stable pods compared of ``canary``'s answers in the window, summed over pods."""
    total: dict[str, float] = {}
    for pod, scrape in current.items():
        before = _shadow_counters(baseline[pod], model, stable, canary) if pod in baseline else None
        for key, value in _delta(before, _shadow_counters(scrape, model, stable, canary)).items():
            total[key] = total.get(key, 0.0) + value
    return shadow_from_totals(total)


def shadow_key(kind: str, *labels: str) -> str:
    """The flat key of one shadow series in :func:`shadow_from_totals`' input: ``rows``,
    ``agreements``, ``delta_sum``, ``delta_count`` (no labels), ``outcome`` (outcome),
    ``flip`` (from, to), ``distance`` (le), ``confidence`` (side, le), ``class`` (side,
    class). Prometheus' answers are keyed the same way (``prometheus.shadow_queries``)."""
    if not labels:
        return kind
    return f"{kind}:{_SEP.join(labels)}"


def shadow_from_totals(total: Mapping[str, float]) -> ShadowSample:
    """The window's comparison from the summed increases of the shadow series, keyed by
    :func:`shadow_key` (from the pods' scrapes or from Prometheus)."""

    def histogram(prefix: str) -> tuple[tuple[float, float], ...]:
        return tuple(
            sorted(
                (_parse_le(key[len(prefix) :]), value)
                for key, value in total.items()
                if key.startswith(prefix)
            )
        )

    def labelled(prefix: str) -> dict[str, int]:
        return {
            key[len(prefix) :]: round(value)
            for key, value in total.items()
            if key.startswith(prefix) and round(value) > 0
        }

    flips: dict[tuple[str, str], int] = {}
    for key, count in labelled("flip:").items():
        source, _, target = key.partition(_SEP)
        flips[(source, target)] = count
    outcome = labelled("outcome:")
    return ShadowSample(
        compared=outcome.get(names.OUTCOME_COMPARED, 0),
        uncomparable=outcome.get(names.OUTCOME_UNCOMPARABLE, 0),
        dropped=outcome.get(names.OUTCOME_DROPPED, 0),
        unanswered=sum(outcome.get(reason, 0) for reason in UNANSWERED_REASONS),
        failed_5xx=outcome.get(names.REASON_STATUS_5XX, 0),
        rows=round(total.get("rows", 0.0)),
        agreements=round(total.get("agreements", 0.0)),
        flips=flips,
        confidence_delta_sum=total.get("delta_sum", 0.0),
        confidence_delta_count=round(total.get("delta_count", 0.0)),
        distance=histogram("distance:"),
        stable_confidence=histogram(f"confidence:{names.SIDE_STABLE}{_SEP}"),
        canary_confidence=histogram(f"confidence:{names.SIDE_CANARY}{_SEP}"),
        stable_classes=labelled(f"class:{names.SIDE_STABLE}{_SEP}"),
        canary_classes=labelled(f"class:{names.SIDE_CANARY}{_SEP}"),
    )
