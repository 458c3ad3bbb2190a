"""The status the operator writes: one encoding, valid under the CRD's status schema, and
still able to read what the previous encoding wrote (an upgrade mid-canary loses nothing)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollout_world import BAD, GOOD, World, spec
from test_status_view import NOW, VALID, state

from axiom_operator.rollout import RolloutStatus
from axiom_operator.status import rfc3339
from axiom_operator.status_model import (
    StatusDecodeError,
    read_rollout_status,
    write_rollout_status,
)
from axiom_operator.status_view import summarize

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "crds" / "axiommodels.axiom.dev.yaml"
PREVIOUS = Path(__file__).parent / "fixtures" / "rollout_status_previous_encoding.json"
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


def status_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["storage"])
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def schema_problems(value: Any, schema: dict[str, Any], path: str = "status") -> list[str]:
    """What the apiserver would refuse in ``value`` or silently prune from it (a field the
    structural schema does not name), by path."""
    problems: list[str] = []
    kind = schema.get("type")
    checks = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }
    if kind is not None and not checks.get(kind, True):
        return [f"{path}: {value!r} is not a {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if schema.get("format") == "date-time" and not RFC3339_Z.match(value):
            problems.append(f"{path}: {value!r} is not RFC 3339 with Z")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: above {schema['maximum']}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{path}: more than {schema['maxItems']} items")
        for index, item in enumerate(value):
            problems += schema_problems(item, schema.get("items", {}), f"{path}[{index}]")
    if isinstance(value, dict) and not schema.get("x-kubernetes-preserve-unknown-fields"):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                problems.append(f"{path}.{name}: required")
        for name, item in value.items():
            if name not in properties:
                problems.append(f"{path}.{name}: not in the schema (would be pruned)")
            elif item is None:
                problems.append(f"{path}.{name}: null")
            else:
                problems += schema_problems(item, properties[name], f"{path}.{name}")
    return problems


def walk_rollout(metrics: Any) -> list[RolloutStatus]:
    """Every status of a rollout: first deploy, a canary judged on ``metrics``, its end."""
    world = World(spec("1.0.0"))
    world.tick()
    world.tick(1)
    world.tick(1, version="2.0.0")
    world.canary_metrics = metrics
    statuses = []
    for _ in range(40):
        world.tick(5)
        statuses.append(world.status)
    return statuses


def test_the_schema_check_catches_what_the_apiserver_would_refuse_or_prune() -> None:
    schema = status_schema()
    assert schema_problems({"phase": "Stable", "stableVersion": "1.0.0"}, schema) == []
    assert schema_problems({"phsae": "Stable"}, schema) == [
        "status.phsae: not in the schema (would be pruned)"
    ]
    assert schema_problems({"canaryWeight": 101}, schema) == ["status.canaryWeight: above 100"]
    bad_time = {
        "history": [{"version": "1", "outcome": "Promoted", "at": "2026-01-01T00:00:00+00:00"}]
    }
    assert schema_problems(bad_time, schema) == [
        "status.history[0].at: '2026-01-01T00:00:00+00:00' is not RFC 3339 with Z"
    ]


def test_empty_status_reads_as_the_initial_status() -> None:
    assert read_rollout_status(None) == RolloutStatus()
    assert read_rollout_status({}) == RolloutStatus()


@pytest.mark.parametrize("metrics", [GOOD, BAD], ids=["promoted", "rolled-back"])
def test_every_status_of_a_rollout_round_trips_through_json(metrics: Any) -> None:
    statuses = walk_rollout(metrics)
    for status in statuses:
        stored = json.loads(json.dumps(write_rollout_status(status)))
        assert read_rollout_status(stored) == status
    assert any(s.last_analysis is not None for s in statuses) and statuses[-1].history


def test_times_are_rfc3339_in_utc_with_z_and_keep_their_fraction() -> None:
    moment = datetime(2026, 1, 1, 12, 0, 0, 250000, tzinfo=UTC) + timedelta(hours=0)
    status = RolloutStatus(canary_started_at=moment, step_started_at=moment.replace(microsecond=0))
    stored = write_rollout_status(status)
    assert stored["canaryStartedAt"] == "2026-01-01T12:00:00.250000Z"
    assert stored["stepStartedAt"] == "2026-01-01T12:00:00Z"
    assert rfc3339(moment) == "2026-01-01T12:00:00Z"


def test_the_figures_carry_the_names_of_status_last_analysis() -> None:
    last = next(s for s in walk_rollout(BAD) if s.last_analysis is not None)
    stored = write_rollout_status(last)["lastAnalysis"]
    assert set(stored["canary"]) <= {
        "requests",
        "errors",
        "errorRate",
        "p99LatencyMs",
        "meanConfidence",
    }
    assert "p99LatencyMs" in stored["canary"]
    assert stored["verdict"] in {"Pass", "Fail", "Inconclusive"}


def test_what_the_previous_encoding_wrote_is_read_without_loss() -> None:
    captured = json.loads(PREVIOUS.read_text())
    assert len(captured) >= 5
    figures_seen = 0
    for entry in captured:
        before, after = entry["before"], entry["after"]
        status = read_rollout_status(before)
        assert write_rollout_status(status) == after
        assert read_rollout_status(after) == status
        old_last = before.get("lastAnalysis")
        if old_last and old_last.get("canary"):
            figures_seen += 1
            assert status.last_analysis is not None and status.last_analysis.canary is not None
            assert status.last_analysis.canary.p99_ms == old_last["canary"]["p99Ms"]
            assert status.last_analysis.verdict.value == old_last["verdict"]
        if before.get("canaryStartedAt"):
            assert status.canary_started_at == datetime.fromisoformat(before["canaryStartedAt"])
    assert figures_seen, "the fixture holds no analysis: the upgrade of figures is not tested"


def test_a_naive_time_is_refused_naming_the_field() -> None:
    with pytest.raises(StatusDecodeError, match="stepStartedAt"):
        read_rollout_status({"phase": "Canary", "stepStartedAt": "2026-01-01T00:00:00"})


def test_an_unknown_phase_is_refused_naming_the_field() -> None:
    with pytest.raises(StatusDecodeError, match=r"status\.rollout\.phase"):
        read_rollout_status({"phase": "Dancing"})


def test_keys_a_later_release_adds_are_ignored() -> None:
    assert read_rollout_status({"phase": "Stable", "somethingNew": 1}).phase.value == "Stable"


def test_whole_status_the_operator_writes_fits_the_crd_schema() -> None:
    schema = status_schema()
    checked = 0
    for metrics in (GOOD, BAD):
        for rollout in walk_rollout(metrics):
            deployments = {
                v: state(v) for v in {rollout.stable_version, rollout.canary_version} if v
            }
            status, _ = summarize(
                name="mnist",
                generation=4,
                version="2.0.0",
                old_status={},
                gate=VALID,
                rollout=rollout,
                deployments=deployments,
                now=NOW,
            )
            written = {k: v for k, v in status.items() if v is not None}
            assert schema_problems(written, schema) == [], written
            checked += 1
    assert checked >= 20
