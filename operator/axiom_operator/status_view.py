"""The status view: the AxiomModel status users read, as pure functions of a pass.

The version change itself is the rollout state machine's (``axiom_operator.rollout``); this
module turns its status, the certificate gate's verdict and the observed Deployments into
what users read: ``status.phase`` (the machine's phase, or ``Invalid``), the versions and
weights the printer columns show, the history newest last, the last analysis with the CRD's
verdict words (Pass/Fail/Inconclusive), the conditions (kstatus' Reconciling and Stalled among them), and the Events worth posting
when a condition changes. ``status.merge_patch`` computes the minimal JSON merge patch, so a pass
that changes nothing writes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from axiom_operator import api
from axiom_operator import status as conditions
from axiom_operator.resources import labels as names
from axiom_operator.rollout import Figures, Phase, RolloutStatus
from axiom_operator.status import ConditionValue
from axiom_operator.status_model import (
    VERDICT_WORDS,
    comparison_model,
    figures_model,
    sequential_model,
    write_rollout_status,
)
from axiom_operator.values import DeploymentState, Event, GateOutcome

# A certificate that expires within this window is reported (CertificateValid stays True,
# reason ExpiresSoon, a Warning Event): runtime pods verify it when they start, so a pod
# that restarts after the expiry would not become ready.
DEFAULT_EXPIRY_WARNING = timedelta(days=7)


# Phases in which users are served (by the stable version) and nothing is wrong.
_PROGRESSING_PHASES = {
    Phase.DEPLOYING,
    Phase.CANARY,
    Phase.EXPERIMENT,
    Phase.PAUSED,
    Phase.PROMOTING,
    Phase.ROLLING_BACK,
}


def _available_condition(state: DeploymentState | None, version: str | None) -> ConditionValue:
    if state is None:
        return ConditionValue("False", "NoDeployment", "no Deployment serves the model yet")
    message = f"{state.available}/{state.desired} pods of version {version} available (Deployment {state.name})"
    if state.is_available:
        return ConditionValue("True", "MinimumReplicasAvailable", message)
    return ConditionValue("False", "ReplicasUnavailable", message)


def _certificate_condition(
    gate: GateOutcome, now: datetime, expiry_warning: timedelta
) -> ConditionValue:
    if gate.valid is True:
        if gate.expires_at is not None and gate.expires_at - now <= expiry_warning:
            left = gate.expires_at - now
            hours = max(0.0, left.total_seconds() / 3600)
            return ConditionValue(
                "True",
                "ExpiresSoon",
                f"{gate.message}; it expires at {conditions.rfc3339(gate.expires_at)} (in "
                f"{hours:.1f} h): re-sign the package and update the certificate, or pods "
                "that restart after that will not become ready",
            )
        return ConditionValue("True", "Valid", gate.message)
    if gate.valid is False:
        return ConditionValue("False", gate.reason, gate.message)
    return ConditionValue("Unknown", gate.reason, gate.message)


# Ready=False reasons that name the rollout phase: the machine's own Events tell these
# transitions, and a canary starting is no warning.
_PHASE_REASONS = {
    phase.value
    for phase in (
        Phase.CANARY,
        Phase.EXPERIMENT,
        Phase.PAUSED,
        Phase.PROMOTING,
        Phase.ROLLING_BACK,
        Phase.ROLLED_BACK,
        Phase.FAILED,
    )
}

# Phases in which the operator works toward the spec by itself (kstatus' Reconciling). Paused
# is among them: the spec is not realised yet and nothing is wrong; tools that know the
# phase (the Argo CD health check) say Suspended instead.
_RECONCILING_PHASES = {
    Phase.PENDING,
    Phase.DEPLOYING,
    Phase.CANARY,
    Phase.PAUSED,
    Phase.PROMOTING,
    Phase.ROLLING_BACK,
}


WAITING_FOR_GATE = "WaitingForGate"  # status.waitingFor names the gate


def _keeps_serving(stable: str | None) -> str:
    return f"; version {stable} keeps serving" if stable else "; nothing is deployed"


def _ready_condition(
    rollout: RolloutStatus,
    gate: GateOutcome,
    version: str,
    serving: DeploymentState | None,
    held: tuple[str, str] | None,
) -> ConditionValue:
    """True only once ``spec.version`` serves (all traffic, or its held A/B share), so that
    ``kubectl wait --for=condition=Ready`` after an apply returns when the apply took effect.
    That the previous version keeps users served meanwhile is ``Available``'s to say."""
    stable = rollout.stable_version
    if held is not None:
        reason, message = held
        return ConditionValue("False", reason, message + _keeps_serving(stable))
    if rollout.phase is Phase.BLOCKED:
        return ConditionValue(
            "False",
            "CertificateRejected",
            f"version {version} is refused ({gate.reason}): {gate.message}"
            + _keeps_serving(stable),
        )
    if stable is None or serving is None:
        return ConditionValue("False", "Deploying", rollout.message or f"deploying {version}")
    pods = f"{serving.available}/{serving.desired} pods available"
    if rollout.phase is Phase.DEPLOYING:  # until the machine has seen it available
        return ConditionValue("False", "Deploying", f"version {stable}: {pods}")
    if not serving.is_available:
        return ConditionValue("False", "ReplicasUnavailable", f"version {stable}: {pods}")
    message = f"version {stable} is serving ({pods}); {rollout.message}"
    if rollout.phase is Phase.STABLE and stable == version:
        return ConditionValue("True", "Serving", message)
    if rollout.phase is Phase.EXPERIMENT and rollout.effective_weight:
        # The held split is what the spec asks for: spec.version serves its share.
        return ConditionValue(
            "True",
            "Experiment",
            f"version {version} serves {rollout.effective_weight:g}% beside {stable} ({pods})",
        )
    if rollout.waiting_for is not None:  # spec.version waits for a gate's hook
        return ConditionValue("False", WAITING_FOR_GATE, message)
    return ConditionValue("False", rollout.phase.value, message)


