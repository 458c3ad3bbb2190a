"""Desired state: the actions that make the world match the status, and nothing else.

Derived from the new status alone (not from the transition that produced it), so running
:func:`desired_actions` again on a persisted status gives the same actions: a restarted
operator neither repeats a transition nor forgets a Deployment.
"""

from __future__ import annotations

from axiom_operator.rollout.actions import (
    Action,
    AskGate,
    DeleteDeployment,
    EnsureDeployment,
    PointServiceAt,
    ScaleDown,
    SetTrafficWeight,
    StartAnalysisWindow,
)
from axiom_operator.rollout.gates import gate_version
from axiom_operator.rollout.model import Phase, TrafficMode
from axiom_operator.rollout.run import Run
from axiom_operator.rollout.traffic import canary_replicas


def desired_actions(run: Run) -> list[Action]:
    s = run.status
    spec = run.spec
    actions: list[Action] = []
    if s.stable_version is None:
        return actions
    keep: set[str] = {s.stable_version}
    actions.append(EnsureDeployment(s.stable_version, spec.replicas, s.source_of(s.stable_version)))
    if s.rollback_target is not None:
        keep.add(s.rollback_target)
        actions.append(
            EnsureDeployment(s.rollback_target, spec.replicas, s.source_of(s.rollback_target))
        )
    if s.canary_version is not None:
        keep.add(s.canary_version)
        size = (
            spec.replicas
            if s.phase is Phase.PROMOTING
            else canary_replicas(spec.mode, s.canary_weight, spec.replicas)
        )
        actions.append(EnsureDeployment(s.canary_version, size, s.source_of(s.canary_version)))
    # A version leaving the split keeps its Deployment as it is (no scale, no delete) while
    # stable pods may still forward to it (traffic.settle_draining).
    keep.update(s.draining_versions)
    for warm in s.warm:
        if warm.version not in keep:
            keep.add(warm.version)
            actions.append(EnsureDeployment(warm.version, spec.replicas, s.source_of(warm.version)))
    traffic = s.traffic
    actions.append(
        SetTrafficWeight(
            traffic.canary_version,
            traffic.weight,
            traffic.generation,
            spec.mode,
            mirror=traffic.mirror,
            pin_header=spec.pin_header,
        )
    )
    shared_service = spec.mode is TrafficMode.REPLICAS and s.canary_version is not None
    actions.append(PointServiceAt(None if shared_service else s.stable_version))
    for version in s.blocked_versions:
        if version in keep:
            continue
        keep.add(version)
        observed = run.obs.deployments.get(version)
        if observed is not None and observed.desired > 0:
            actions.append(ScaleDown(version))
    actions.extend(DeleteDeployment(v) for v in sorted(run.obs.deployments) if v not in keep)
    window = run.obs.analysis
    if (
        s.canary_version is not None
        and spec.analysis is not None
        and s.analysis_window_from is not None
        and s.phase in (Phase.CANARY, Phase.EXPERIMENT)
        and (window is None or window.started_at < s.analysis_window_from)
    ):
        actions.append(StartAnalysisWindow(s.canary_version))
    asked = gate_version(run)
    if s.waiting_for is not None and asked is not None:
        actions.append(AskGate(s.waiting_for, asked))
    return actions
