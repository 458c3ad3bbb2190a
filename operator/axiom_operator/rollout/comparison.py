"""Same-input comparison over a window: how far the canary's answers are from the stable's.

The stable pods compare both answers to every mirrored request (``axiom_runtime.traffic.
shadow``) and count the result; summed over the window (:func:`.samples.shadow_sample`) this
is a :class:`ShadowSample`. Here it becomes figures a user can read and judge:

- **agreement**: the share of compared rows whose class is the stable's. A version that
  is confident and wrong (labels permuted) keeps its confidence, error rate and latency,
  and shows here as an agreement near 0.
- **label flips**: stable class -> canary class, the most frequent first.
- **mean confidence delta**: mean |canary - stable| top-class confidence per row.
- **max output distance**: an upper bound (histogram edge) of the largest output difference.
- **distribution shift**: the population stability index (PSI) of the canary's outputs
  against the stable's on the same inputs, the larger of the class mix's and the
  confidence histogram's. PSI below 0.1 is read as no shift, 0.1-0.25 as moderate, above
  0.25 as large: the usual rule of thumb, hence the default limit 0.2.

Pure: no I/O, no numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# Bins with no row on one side would make PSI infinite: a floor of this share per bin.
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class ShadowSample:
    """What the stable pods counted of the mirrored requests in one window."""

    compared: int = 0
    uncomparable: int = 0
    dropped: int = 0
    unanswered: int = 0  # connect + timeout: the canary never answered the copy
    failed_5xx: int = 0
    rows: int = 0
    agreements: int = 0
    flips: Mapping[tuple[str, str], int] = field(default_factory=dict)
    confidence_delta_sum: float = 0.0
    confidence_delta_count: int = 0
    # Per-request max output distance: cumulative histogram (upper bound, count).
    distance: Sequence[tuple[float, float]] = ()
    # Each side's top-class confidence (cumulative histogram) and class counts.
    stable_confidence: Sequence[tuple[float, float]] = ()
    canary_confidence: Sequence[tuple[float, float]] = ()
    stable_classes: Mapping[str, int] = field(default_factory=dict)
    canary_classes: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ComparisonFigures:
    """The comparison shown in ``status.lastAnalysis.comparison``."""

    compared: int
    rows: int
    dropped: int
    agreement: float | None
    mean_confidence_delta: float | None
    max_output_distance: float | None
    distribution_shift: float | None
    top_flips: tuple[tuple[str, str, int], ...] = ()


def psi(expected: Mapping[str, float], actual: Mapping[str, float]) -> float | None:
    """Population stability index of ``actual`` against ``expected`` (counts per bin)."""
    total_expected = sum(expected.values())
    total_actual = sum(actual.values())
    if total_expected <= 0 or total_actual <= 0:
        return None
    index = 0.0
    for key in set(expected) | set(actual):
        e = max(expected.get(key, 0.0) / total_expected, PSI_FLOOR)
        a = max(actual.get(key, 0.0) / total_actual, PSI_FLOOR)
        index += (a - e) * math.log(a / e)
    return index


def bucket_counts(cumulative: Sequence[tuple[float, float]]) -> dict[str, float]:
    """Per-bucket counts (keyed by upper bound) from a cumulative histogram."""
    counts: dict[str, float] = {}
    below = 0.0
    for upper, count in sorted(cumulative):
        counts[repr(upper)] = max(count - below, 0.0)
        below = max(below, count)
    return counts


def _max_distance(cumulative: Sequence[tuple[float, float]]) -> float | None:
    buckets = sorted(cumulative)
    if not buckets or buckets[-1][1] <= 0:
        return None
    below = 0.0
    highest: float | None = None
    for upper, count in buckets:
        if count > below:
            highest = upper
        below = max(below, count)
    return highest


def figures(sample: ShadowSample, top: int = 3) -> ComparisonFigures:
    """The window's comparison figures."""
    shifts = [
        value
        for value in (
            psi(
                {k: float(v) for k, v in sample.stable_classes.items()},
                {k: float(v) for k, v in sample.canary_classes.items()},
            ),
            psi(bucket_counts(sample.stable_confidence), bucket_counts(sample.canary_confidence)),
        )
        if value is not None
    ]
    flips = sorted(sample.flips.items(), key=lambda item: (-item[1], item[0]))[:top]
    return ComparisonFigures(
        compared=sample.compared,
        rows=sample.rows,
        dropped=sample.dropped,
        agreement=(sample.agreements / sample.rows) if sample.rows > 0 else None,
        mean_confidence_delta=(
            sample.confidence_delta_sum / sample.confidence_delta_count
            if sample.confidence_delta_count > 0
            else None
        ),
        max_output_distance=_max_distance(sample.distance),
        distribution_shift=max(shifts) if shifts else None,
        top_flips=tuple((source, target, count) for (source, target), count in flips),
    )


@dataclass(frozen=True)
class ComparisonThresholds:
    """The comparison limits of ``spec.rollout.analysis`` (None: not checked)."""

    min_agreement: float | None = 0.95
    max_confidence_delta: float | None = 0.1
    max_distribution_shift: float | None = 0.2


def failures(result: ComparisonFigures, thresholds: ComparisonThresholds) -> list[str]:
    """The limits the window's comparison breaks, each as a sentence for status and Events."""
    found: list[str] = []
    minimum = thresholds.min_agreement
    if minimum is not None and result.agreement is not None and result.agreement < minimum:
        flips = ", ".join(f"{s}->{t} x{n}" for s, t, n in result.top_flips)
        found.append(
            f"agreement with stable {result.agreement:.3f} < minAgreement {minimum} over "
            f"{result.rows} mirrored rows" + (f" (flips {flips})" if flips else "")
        )
    delta = thresholds.max_confidence_delta
    if (
        delta is not None
        and result.mean_confidence_delta is not None
        and result.mean_confidence_delta > delta
    ):
        found.append(
            f"mean confidence delta {result.mean_confidence_delta:.3f} > maxConfidenceDelta {delta}"
        )
    shift = thresholds.max_distribution_shift
    if (
        shift is not None
        and result.distribution_shift is not None
        and result.distribution_shift > shift
    ):
        found.append(
            f"distribution shift (PSI) {result.distribution_shift:.3f} > "
            f"maxDistributionShift {shift}"
        )
    return found
