"""The reconcile decision for one AxiomModel, as pure functions.

Two stages, because the status must describe the world *after* the writes:
``decide`` (before writing) says which version's objects to apply, which version the model
Service selects and which old versions to retire; ``summarize`` (after writing) turns the
observed Deployments into ``status`` and the Events worth posting.

Version change without a canary (this is what issue 7 replaces with a canary): the new
version's Deployment is created next to the stable one, the model Service keeps selecting the
stable pods, and only once the new Deployment is Available does the Service switch to it and
the old version's Deployment, Service and HPA get deleted. The operator never re-applies an
old version's objects: only the current spec is known, and the old version keeps running
exactly as it was deployed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from axiom_operator import api
from axiom_operator import status as conditions
from axiom_operator.resources import labels as names
from axiom_operator.status import ConditionValue

MAX_HISTORY = 20


@dataclass(frozen=True)
class DeploymentState:
    """What matters about one version's live Deployment."""

    version: str
    name: str
    desired: int
    replicas: int
    updated: int
    available: int
    up_to_date: bool  # the controller has seen the latest spec

    @property
    def is_available(self) -> bool:
        return self.up_to_date and self.updated >= self.desired and self.available >= self.desired

    @classmethod
    def from_live(cls, live: dict[str, Any]) -> DeploymentState:
        meta, spec, status = live["metadata"], live.get("spec", {}), live.get("status") or {}
        return cls(
            version=meta.get("labels", {}).get(names.VERSION_LABEL, ""),
            name=meta["name"],
            desired=int(spec.get("replicas", 1)),
            replicas=int(status.get("replicas", 0)),
            updated=int(status.get("updatedReplicas", 0)),
            available=int(status.get("availableReplicas", 0)),
            up_to_date=int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 0)),
        )


@dataclass(frozen=True)
class GateOutcome:
    """The certificate gate's verdict on the spec's version."""

    valid: bool | None  # None: could not be decided yet (e.g. Secret missing)
    allowed: bool  # may the operator deploy/change the workload
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    apply_target: bool
    serving_version: str | None  # version the model Service selects; None: leave it alone
    retire: tuple[str, ...]
    stable_version: str | None


@dataclass(frozen=True)
class Event:
    type: str  # "Normal" | "Warning"
    reason: str
    message: str


def decide(
    spec: api.AxiomModelSpec,
    old_status: dict[str, Any],
    gate: GateOutcome,
    deployments: dict[str, DeploymentState],
) -> Decision:
    """What to write this pass."""
    old_stable = old_status.get("stableVersion")
    if not gate.allowed:
        return Decision(False, None, (), old_stable)
    target = spec.version
    target_state = deployments.get(target)
    stable = old_stable if old_stable in deployments else None
    if stable is None or stable == target or (target_state and target_state.is_available):
        new_stable = target if target_state and target_state.is_available else stable
        if new_stable is None and stable is None:
            new_stable = None
        retire = tuple(v for v in sorted(deployments) if v != target)
        return Decision(True, target, retire, new_stable)
    keep = {stable, target}
    retire = tuple(v for v in sorted(deployments) if v not in keep)
    return Decision(True, stable, retire, stable)


def _available_condition(state: DeploymentState | None, version: str | None) -> ConditionValue:
    if state is None:
        return ConditionValue("False", "NoDeployment", "no Deployment serves the model yet")
    message = f"{state.available}/{state.desired} pods of version {version} available (Deployment {state.name})"
    if state.is_available:
        return ConditionValue("True", "MinimumReplicasAvailable", message)
    return ConditionValue("False", "ReplicasUnavailable", message)


def _history(
    old: list[dict[str, Any]], old_stable: str | None, new_stable: str, sha256: str, now: str
) -> list[dict[str, Any]]:
    history = [dict(entry) for entry in old]
    for entry in history:
        if entry.get("version") == old_stable and "retiredAt" not in entry:
            entry["retiredAt"] = now
            entry["outcome"] = "Replaced"
            entry["reason"] = f"replaced by version {new_stable}"
    history.append(
        {"version": new_stable, "sha256": sha256, "deployedAt": now, "outcome": "Promoted"}
    )
    return history[-MAX_HISTORY:]