def _stalled_condition(
    rollout: RolloutStatus, gate: GateOutcome, version: str, held: tuple[str, str] | None
) -> ConditionValue | None:
    """kstatus' Stalled: True when the operator cannot go on toward the spec until someone
    changes something; None (the condition is removed) otherwise."""
    if held is not None:
        reason, message = held
        return ConditionValue(
            "True", reason, f"{message}; nothing is written for this model until that changes"
        )
    if rollout.phase is Phase.BLOCKED:
        return ConditionValue(
            "True",
            "CertificateRejected",
            f"version {version} is refused ({gate.reason}): {gate.message}",
        )
    if rollout.phase is Phase.FAILED:
        return ConditionValue(
            "True",
            "CanaryFailed",
            f"{rollout.message}; annotate axiom.dev/rollback=previous, axiom.dev/resume=true "
            "or axiom.dev/promote=true, or change spec.version",
        )
    if rollout.phase is Phase.ROLLED_BACK:
        return ConditionValue(
            "True",
            "RolledBack",
            f"version {version} was rolled back and stays off until spec.version changes; "
            f"version {rollout.stable_version} serves",
        )
    return None


def _reconciling_condition(rollout: RolloutStatus, ready: ConditionValue) -> ConditionValue | None:
    """kstatus' Reconciling: True while the operator works toward the spec; None (removed)
    when it is done or stalled (the caller asks only when not stalled)."""
    if rollout.phase in _RECONCILING_PHASES:
        return ConditionValue("True", rollout.phase.value, rollout.message or ready.message)
    if ready.status != "True":  # Stable with pods missing, an A/B split not live yet
        return ConditionValue("True", ready.reason, ready.message)
    return None


def _progressing_condition(rollout: RolloutStatus) -> ConditionValue:
    if rollout.waiting_for is not None:
        return ConditionValue("True", WAITING_FOR_GATE, rollout.message)
    if rollout.phase in _PROGRESSING_PHASES:
        return ConditionValue("True", rollout.phase.value, rollout.message)
    if rollout.phase is Phase.STABLE:
        return ConditionValue("False", "RolloutComplete", rollout.message)
    return ConditionValue("False", rollout.phase.value, rollout.message)


def _figures(figures: Figures | None) -> api.AnalysisFigures | None:
    return figures_model(figures)


