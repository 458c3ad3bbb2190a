"""The stable pods' shadow series, scraped twice, become one window's comparison figures."""

from __future__ import annotations

import pytest

from axiom_operator.rollout.comparison import (
    ComparisonThresholds,
    ShadowSample,
    failures,
    figures,
    psi,
)
from axiom_operator.rollout.samples import shadow_sample
from axiom_runtime.metrics import new_registry, parse_prometheus_text, render
from axiom_runtime.traffic.compare import compare, read_answer
from axiom_runtime.traffic.shadow import ShadowMetrics


def _answer(classes: list[int], confidence: float) -> dict[str, object]:
    return {
        "prediction": [[confidence if i == c else 0.0 for i in range(3)] for c in classes],
        "class": classes,
        "confidence": [confidence] * len(classes),
    }


def test_two_scrapes_of_the_shadow_series_give_the_window_between_them() -> None:
    registry = new_registry()
    metrics = ShadowMetrics(registry, "digits", "1.0.0")
    metrics.record(
        "2.0.0", compare(read_answer(_answer([0, 1], 0.9)), read_answer(_answer([0, 1], 0.9)))
    )
    before = {"pod-a": parse_prometheus_text(render(registry).decode())}
    metrics.record(
        "2.0.0", compare(read_answer(_answer([0, 1, 2], 0.9)), read_answer(_answer([1, 1, 2], 0.6)))
    )
    metrics.outcome("2.0.0", "dropped")
    metrics.outcome("2.0.0", "timeout")
    metrics.record("9.9.9", compare(read_answer(_answer([0], 0.9)), read_answer(_answer([2], 0.9))))
    after = {"pod-a": parse_prometheus_text(render(registry).decode())}
    window = shadow_sample(before, after, model="digits", stable="1.0.0", canary="2.0.0")
    assert (window.compared, window.rows, window.agreements) == (1, 3, 2)
    assert window.flips == {("0", "1"): 1}
    assert (window.dropped, window.unanswered) == (1, 1)
    assert window.confidence_delta_count == 3
    assert window.confidence_delta_sum == pytest.approx(0.9)
    assert window.canary_classes == {"1": 2, "2": 1}
    shown = figures(window)
    assert shown.agreement == pytest.approx(2 / 3)
    assert shown.mean_confidence_delta == pytest.approx(0.3)
    assert shown.top_flips == (("0", "1", 1),)
    assert shown.distribution_shift is not None and shown.distribution_shift > 0.2


def test_psi_is_zero_for_the_same_mix_and_grows_with_the_shift() -> None:
    assert psi({"a": 50, "b": 50}, {"a": 500, "b": 500}) == pytest.approx(0.0)
    small = psi({"a": 50, "b": 50}, {"a": 55, "b": 45})
    large = psi({"a": 50, "b": 50}, {"a": 90, "b": 10})
    assert small is not None and large is not None and 0 < small < 0.1 < large
    assert psi({}, {"a": 1}) is None


def test_each_limit_names_itself_and_null_turns_it_off() -> None:
    shifted = figures(
        ShadowSample(
            rows=100,
            agreements=90,
            confidence_delta_sum=20.0,
            confidence_delta_count=100,
            stable_classes={"a": 50, "b": 50},
            canary_classes={"a": 95, "b": 5},
        )
    )
    found = failures(shifted, ComparisonThresholds())
    assert [reason.split()[0] for reason in found] == ["agreement", "mean", "distribution"]
    assert failures(shifted, ComparisonThresholds(None, None, None)) == []
