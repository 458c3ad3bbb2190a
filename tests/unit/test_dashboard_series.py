"""The dashboard's memory: points per poll, analyses once each, bounded, models forgotten."""

from __future__ import annotations

from typing import Any

from axiom_operator.kubectl.dashboard import series


def model(weight: float | None, analysis_time: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Canary", "stableVersion": "1.0.0"}
    if weight is not None:
        status |= {"canaryVersion": "2.0.0", "canaryWeight": weight, "effectiveWeight": weight}
    if analysis_time:
        status["lastAnalysis"] = {
            "time": analysis_time,
            "verdict": "Pass",
            "canary": {"requests": 50, "errors": 0, "errorRate": 0.0, "p99LatencyMs": 9.0},
        }
    status["history"] = [{"version": "1.0.0", "outcome": "Promoted", "at": "t"}]
    return {"metadata": {"name": "digits", "namespace": "ml"}, "spec": {"version": "2.0.0"},
            "status": status}  # fmt: skip


def test_each_poll_adds_a_weight_point_and_each_new_analysis_one_point() -> None:
    memory: dict[tuple[str, str], series.ModelSeries] = {}
    series.record(memory, [model(10, "a")], 1.0)
    series.record(memory, [model(10, "a")], 2.0)
    series.record(memory, [model(50, "b")], 3.0)
    series.record(memory, [model(None)], 4.0)  # promoted: no canary, weight 0
    (only,) = series.snapshot(memory, 5.0)["models"]
    assert [p["weight"] for p in only["weights"]] == [10, 10, 50, 0.0]
    assert [a["time"] for a in only["analyses"]] == ["a", "b"]
    assert only["analyses"][0]["canary"] == {
        "errorRate": 0.0, "p99LatencyMs": 9.0, "meanConfidence": None,
    }  # fmt: skip


def test_versions_list_the_live_ones_then_history() -> None:
    assert series.versions(model(10)) == [
        {"version": "2.0.0", "role": "canary"},
        {"version": "1.0.0", "role": "stable"},
    ]


def test_series_are_bounded_and_gone_models_forgotten() -> None:
    memory: dict[tuple[str, str], series.ModelSeries] = {}
    for t in range(series.MAX_POINTS + 5):
        series.record(memory, [model(10)], float(t))
    assert len(memory[("ml", "digits")].weights) == series.MAX_POINTS
    series.record(memory, [], 0.0)
    assert memory == {}
