"""One reconcile's pure path, end to end without a cluster: spec -> RolloutSpec -> the rollout
machine -> status, conditions and Events (status_view.summarize). Replaces the old switch-over plan:
a first deploy still goes straight to Stable; a version change on a Stable model now starts a
canary (without steps: a blue-green switch once the new version is fully available)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from axiom_operator import api
from axiom_operator.observe import deployment_observations
from axiom_operator.resources.deployment import read_deployment_state
from axiom_operator.rollout import (
    DeleteDeployment,
    EnsureDeployment,
    Observations,
    Phase,
    PointServiceAt,
    RolloutStatus,
    decide,
)
from axiom_operator.rollout_spec import to_rollout_spec
from axiom_operator.status import merge_patch
from axiom_operator.status_model import read_rollout_status
from axiom_operator.status_view import (
    invalid_spec_status,
    summarize,
)
from axiom_operator.values import DeploymentState, GateOutcome

SHA = "cd" * 32
NOW = datetime(2025, 1, 1, tzinfo=UTC)
VALID = GateOutcome(True, True, "Valid", "certificate of mnist 2.0.0 verified (key k1)")
REFUSED = GateOutcome(False, False, "BadSignature", "signature does not verify with key k1")
AUDITED = GateOutcome(False, True, "Expired", "certificate expired on 2024-01-01")


def spec(version: str = "2.0.0", **extra: Any) -> api.AxiomModelSpec:
    return api.AxiomModelSpec.model_validate(
        {
            "version": version,
            "model": {"uri": "file:///m.axiom", "sha256": SHA},
            "certificate": {"secretRef": {"name": "c"}},
            "rollout": {"scaleDownDelay": "10s", "rollbackWindow": "60s"},
            **extra,
        }
    )


def state(version: str, available: int = 1, desired: int = 1) -> DeploymentState:
    return DeploymentState(version, f"mnist-v{version}", desired, desired, desired, available, True)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def run(
    old_status: dict[str, Any],
    gate: GateOutcome,
    deployments: dict[str, DeploymentState],
    *,
    version: str = "2.0.0",
    now: datetime = NOW,
    spec_extra: dict[str, Any] | None = None,
) -> Any:
    model_spec = spec(version, **(spec_extra or {}))
    rollout_spec = to_rollout_spec(
        model_spec, {}, certificate_ok=gate.allowed, certificate_reason=gate.reason
    )
    memory = read_rollout_status(old_status.get("rollout"))
    decision = decide(
        rollout_spec, memory, Observations(deployments=deployment_observations(deployments)), now
    )
    status, events = summarize(
        name="mnist",
        generation=4,
        version=version,
        old_status=old_status,
        gate=gate,
        rollout=decision.status,
        deployments=deployments,
        now=now,
    )
    return decision, status, events


def stored(status: dict[str, Any]) -> dict[str, Any]:
    """What the apiserver keeps after the merge patch (None members removed)."""
    return {k: v for k, v in status.items() if v is not None}


def test_first_deploy_applies_and_waits_for_availability() -> None:
    decision, status, _ = run({}, VALID, {})
    assert EnsureDeployment("2.0.0", 1, decision.status.source_of("2.0.0")) in decision.actions
    assert PointServiceAt("2.0.0") in decision.actions
    assert status["phase"] == "Deploying"
    assert conditions(status)["Ready"] == ("False", "Deploying")


def test_first_deploy_becomes_stable_when_available() -> None:
    _, first, _ = run({}, VALID, {})
    _, status, _ = run(stored(first), VALID, {"2.0.0": state("2.0.0")})
    assert status["phase"] == "Stable" and status["stableVersion"] == "2.0.0"
    assert conditions(status)["Ready"] == ("True", "Serving")
    assert status["history"][-1]["outcome"] == "Promoted"


def stable_on_v1() -> dict[str, Any]:
    _, first, _ = run({}, VALID, {}, version="1.0.0")
    _, status, _ = run(stored(first), VALID, {"1.0.0": state("1.0.0")}, version="1.0.0")
    assert status["phase"] == "Stable"
    return stored(status)


def test_a_version_waiting_for_its_pre_rollout_gate_is_not_ready_and_progressing() -> None:
    gates = {"secretRef": {"name": "hooks"}, "gates": {"preRollout": {"urlKey": "pre"}}}
    _, status, _ = run(
        stable_on_v1(), VALID, {"1.0.0": state("1.0.0")}, spec_extra={"notifications": gates}
    )
    assert status["waitingFor"] == "PreRollout" and status["stableVersion"] == "1.0.0"
    assert conditions(status)["Ready"] == ("False", "WaitingForGate")
    assert conditions(status)["Progressing"] == ("True", "WaitingForGate")
    assert conditions(status)["Reconciling"] == ("True", "WaitingForGate")


def test_version_change_starts_a_canary_and_keeps_the_stable_serving() -> None:
    decision, status, _ = run(stable_on_v1(), VALID, {"1.0.0": state("1.0.0")})
    assert status["phase"] == "Canary"
    assert status["stableVersion"] == "1.0.0" and status["canaryVersion"] == "2.0.0"
    assert PointServiceAt("1.0.0") in decision.actions
    assert conditions(status)["Progressing"] == ("True", "Canary")
    # Ready waits for spec.version; that 1.0.0 keeps users served is Available's to say
    assert conditions(status)["Ready"] == ("False", "Canary")
    assert conditions(status)["Available"] == ("True", "MinimumReplicasAvailable")


def test_without_steps_the_service_switches_once_the_new_version_is_available() -> None:
    _, canary, _ = run(stable_on_v1(), VALID, {"1.0.0": state("1.0.0")})
    both = {"1.0.0": state("1.0.0"), "2.0.0": state("2.0.0")}
    decision, status, _ = run(stored(canary), VALID, both)
    assert status["phase"] == "Stable" and status["stableVersion"] == "2.0.0"
    assert PointServiceAt("2.0.0") in decision.actions
    # the old version is kept warm (instant rollback), not deleted yet
    assert EnsureDeployment("1.0.0", 1, decision.status.source_of("1.0.0")) in decision.actions
    assert [h["version"] for h in status["history"]] == ["1.0.0", "2.0.0"]


def test_the_warm_version_is_deleted_after_the_rollback_window() -> None:
    _, canary, _ = run(stable_on_v1(), VALID, {"1.0.0": state("1.0.0")})
    both = {"1.0.0": state("1.0.0"), "2.0.0": state("2.0.0")}
    _, promoted, _ = run(stored(canary), VALID, both)
    later = NOW + timedelta(seconds=61)
    decision, _, _ = run(stored(promoted), VALID, both, now=later)
    assert DeleteDeployment("1.0.0") in decision.actions


def test_enforce_refusal_keeps_stable_and_blocks() -> None:
    decision, status, events = run(stable_on_v1(), REFUSED, {"1.0.0": state("1.0.0")})
    assert status["phase"] == "Blocked" and status["stableVersion"] == "1.0.0"
    assert not any(
        isinstance(a, EnsureDeployment) and a.version == "2.0.0" for a in decision.actions
    )
    assert conditions(status)["CertificateValid"] == ("False", "BadSignature")
    assert ("Warning", "CertificateBadSignature") in [(e.type, e.reason) for e in events]


def test_refusal_message_says_who_keeps_serving() -> None:
    _, status, _ = run(stable_on_v1(), REFUSED, {"1.0.0": state("1.0.0")})
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert "version 1.0.0 keeps serving" in ready["message"]


def test_audit_deploys_but_reports_the_failure() -> None:
    _, first, _ = run({}, AUDITED, {})
    _, status, _ = run(stored(first), AUDITED, {"2.0.0": state("2.0.0")})
    assert conditions(status)["CertificateValid"] == ("False", "Expired")
    assert status["phase"] == "Stable"


def test_leftover_versions_are_deleted_in_steady_state() -> None:
    _, first, _ = run({}, VALID, {})
    decision, _, _ = run(stored(first), VALID, {"2.0.0": state("2.0.0"), "0.9.0": state("0.9.0")})
    assert DeleteDeployment("0.9.0") in decision.actions


def test_second_identical_pass_changes_nothing_and_posts_no_event() -> None:
    deployments = {"2.0.0": state("2.0.0")}
    _, first, _ = run({}, VALID, {})
    _, second, _ = run(stored(first), VALID, deployments)
    decision, third, events = run(stored(second), VALID, deployments)
    assert merge_patch(stored(second), third) == {} and events == []
    assert [a for a in decision.actions if type(a).__name__ == "EmitEvent"] == []


def test_other_writers_conditions_and_fields_are_kept() -> None:
    canary = {
        "type": "CanaryHealthy",
        "status": "True",
        "reason": "Pass",
        "message": "",
        "lastTransitionTime": "x",
    }
    old = {"conditions": [canary], "someoneElse": 1}
    _, status, _ = run(old, VALID, {})
    assert canary in status["conditions"]
    assert "someoneElse" not in merge_patch(old, status)


def test_merge_patch_removes_fields_that_became_empty() -> None:
    old = {"canaryVersion": "2.0.0", "rollout": {"canaryVersion": "2.0.0", "step": 1}}
    new = {"canaryVersion": None, "rollout": {"step": 1}}
    assert merge_patch(old, new) == {"canaryVersion": None, "rollout": {"canaryVersion": None}}


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
    assert not read_deployment_state(live).is_available


# -- kstatus' Reconciling and Stalled ---------------------------------------------------------


def test_a_first_deploy_is_reconciling_and_not_stalled() -> None:
    _, status, _ = run({}, VALID, {})
    assert conditions(status)["Reconciling"] == ("True", "Deploying")
    assert "Stalled" not in conditions(status)
    reconciling = next(c for c in status["conditions"] if c["type"] == "Reconciling")
    assert reconciling["observedGeneration"] == 4


def test_stable_on_spec_version_drops_reconciling_and_is_ready() -> None:
    status = stable_on_v1()
    assert "Reconciling" not in conditions(status) and "Stalled" not in conditions(status)
    _, status, _ = run(status, VALID, {"1.0.0": state("1.0.0")}, version="1.0.0")
    assert conditions(status)["Ready"] == ("True", "Serving")


def test_a_canary_is_reconciling_and_its_ready_false_posts_no_event() -> None:
    _, status, events = run(stable_on_v1(), VALID, {"1.0.0": state("1.0.0")})
    assert conditions(status)["Reconciling"] == ("True", "Canary")
    assert [e.reason for e in events if e.reason.startswith("Ready")] == []


def test_stable_with_pods_missing_is_reconciling() -> None:
    _, status, _ = run(stable_on_v1(), VALID, {"1.0.0": state("1.0.0", 0)}, version="1.0.0")
    assert conditions(status)["Ready"] == ("False", "ReplicasUnavailable")
    assert conditions(status)["Reconciling"] == ("True", "ReplicasUnavailable")


def test_a_refused_certificate_stalls_with_one_warning_for_it() -> None:
    _, status, events = run(stable_on_v1(), REFUSED, {"1.0.0": state("1.0.0")})
    assert conditions(status)["Stalled"] == ("True", "CertificateRejected")
    assert "Reconciling" not in conditions(status)
    stalled = [(e.type, e.reason) for e in events if e.reason in ("Stalled", "ReadyFalse")]
    assert stalled == [("Warning", "Stalled")]
    _, again, events = run(stored(status), REFUSED, {"1.0.0": state("1.0.0")})
    assert merge_patch(stored(status), again) == {} and events == []


def test_a_fixed_certificate_clears_the_stall_with_a_normal_event() -> None:
    _, blocked, _ = run(stable_on_v1(), REFUSED, {"1.0.0": state("1.0.0")})
    _, status, events = run(stored(blocked), VALID, {"1.0.0": state("1.0.0")})
    assert "Stalled" not in conditions(status)
    assert conditions(status)["Reconciling"][0] == "True"
    assert ("Normal", "StallCleared") in [(e.type, e.reason) for e in events]


def conflicted(old: dict[str, Any], conflict: str | None) -> tuple[dict[str, Any], list[Any]]:
    deployments = {"1.0.0": state("1.0.0")}
    model_spec = spec("1.0.0")
    memory = read_rollout_status(old.get("rollout"))
    decision = decide(
        to_rollout_spec(model_spec, {}, certificate_ok=True, certificate_reason="Valid"),
        memory,
        Observations(deployments=deployment_observations(deployments)),
        NOW,
    )
    return summarize(
        name="mnist",
        generation=4,
        version="1.0.0",
        old_status=old,
        gate=VALID,
        rollout=decision.status,
        deployments=deployments,
        now=NOW,
        held=None if conflict is None else ("ResourceConflict", conflict),
    )


CONFLICT = "Service mnist is not this model's: it is managed by helm"


def test_a_conflict_stalls_and_unreadies_a_model_whose_version_serves() -> None:
    status, events = conflicted(stable_on_v1(), CONFLICT)
    assert status["phase"] == "Stable"  # the rollout is the machine's; only the view changes
    assert conditions(status)["Stalled"] == ("True", "ResourceConflict")
    assert conditions(status)["Ready"] == ("False", "ResourceConflict")
    assert conditions(status)["Available"] == ("True", "MinimumReplicasAvailable")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["message"] == f"{CONFLICT}; version 1.0.0 keeps serving"
    assert [(e.type, e.reason) for e in events] == [("Warning", "Stalled")]


def test_a_resolved_conflict_makes_the_model_ready_again() -> None:
    stalled, _ = conflicted(stable_on_v1(), CONFLICT)
    status, events = conflicted(stored(stalled), None)
    assert conditions(status)["Ready"] == ("True", "Serving")
    assert "Stalled" not in conditions(status)
    assert [(e.type, e.reason) for e in events] == [("Normal", "StallCleared")]


def test_an_invalid_spec_is_stalled_not_reconciling() -> None:
    old = {"conditions": [{"type": "Reconciling", "status": "True", "reason": "Canary"}]}
    status, events = invalid_spec_status(old, 3, "spec.version: bad", NOW)
    kinds = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert kinds == {"Ready": ("False", "InvalidSpec"), "Stalled": ("True", "InvalidSpec")}
    assert [(e.type, e.reason) for e in events] == [("Warning", "InvalidSpec")]


def experiment_view(effective_weight: float | None) -> dict[str, Any]:
    rollout = RolloutStatus(
        phase=Phase.EXPERIMENT,
        message="A/B experiment: 2.0.0 held at 30%",
        stable_version="1.0.0",
        canary_version="2.0.0",
        canary_weight=30.0,
        effective_weight=effective_weight,
    )
    status, _ = summarize(
        name="mnist",
        generation=4,
        version="2.0.0",
        old_status={},
        gate=VALID,
        rollout=rollout,
        deployments={"1.0.0": state("1.0.0"), "2.0.0": state("2.0.0")},
        now=NOW,
    )
    return status


def test_a_live_experiment_is_ready_and_done() -> None:
    status = experiment_view(30.0)
    assert conditions(status)["Ready"] == ("True", "Experiment")
    assert "Reconciling" not in conditions(status)


def test_an_experiment_whose_split_is_not_live_yet_is_reconciling() -> None:
    status = experiment_view(None)
    assert conditions(status)["Ready"] == ("False", "Experiment")
    assert conditions(status)["Reconciling"] == ("True", "Experiment")