def _last_analysis_model(rollout: RolloutStatus) -> api.AnalysisResult | None:
    record = rollout.last_analysis
    if record is None:
        return None
    canary = record.canary
    return api.AnalysisResult(
        time=conditions.rfc3339(record.at),
        # Records written before they carried these fall back to the live canary.
        version=record.version or rollout.canary_version,
        step=record.step if record.version else rollout.step,
        verdict=VERDICT_WORDS[record.verdict],  # type: ignore[arg-type]
        reasons=[reason[:1024] for reason in record.reasons[:16]],
        message="; ".join(record.reasons)[:4096],
        requests=canary.requests if canary else None,
        error_rate=canary.error_rate if canary else None,
        p99_latency_ms=canary.p99_ms if canary else None,
        mean_confidence=canary.mean_confidence if canary else None,
        failures=rollout.analysis_failures,
        canary=_figures(record.canary),
        stable=_figures(record.stable),
        comparison=comparison_model(record.comparison),
        sequential=sequential_model(record.sequential),
    )


def last_analysis(rollout: RolloutStatus) -> dict[str, Any] | None:
    """``status.lastAnalysis`` in the CRD's words (Pass/Fail/Inconclusive)."""
    model = _last_analysis_model(rollout)
    return None if model is None else model.to_wire()


def _history_models(rollout: RolloutStatus) -> list[api.HistoryEntry] | None:
    """The machine keeps newest first; users read newest last (like kubectl rollout history)."""
    if not rollout.history:
        return None
    return [
        api.HistoryEntry(
            version=entry.version,
            outcome=entry.outcome.value,
            at=conditions.rfc3339(entry.at),
            reason=entry.reason[:1024],
        )
        for entry in reversed(rollout.history)
    ]


def history(rollout: RolloutStatus) -> list[dict[str, Any]] | None:
    models = _history_models(rollout)
    return None if models is None else [m.to_wire() for m in models]


def _wire(status: api.AxiomModelStatus) -> dict[str, Any]:
    """Every field of the status, a None for each one to remove (merge patch semantics)."""
    present = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    names_on_wire = [f.alias or name for name, f in api.AxiomModelStatus.model_fields.items()]
    return {name: present.get(name) for name in names_on_wire}


def summarize(
    *,
    name: str,
    generation: int,
    version: str,
    old_status: dict[str, Any],
    gate: GateOutcome,
    rollout: RolloutStatus,
    deployments: dict[str, DeploymentState],
    now: datetime,
    expiry_warning: timedelta = DEFAULT_EXPIRY_WARNING,
    held: tuple[str, str] | None = None,
) -> tuple[dict[str, Any], list[Event]]:
    """The status fields this operator owns (None: remove), and the Events conditions deserve.

    ``held``: (reason, message) when the pass wrote nothing: a name the model needs is held
    by someone else (``ResourceConflict``, e.g. "Service web exists and is not this model's
    (Helm release ml/web)"), the cluster lacks an API (``APIUnavailable``), or the apiserver
    refused a write (``WriteRefused``). It makes ``Stalled`` True and ``Ready`` False, both
    with that reason, whatever the phase (``rollout`` is then the machine's status as it
    stood: its decision was not carried out). Ready goes False even when ``spec.version``
    serves fine, because a tool waiting on Ready (kubectl wait, Argo CD, Flux) asks "did the
    apply take effect", and it did not; its message says which version keeps serving, and
    ``Available`` still says True for those pods.
    """
    stable = rollout.stable_version
    serving = deployments.get(stable) if stable else None
    ready = _ready_condition(rollout, gate, version, serving, held)
    stalled = _stalled_condition(rollout, gate, version, held)
    reconciling = None if stalled is not None else _reconciling_condition(rollout, ready)
    conds = old_status.get("conditions") or []
    for kind, value in (
        (conditions.READY, ready),
        (conditions.CERTIFICATE_VALID, _certificate_condition(gate, now, expiry_warning)),
        (conditions.AVAILABLE, _available_condition(serving, stable)),
        (conditions.PROGRESSING, _progressing_condition(rollout)),
        (conditions.RECONCILING, reconciling),
        (conditions.STALLED, stalled),
    ):
        if value is None:
            conds = conditions.remove_condition(conds, kind)
        else:
            conds = conditions.set_condition(conds, kind, value, now=now, generation=generation)
    canary = rollout.canary_version
    typed = api.AxiomModelStatus(
        phase=rollout.phase.value,
        message=rollout.message[:4096] or None,
        observed_generation=generation,
        conditions=[api.Condition.model_validate(c) for c in conds],
        stable_version=stable,
        canary_version=canary,
        canary_weight=rollout.canary_weight if canary else None,
        effective_weight=rollout.effective_weight if canary else None,
        step=rollout.step if canary else None,
        history=_history_models(rollout),
        last_analysis=_last_analysis_model(rollout),
        blocked_versions=list(rollout.blocked_versions) or None,
        draining_versions=list(rollout.draining_versions) or None,
        handled_requests=list(rollout.handled_requests) or None,
        waiting_for=rollout.waiting_for.value if rollout.waiting_for else None,
        replicas=serving.replicas if serving else 0,
        selector=names.selector_string(name, stable) if stable else None,
        rollout=write_rollout_status(rollout),
    )
    return _wire(typed), _condition_events(old_status.get("conditions"), conds)


