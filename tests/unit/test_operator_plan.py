"""The reconcile decision: version roll without canary, certificate gate, status and Events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from axiom_operator import api
from axiom_operator.plan import (
    DeploymentState,
    GateOutcome,
    decide,
    invalid_spec_status,
    summarize,
)

SHA = "cd" * 32
NOW = datetime(2025, 1, 1, tzinfo=UTC)
VALID = GateOutcome(True, True, "Valid", "certificate of mnist 2.0.0 verified (key k1)")
REFUSED = GateOutcome(False, False, "BadSignature", "signature does not verify with key k1")
AUDITED = GateOutcome(False, True, "Expired", "certificate expired on 2024-01-01")


def spec(version: str = "2.0.0") -> api.AxiomModelSpec:
    return api.AxiomModelSpec.model_validate(
        {
            "version": version,
            "model": {"uri": "file:///m.axiom", "sha256": SHA},
            "certificate": {"secretRef": {"name": "c"}},
        }
    )


def state(version: str, available: int = 1, desired: int = 1) -> DeploymentState:
    return DeploymentState(version, f"mnist-v{version}", desired, desired, desired, available, True)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def run(
    old_status: dict[str, Any], gate: GateOutcome, deployments: dict[str, DeploymentState]
) -> Any:
    decision = decide(spec(), old_status, gate, deployments)
    status, events = summarize(
        name="mnist",
        generation=4,
        spec=spec(),
        old_status=old_status,
        gate=gate,
        decision=decision,
        deployments=deployments,
        now=NOW,
    )
    return decision, status, events


def test_first_deploy_applies_and_waits_for_availability() -> None:
    decision, status, _ = run({}, VALID, {})
    assert decision.apply_target and decision.serving_version == "2.0.0"
    assert status["phase"] == "Pending"
    assert conditions(status)["Ready"] == ("False", "Deploying")


def test_first_deploy_becomes_ready_when_available() -> None:
    decision, status, events = run({}, VALID, {"2.0.0": state("2.0.0")})
    assert decision.stable_version == "2.0.0"
    assert status["phase"] == "Ready" and status["stableVersion"] == "2.0.0"
    assert conditions(status)["Ready"] == ("True", "Serving")
    assert events[0].reason == "VersionRolledOut"


def test_version_change_keeps_old_version_serving_until_new_is_available() -> None:
    decision, status, _ = run(
        {"stableVersion": "1.0.0"},
        VALID,
        {"1.0.0": state("1.0.0"), "2.0.0": state("2.0.0", available=0)},
    )
    assert decision.serving_version == "1.0.0" and decision.retire == ()
    assert status["phase"] == "Progressing"
    assert conditions(status)["Progressing"] == ("True", "NewVersionRollingOut")


def test_version_change_switches_and_retires_old_when_new_is_available() -> None:
    decision, status, _ = run(
        {"stableVersion": "1.0.0", "history": [{"version": "1.0.0"}]},
        VALID,
        {"1.0.0": state("1.0.0"), "2.0.0": state("2.0.0")},
    )
    assert decision.serving_version == "2.0.0" and decision.retire == ("1.0.0",)
    assert status["stableVersion"] == "2.0.0"
    assert status["history"][0]["outcome"] == "Replaced"
    assert status["history"][-1]["version"] == "2.0.0"


def test_enforce_refusal_writes_nothing_and_keeps_stable() -> None:
    decision, status, events = run({"stableVersion": "1.0.0"}, REFUSED, {"1.0.0": state("1.0.0")})
    assert not decision.apply_target and decision.retire == ()
    assert status["phase"] == "Blocked" and status["stableVersion"] == "1.0.0"
    assert conditions(status)["CertificateValid"] == ("False", "BadSignature")
    assert ("Warning", "CertificateBadSignature") in [(e.type, e.reason) for e in events]


def test_refusal_message_says_who_keeps_serving() -> None:
    _, status, _ = run({"stableVersion": "1.0.0"}, REFUSED, {"1.0.0": state("1.0.0")})
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert "version 1.0.0 keeps serving" in ready["message"]


def test_audit_deploys_but_reports_the_failure() -> None:
    decision, status, _ = run({}, AUDITED, {"2.0.0": state("2.0.0")})
    assert decision.apply_target
    assert conditions(status)["CertificateValid"] == ("False", "Expired")
    assert status["phase"] == "Ready"


def test_leftover_versions_are_retired_in_steady_state() -> None:
    decision, _, _ = run(
        {"stableVersion": "2.0.0"}, VALID, {"2.0.0": state("2.0.0"), "0.9.0": state("0.9.0")}
    )
    assert decision.retire == ("0.9.0",)


def test_second_identical_pass_changes_nothing_and_posts_no_event() -> None:
    deployments = {"2.0.0": state("2.0.0")}
    _, first, _ = run({}, VALID, deployments)
    _, second, events = run(first, VALID, deployments)
    assert second == first and events == []


def test_other_writers_conditions_are_kept() -> None:
    canary = {
        "type": "CanaryHealthy",
        "status": "True",
        "reason": "Pass",
        "message": "",
        "lastTransitionTime": "x",
    }
    _, status, _ = run({"conditions": [canary]}, VALID, {})
    assert canary in status["conditions"]


def test_invalid_spec_is_reported_once() -> None:
    status, events = invalid_spec_status({}, 3, "spec.version: bad", NOW)
    assert status["phase"] == "Invalid" and len(events) == 1
    _, again = invalid_spec_status(status, 3, "spec.version: bad", NOW)
    assert again == []


def test_deployment_state_from_live_requires_the_controller_to_catch_up() -> None:
    live = {
        "metadata": {"name": "m", "generation": 3, "labels": {"axiom.dev/version": "1.0.0"}},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 2,
            "replicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": 2,
        },
    }
    assert not DeploymentState.from_live(live).is_available
