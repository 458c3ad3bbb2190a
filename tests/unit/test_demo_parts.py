"""The demo's pure parts: status snapshots, the timing table, progress on waits, manifests."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.report import (
    Reporter,
    StepTiming,
    WaitTimeoutError,
    format_duration,
    timing_table,
)
from axiom_devcluster.demo.snapshot import Snapshot, ready


def test_snapshot_describes_a_canary_with_its_weight_step_and_analysis() -> None:
    model = {
        "status": {
            "phase": "Canary",
            "stableVersion": "1.0.0",
            "canaryVersion": "2.0.0",
            "canaryWeight": 25.0,
            "step": 0,
            "lastAnalysis": {"verdict": "Pass", "reasons": ["error rate 0.000 <= 0.01"]},
        }
    }
    text = Snapshot.of(model).describe()
    assert text == (
        "phase Canary, stable 1.0.0, canary 2.0.0 at 25% (step 1), "
        "last analysis Pass (error rate 0.000 <= 0.01)"
    )


def test_snapshot_of_a_model_without_status() -> None:
    assert Snapshot.of({"metadata": {}}).describe() == "phase -, stable -"
    assert Snapshot.of(None).canary == ""


def test_ready_reads_the_ready_condition_only() -> None:
    assert ready({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert not ready({"status": {"conditions": [{"type": "Available", "status": "True"}]}})
    assert not ready(None)


def test_timing_table_lists_each_step_and_the_total() -> None:
    table = timing_table(
        [StepTiming(1, "Start", 12.34, True), StepTiming(2, "Canary", 75.0, False)], 87.5
    )
    lines = table.splitlines()
    assert "1. Start" in lines[1] and "12.3 s" in lines[1] and lines[1].endswith("ok")
    assert "1 min 15.0 s" in lines[2] and lines[2].endswith("FAILED")
    assert lines[-1].split()[0] == "total" and "1 min 27.5 s" in lines[-1]


def test_format_duration() -> None:
    assert format_duration(0.04) == "0.0 s"
    assert format_duration(61.25) == "1 min 01.2 s"


def test_a_wait_under_a_second_prints_nothing() -> None:
    out = io.StringIO()
    assert Reporter(out=out).wait("x", lambda: "done", timeout=5) == "done"
    assert out.getvalue() == ""


def test_a_wait_over_a_second_prints_progress_and_the_outcome() -> None:
    out = io.StringIO()
    calls = iter([None, None, None, None, "yes"])
    result = Reporter(out=out).wait("the thing", lambda: next(calls), timeout=10, interval=0.4)
    assert result == "yes"
    text = out.getvalue()
    assert "waiting for the thing" in text
    assert "ok: the thing" in text


def test_a_wait_that_times_out_says_what_it_saw() -> None:
    reporter = Reporter(out=io.StringIO())
    with pytest.raises(WaitTimeoutError, match="last seen: 0/1 pods"):
        reporter.wait("pods", lambda: None, timeout=0.3, interval=0.1, detail=lambda: "0/1 pods")


def test_a_failing_step_is_timed_and_marked_failed() -> None:
    reporter = Reporter(out=io.StringIO())
    with pytest.raises(RuntimeError), reporter.step("Boom"):
        raise RuntimeError("x")
    assert reporter.steps[0].ok is False
    assert "FAILED" in reporter.summary()


def test_model_manifest_points_at_the_package_configmap_and_certificate_secret() -> None:
    doc = manifests.axiom_model("ns", "2.0.0", "ab" * 32, rollout=manifests.canary_rollout())
    spec = doc["spec"]
    assert spec["model"]["uri"] == "configmap://digits-2-0-0/model.axiom"
    assert spec["certificate"]["secretRef"]["name"] == "digits-2-0-0-cert"
    weights = [step["weight"] for step in spec["rollout"]["steps"]]
    assert weights == sorted(weights)


def test_example_versions_hash_what_their_certificates_sign() -> None:
    import json

    for version in ("1.0.0", "2.0.0", "3.0.0"):
        example = manifests.ExampleVersion.of(version)
        certificate = json.loads(example.certificate.read_bytes())
        assert certificate["model"]["hash"] == example.sha256


def test_package_configmap_carries_the_bytes_unchanged() -> None:
    data = bytes(range(256))
    configmap = manifests.package_configmap("p", "ns", data)
    assert base64.b64decode(configmap["binaryData"][manifests.PACKAGE_KEY]) == data


def test_a_blocking_action_over_a_second_gets_a_progress_line() -> None:
    import time

    def slow() -> int:
        time.sleep(1.3)
        return 42

    out = io.StringIO()
    assert Reporter(out=out).run("the slow thing", slow) == 42
    text = out.getvalue()
    assert "waiting for the slow thing" in text
    assert "done: the slow thing" in text


def test_a_blocking_action_raises_in_the_caller() -> None:
    def boom() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        Reporter(out=io.StringIO()).run("boom", boom)


def test_snapshot_shows_the_last_analysis_figures_of_canary_and_stable() -> None:
    model = {
        "status": {
            "phase": "RolledBack",
            "stableVersion": "2.0.0",
            "lastAnalysis": {
                "time": "2026-05-01T08:26:25Z",
                "version": "3.0.0",
                "verdict": "Fail",
                "reasons": ["mean confidence 0.101 < minConfidence 0.6"],
                "canary": {"requests": 21, "errors": 0, "p99LatencyMs": 1.0, "meanConfidence": 0.1},
                "stable": {"requests": 60, "errors": 0, "meanConfidence": 0.997},
            },
        }
    }
    snapshot = Snapshot.of(model)
    assert snapshot.analysis_line() == (
        "lastAnalysis 08:26:25: Fail; canary 3.0.0: 21 requests, 0 errors, p99 1.0 ms, "
        "mean confidence 0.100 | stable: 60 requests, 0 errors, mean confidence 0.997"
    )
    assert snapshot.describe(with_analysis=False) == "phase RolledBack, stable 2.0.0"


def test_controlplane_restart_refuses_an_unknown_component(tmp_path: Path) -> None:
    from axiom_devcluster.controlplane import ControlPlane

    with pytest.raises(ValueError, match="kwok-typo"):
        ControlPlane(tmp_path).restart("kwok-typo")