def _condition_events(old: list[dict[str, Any]] | None, new: list[dict[str, Any]]) -> list[Event]:
    """The Events the conditions' transitions deserve (none for a pass that changed none).

    A Stalled transition is the one Warning of its pass (Ready's matching False would repeat
    it); Reconciling and Progressing, and Ready's moves through the rollout phases, are told
    by the rollout machine's own Events."""
    events: list[Event] = []
    changed = conditions.changed_conditions(old, new)
    stalled_changed = any(c["type"] == conditions.STALLED for c in changed)
    for condition in changed:
        kind, state, reason = condition["type"], condition["status"], condition["reason"]
        if kind in (conditions.PROGRESSING, conditions.RECONCILING):
            continue
        if kind == conditions.READY and (
            state == "True" or reason in _PHASE_REASONS or stalled_changed
        ):
            continue
        if kind == conditions.STALLED:
            events.append(Event("Warning", "Stalled", f"{reason}: {condition['message']}"))
            continue
        warning = (state == "False" and reason not in ("Deploying",)) or state == "Unknown"
        before = conditions.get_condition(old, kind)
        if kind == conditions.AVAILABLE and state == "False":
            # A loss of availability is a warning; not being available yet (first deploy) is
            # what a deploy looks like, and the rollout's own Events tell it.
            warning = before is not None and before.get("status") == "True"
        if before is None and state == "False" and not warning:
            continue  # a condition's first word being "not yet": the Deploying Event says it
        if kind == conditions.CERTIFICATE_VALID and reason == "ExpiresSoon":
            warning, event_reason = True, "CertificateExpiresSoon"
        elif kind == conditions.CERTIFICATE_VALID:
            event_reason = "CertificateVerified" if state == "True" else f"Certificate{reason}"
        else:
            event_reason = f"{kind}{state}"
        events.append(Event("Warning" if warning else "Normal", event_reason, condition["message"]))
    was_stalled = conditions.get_condition(old, conditions.STALLED)
    if was_stalled is not None and conditions.get_condition(new, conditions.STALLED) is None:
        events.append(
            Event("Normal", "StallCleared", f"no longer stalled ({was_stalled.get('reason')})")
        )
    return events


def invalid_spec_status(
    old_status: dict[str, Any], generation: int, message: str, now: datetime
) -> tuple[dict[str, Any], list[Event]]:
    """A spec the operator cannot act on: say why (Ready False, Stalled True, both
    ``InvalidSpec``; not Reconciling), keep everything else as it is. One Warning, once."""
    old = old_status.get("conditions") or []
    value = ConditionValue("False", "InvalidSpec", message)
    conds = conditions.set_condition(old, conditions.READY, value, now=now, generation=generation)
    conds = conditions.remove_condition(conds, conditions.RECONCILING)
    stalled = ConditionValue("True", "InvalidSpec", message)
    conds = conditions.set_condition(
        conds, conditions.STALLED, stalled, now=now, generation=generation
    )
    events = [
        Event("Warning", "InvalidSpec", c["message"])
        for c in conditions.changed_conditions(old, conds)
        if c["type"] == conditions.STALLED
    ]
    return {"phase": "Invalid", "observedGeneration": generation, "conditions": conds}, events