def summarize(
    *,
    name: str,
    generation: int,
    spec: api.AxiomModelSpec,
    old_status: dict[str, Any],
    gate: GateOutcome,
    decision: Decision,
    deployments: dict[str, DeploymentState],
    now: datetime,
) -> tuple[dict[str, Any], list[Event]]:
    """The status fields this operator owns, and the Events their changes deserve."""
    target = spec.version
    old_stable = old_status.get("stableVersion")
    stable = decision.stable_version
    serving = decision.serving_version or stable
    serving_state = deployments.get(serving) if serving else None
    target_state = deployments.get(target)
    stamp = conditions.rfc3339(now)

    if gate.valid is True:
        cert = ConditionValue("True", "Valid", gate.message)
    elif gate.valid is False:
        cert = ConditionValue("False", gate.reason, gate.message)
    else:
        cert = ConditionValue("Unknown", gate.reason, gate.message)
    available = _available_condition(serving_state, serving)
    ready_now = bool(
        gate.allowed and stable == target and target_state and target_state.is_available
    )
    if not gate.allowed:
        progressing = ConditionValue(
            "False", "CertificateRejected", f"version {target} is not rolled out: {gate.message}"
        )
        ready = ConditionValue(
            "False",
            "CertificateRejected",
            f"version {target} is refused ({gate.reason}): {gate.message}"
            + (f"; version {stable} keeps serving" if stable else "; nothing is deployed"),
        )
        phase = "Blocked"
    elif ready_now:
        assert target_state is not None
        progressing = ConditionValue(
            "False", "RolloutComplete", f"version {target} serves all traffic"
        )
        ready = ConditionValue(
            "True",
            "Serving",
            f"version {target} is serving ({target_state.available}/{target_state.desired} pods available)",
        )
        phase = "Ready"
    else:
        waiting = (
            f"{target_state.available}/{target_state.desired} pods available"
            if target_state
            else "Deployment not created yet"
        )
        detail = f"waiting for version {target} to become Available ({waiting})"
        if stable is not None and stable != target:
            progressing = ConditionValue("True", "NewVersionRollingOut", detail)
            ready = ConditionValue(
                "False", "RollingOut", f"{detail}; version {stable} keeps serving"
            )
            phase = "Progressing"
        elif stable is None:
            progressing = ConditionValue("True", "Deploying", detail)
            ready = ConditionValue("False", "Deploying", detail)
            phase = "Progressing" if target_state else "Pending"
        else:
            progressing = ConditionValue("True", "DeploymentProgressing", detail)
            ready = ConditionValue("False", "ReplicasUnavailable", detail)
            phase = "Degraded" if target_state and target_state.up_to_date else "Progressing"

    conds = old_status.get("conditions") or []
    for kind, value in (
        (conditions.READY, ready),
        (conditions.CERTIFICATE_VALID, cert),
        (conditions.AVAILABLE, available),
        (conditions.PROGRESSING, progressing),
    ):
        conds = conditions.set_condition(conds, kind, value, now=now, generation=generation)

    status: dict[str, Any] = {
        "phase": phase,
        "observedGeneration": generation,
        "conditions": conds,
        "stableVersion": stable,
        "stableSha256": old_status.get("stableSha256"),
        "history": old_status.get("history"),
        "replicas": serving_state.replicas if serving_state else 0,
        "selector": names.selector_string(name, serving) if serving else None,
    }
    events: list[Event] = []
    if stable is not None and stable != old_stable:
        status["stableSha256"] = spec.model.sha256
        status["history"] = _history(
            old_status.get("history") or [], old_stable, stable, spec.model.sha256, stamp
        )
        events.append(
            Event(
                "Normal",
                "VersionRolledOut",
                f"version {stable} now serves"
                + (f"; version {old_stable} is retired" if old_stable else ""),
            )
        )
    for changed in conditions.changed_conditions(old_status.get("conditions"), conds):
        warning = (
            changed["status"] == "False"
            and changed["type"]
            in (
                conditions.CERTIFICATE_VALID,
                conditions.READY,
            )
            and changed["reason"] not in ("Deploying", "RollingOut")
        )
        if changed["type"] == conditions.CERTIFICATE_VALID and changed["status"] == "Unknown":
            warning = True
        events.append(
            Event(
                "Warning" if warning else "Normal",
                f"{changed['type']}{changed['status']}"
                if changed["type"] != conditions.CERTIFICATE_VALID
                else (
                    "CertificateVerified"
                    if changed["status"] == "True"
                    else f"Certificate{changed['reason']}"
                ),
                changed["message"],
            )
        )
    return {k: v for k, v in status.items() if v is not None}, events


def invalid_spec_status(
    old_status: dict[str, Any], generation: int, message: str, now: datetime
) -> tuple[dict[str, Any], list[Event]]:
    """A spec the operator cannot act on: say why, keep everything else as it is."""
    conds = conditions.set_condition(
        old_status.get("conditions") or [],
        conditions.READY,
        ConditionValue("False", "InvalidSpec", message),
        now=now,
        generation=generation,
    )
    events = [
        Event("Warning", "InvalidSpec", c["message"])
        for c in conditions.changed_conditions(old_status.get("conditions"), conds)
    ]
    return {"phase": "Invalid", "observedGeneration": generation, "conditions": conds}, events
