"""AxiomModel spec + annotations -> the rollout machine's RolloutSpec (pure conversion)."""

from __future__ import annotations

from typing import Any

import pytest

from axiom_operator import api
from axiom_operator.api import duration_seconds
from axiom_operator.rollout import AnalysisThresholds, ManualRequests, Step, TrafficMode
from axiom_operator.rollout_spec import (
    SourceDecodeError,
    manual_requests,
    spec_for_version,
    thresholds,
    to_rollout_spec,
)

SHA = "ab" * 32


def spec(**extra: Any) -> api.AxiomModelSpec:
    return api.AxiomModelSpec.model_validate(
        {
            "version": "2.0.0",
            "model": {"uri": "configmap://m-2-0-0/model.axiom", "sha256": SHA},
            "certificate": {"secretRef": {"name": "m-2-0-0-cert"}},
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("1m", 60.0), ("1h30m", 5400.0), ("500ms", 0.5), ("1.5s", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "1x", "s", "1m 2s"])
def test_bad_durations_name_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        duration_seconds(text)


def test_defaults_are_the_crd_defaults() -> None:
    converted = to_rollout_spec(spec(), None, certificate_ok=True)
    assert converted.version == "2.0.0" and converted.replicas == 1
    assert converted.mode is TrafficMode.RUNTIME
    assert converted.steps == () and converted.canary_percent is None
    assert converted.analysis is None and converted.auto_rollback
    assert converted.scale_down_delay_seconds == 30.0
    assert converted.rollback_window_seconds == 3600.0
    assert converted.progress_deadline_seconds == 600.0
    assert converted.requests == ManualRequests()


def test_sequential_decisions_are_on_by_default_and_can_be_turned_off() -> None:
    default = thresholds(api.AnalysisSpec())
    assert default.false_rollback_rate == 0.05 and default.sequential_min_sample == 100
    assert default.pass_undecided_on_thresholds
    assert AnalysisThresholds().false_rollback_rate == default.false_rollback_rate
    off = thresholds(api.AnalysisSpec.model_validate({"sequential": {"enabled": False}}))
    assert off.false_rollback_rate is None
    strict = thresholds(
        api.AnalysisSpec.model_validate(
            {
                "sequential": {
                    "falseRollbackRate": 0.01,
                    "minSample": 400,
                    "whenUndecided": "Inconclusive",
                }
            }
        )
    )
    assert (strict.false_rollback_rate, strict.sequential_min_sample) == (0.01, 400)
    assert not strict.pass_undecided_on_thresholds


def test_steps_analysis_and_traffic_are_converted() -> None:
    converted = to_rollout_spec(
        spec(
            replicas=3,
            traffic={"mode": "Replicas", "canaryPercent": 30},
            rollout={
                "steps": [{"weight": 10, "pause": "1m"}, {"weight": 50}],
                "analysis": {
                    "interval": "5s",
                    "minRequests": 20,
                    "minConfidence": 0.6,
                    "inconclusiveLimit": 4,
                    "maxLatencyRatio": 1.5,
                    "maxConfidenceDrop": 0.1,
                },
                "autoRollback": False,
                "progressDeadline": "2m",
            },
        ),
        None,
        certificate_ok=False,
        certificate_reason="BadSignature: no",
    )
    assert converted.replicas == 3 and converted.mode is TrafficMode.REPLICAS
    assert converted.canary_percent == 30
    assert converted.steps == (Step(10, 60.0), Step(50, None))
    assert converted.analysis == AnalysisThresholds(
        interval_seconds=5.0,
        min_requests=20,
        max_error_rate=0.01,
        max_p99_latency_ms=None,
        min_confidence=0.6,
        failure_limit=2,
        inconclusive_limit=4,
        max_latency_ratio=1.5,
        max_confidence_drop=0.1,
    )
    assert not converted.auto_rollback and converted.progress_deadline_seconds == 120.0
    assert not converted.certificate_ok and converted.certificate_reason == "BadSignature: no"


def test_replicas_default_to_the_autoscaler_minimum() -> None:
    converted = to_rollout_spec(
        spec(autoscaling={"minReplicas": 2, "maxReplicas": 5}), None, certificate_ok=True
    )
    assert converted.replicas == 2


def test_annotations_become_manual_requests() -> None:
    notes = {
        "axiom.dev/rollback": "previous",
        "axiom.dev/promote": "true",
        "axiom.dev/pause": "True",
        "axiom.dev/resume": "false",
        "example.com/other": "x",
    }
    assert manual_requests(notes) == ManualRequests(
        rollback="previous", promote=True, pause=True, resume=False
    )


def test_promote_step_is_its_own_request() -> None:
    assert manual_requests({"axiom.dev/promote": "step"}) == ManualRequests(promote_step=True)


def test_empty_rollback_annotation_is_no_request() -> None:
    assert manual_requests({"axiom.dev/rollback": " "}).rollback is None


def test_source_rebuilds_the_version_on_top_of_the_current_spec() -> None:
    old = spec()
    current = api.AxiomModelSpec.model_validate(
        {
            "version": "3.0.0",
            "model": {"uri": "configmap://m-3-0-0/model.axiom", "sha256": "cd" * 32},
            "certificate": {"secretRef": {"name": "m-3-0-0-cert"}},
            "replicas": 4,
        }
    )
    source = to_rollout_spec(old, None, certificate_ok=True).source
    rebuilt = spec_for_version(current, "2.0.0", source)
    assert rebuilt.version == "2.0.0" and rebuilt.model == old.model
    assert rebuilt.certificate == old.certificate and rebuilt.replicas == 4


def test_unreadable_source_names_the_version() -> None:
    with pytest.raises(SourceDecodeError, match=r"sources\[2.0.0\]"):
        spec_for_version(spec(), "2.0.0", "{not json")
