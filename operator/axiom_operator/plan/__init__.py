"""Plan: the rollout machine's decision and the observed world -> the writes, in order.

Pure: no I/O, no clock. Every write that would change nothing is left out here (the live
object is in the ``World``), so a pass over an unchanged world plans no write at all, and the
list a unit test sees is exactly what the apiserver will receive.

A pass has two rounds of writes, for one reason: the status users read quotes each
Deployment as the apiserver answered the write (whether a write bumped its generation, and
so whether it still counts as available, is the apiserver's to say, not ours).

1. ``plan_changes``: the children, in this order:
   a. the per-version Service of every version kept (the canary's ClusterIP must exist
      before a traffic config can name it; a Service created in this pass gets its address
      from the apiserver, so the split that names it is written in the next pass);
   b. the runtime ConfigMap, and with pinned trust the trusted-keys mirror: every runtime
      pod mounts them, and a pod must never start without its volumes;
   c. the traffic split (the traffic ConfigMap, and the HTTPRoute in GatewayAPI mode),
      before any Deployment: a new stable pod starts with the split already in place;
   d. the Deployments (and their HPA), which start pods that mount all of the above;
   e. the model Service (after the Deployment it selects), scale-downs and deletions of
      versions nothing refers to any more (last: nothing that still serves loses a volume
      or a Service before its replacement exists), and the analysis baseline in memory.
2. ``plan_report``: the status patch, then the Events. The status first: it is the
   machine's memory, and an Event posted before a failed status patch would be posted again
   by the retried pass; an Event lost after the patch costs nothing but the Event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from axiom_operator import api, prometheus, status_view
from axiom_operator.plan.changes import (
    CONFLICT_REASON,
    MISSING_API_REASON,
    REFUSED_REASON,
    WAIT_FOR_BASELINE,
    WAIT_FOR_SERVICE_ADDRESS,
    Changes,
    apply_if_changed,
    delete_if_present,
    model_owner,
)
from axiom_operator.plan.versions import ensure_deployment, rebuild_versions
from axiom_operator.resources import labels as names
from axiom_operator.resources.configmap import (
    build_runtime_configmap,
    build_trusted_keys_configmap,
)
from axiom_operator.resources.deployment import (
    read_deployment_state,
)
from axiom_operator.resources.service import build_model_service, build_version_service
from axiom_operator.resources.traffic import (
    build_httproute,
    build_traffic_configmap,
    canary_grpc_target,
    canary_url,
    traffic_config_text,
)
from axiom_operator.rollout import (
    AskGate,
    DeleteDeployment,
    EmitEvent,
    EnsureDeployment,
    PointServiceAt,
    RequeueAfter,
    ScaleDown,
    SetTrafficWeight,
    StartAnalysisWindow,
    TrafficMode,
)
from axiom_operator.rollout.machine import Decision
from axiom_operator.status import merge_patch
from axiom_operator.values import (
    Baseline,
    CallGate,
    DeploymentState,
    Event,
    InvalidModel,
    PatchStatus,
    PostEvent,
    RememberBaseline,
    ScaleDeployment,
    World,
    Write,
)
from axiom_runtime.traffic.config import CanaryTarget

__all__ = [
    "Changes",
    "deployments_after",
    "plan_changes",
    "plan_invalid",
    "plan_report",
    "rebuild_versions",
    "refused",
]


def _set_traffic(
    changes: Changes, decision: Decision, world: World, action: SetTrafficWeight
) -> None:
    owner = model_owner(world)
    traffic = world.spec.traffic or api.TrafficSpec()
    canary: CanaryTarget | None = None
    if action.canary_version is not None and action.mode is TrafficMode.RUNTIME:
        service = world.child(
            "Service", names.version_object_name(owner.name, action.canary_version)
        )
        cluster_ip = ((service or {}).get("spec") or {}).get("clusterIP")
        if not cluster_ip or cluster_ip == "None":
            # Without an address the split cannot be written; pods keep the old one.
            changes.requeue(WAIT_FOR_SERVICE_ADDRESS)
            return
        canary = CanaryTarget(
            action.canary_version,
            canary_url(cluster_ip),
            action.weight,
            grpc_target=canary_grpc_target(cluster_ip),
            mirror=action.mirror,
        )
    text = traffic_config_text(
        action.generation, canary, traffic.request_id_header, pin_header=action.pin_header
    )
    traffic_map = build_traffic_configmap(owner, text)
    if canary is not None or world.child("ConfigMap", traffic_map["metadata"]["name"]):
        # No canary and no ConfigMap yet: nothing to split and no pod reading an old split.
        apply_if_changed(changes, traffic_map, world)
    stable = decision.status.stable_version
    if action.mode is TrafficMode.GATEWAY_API and stable is not None:
        route = build_httproute(
            owner,
            stable_version=stable,
            canary_version=action.canary_version,
            weight=action.weight,
            generation=action.generation,
            gateway=traffic.gateway_ref,
        )
        apply_if_changed(changes, route, world)


def _scale_down(changes: Changes, world: World, action: ScaleDown) -> None:
    object_name = names.version_object_name(world.model.name, action.version)
    delete_if_present(changes, "HorizontalPodAutoscaler", object_name, world)
    live = world.deployments.get(action.version)
    if live is not None and live.desired > 0:
        changes.writes.append(ScaleDeployment(object_name, 0))


def _delete_version(changes: Changes, world: World, action: DeleteDeployment) -> None:
    object_name = names.version_object_name(world.model.name, action.version)
    for kind in ("HorizontalPodAutoscaler", "Service", "Deployment"):
        delete_if_present(changes, kind, object_name, world)


def _start_window(
    changes: Changes, decision: Decision, world: World, action: StartAnalysisWindow
) -> None:
    stable = decision.status.stable_version
    if stable is None:
        return
    if prometheus.source_of(world.spec) is not None:
        # Prometheus keeps the history: the start time is enough.
        changes.writes.append(RememberBaseline(Baseline(world.now, action.canary_version, {})))
        return
    if world.scrapes is None:
        # This pass did not scrape the pods (the canary is new to it): start from the next.
        changes.requeue(WAIT_FOR_BASELINE)
        return
    scrapes = {v: world.scrapes.get(v, {}) for v in (action.canary_version, stable)}
    changes.writes.append(RememberBaseline(Baseline(world.now, action.canary_version, scrapes)))


def _version_service_needed(world: World, decision: Decision, version: str) -> bool:
    """Whether ``<model>-v<version>`` must exist: only where something routes to one version.

    GatewayAPI routes name both versions' Services; in Runtime mode the stable pods forward
    the canary's share to the canary's Service. Nothing else uses one (the model Service
    selects the serving version's pods itself), so a model that never had a canary has none:
    one write fewer per model (docs/operator-at-scale.md). One that exists is kept up to date.
    """
    name = names.version_object_name(world.model.name, version)
    if world.child("Service", name) is not None:
        return True
    mode = (world.spec.traffic or api.TrafficSpec()).mode
    if mode == TrafficMode.GATEWAY_API.value:
        return True
    return mode == TrafficMode.RUNTIME.value and version == decision.status.canary_version


def plan_changes(decision: Decision, world: World, *, default_image: str) -> Changes:
    """Round 1: the writes that bring the children to what the machine decided.

    ``default_image``: the runtime image of a version whose spec names none (a setting)."""
    changes = Changes()
    owner = model_owner(world)
    actions = decision.actions
    ensures = [a for a in actions if isinstance(a, EnsureDeployment)]
    for ensure in ensures:
        if _version_service_needed(world, decision, ensure.version):
            apply_if_changed(changes, build_version_service(owner, ensure.version), world)
    if ensures:
        settings_map = build_runtime_configmap(owner, world.spec)
        if settings_map.get("data") or world.child("ConfigMap", settings_map["metadata"]["name"]):
            apply_if_changed(changes, settings_map, world)
    if ensures and world.gate.pinned_keys is not None:
        keys = build_trusted_keys_configmap(owner, world.gate.pinned_keys)
        apply_if_changed(changes, keys, world)
    for action in actions:
        if isinstance(action, SetTrafficWeight):
            _set_traffic(changes, decision, world, action)
    for ensure in ensures:
        ensure_deployment(changes, decision, world, ensure, default_image)
    for action in actions:
        if isinstance(action, PointServiceAt):
            apply_if_changed(changes, build_model_service(owner, action.version), world)
        elif isinstance(action, ScaleDown):
            _scale_down(changes, world, action)
        elif isinstance(action, DeleteDeployment):
            _delete_version(changes, world, action)
        elif isinstance(action, StartAnalysisWindow):
            _start_window(changes, decision, world, action)
        elif isinstance(action, RequeueAfter):
            changes.requeue(action.seconds)
        elif isinstance(action, AskGate):
            changes.writes.append(CallGate(action.gate.value, action.version))
    if decision.status.canary_version is None and world.baseline is not None:
        changes.writes.append(RememberBaseline(None))
    return _hold_if_blocked(changes, world)


def _hold_if_blocked(changes: Changes, world: World) -> Changes:
    """A name taken by someone else, or an API the cluster lacks: write nothing at all.

    Not only the one object: a rollout that went on without its Service or its HTTPRoute
    would measure and decide on a split nobody applied. Held, the version that serves keeps
    serving exactly as it is, the model says why, and the first pass after the object (or
    the API) appears proceeds from where the machine stood."""
    if changes.conflicts:
        changes.hold(CONFLICT_REASON, "; ".join(f.describe() for f in changes.conflicts))
    elif world.missing_apis:
        changes.hold(MISSING_API_REASON, "; ".join(world.missing_apis))
    return changes


def refused(changes: Changes, message: str) -> Changes:
    """The apiserver refused one of the writes (validation, RBAC, an admission webhook):
    the pass is held from there on, and the status says what was refused and why."""
    changes.hold(REFUSED_REASON, message)
    return changes


def deployments_after(
    world: World, applied: Mapping[str, Mapping[str, Any]]
) -> dict[str, DeploymentState]:
    """The model's Deployments as the apiserver answered this pass's writes."""
    states = dict(world.deployments)
    for version, live in applied.items():
        states[version] = read_deployment_state(live)
    return states


def plan_report(
    decision: Decision,
    world: World,
    changes: Changes,
    *,
    written: Sequence[str],
    deployments: Mapping[str, DeploymentState],
    expiry_warning: timedelta,
) -> list[Write]:
    """Round 2: the status patch, then the Events (see the module docstring for why).

    A held pass reports the machine as it stood (its decision was not carried out) and why."""
    status, condition_events = status_view.summarize(
        name=world.model.name,
        generation=world.model.generation,
        version=world.spec.version,
        old_status=dict(world.model.status),
        gate=world.gate.outcome,
        rollout=world.memory if changes.held else decision.status,
        deployments=dict(deployments),
        now=world.now,
        expiry_warning=expiry_warning,
        held=changes.held,
    )
    writes: list[Write] = []
    patch = merge_patch(dict(world.model.status), status)
    if patch:
        writes.append(PatchStatus(patch))
    events = [*changes.warnings]
    if changes.held is None:
        events += [
            Event(a.type, a.reason, a.message) for a in decision.actions if isinstance(a, EmitEvent)
        ]
    news = [Event("Normal", "Reconciled", "; ".join(written))] if written else []
    news += condition_events
    writes += [PostEvent(event) for event in fold_news(events, news)]
    return writes


# The apiserver keeps Event messages whole, but kubectl describe and most sinks cut long ones.
EVENT_MESSAGE_LIMIT = 1024


def fold_news(events: Sequence[Event], news: Sequence[Event]) -> list[Event]:
    """The Events of one pass: the rollout machine's (``events``) each as they are, and the
    Normal ``news`` (the writes, ``Reconciled``; conditions' changes, ``CertificateVerified``,
    ``AvailableTrue``) added to the message of the machine's first Normal Event, or, in a pass
    without one, joined into one Event under the first one's reason. Warnings stay apart.

    A new model's first pass used to post five Normal Events (Deploying, CertificateVerified,
    ReadyFalse, AvailableFalse, Reconciled): one write each, 5,000 for 1,000 models, all telling
    one story. The machine's Events stay whole because notifications and people act on each
    (a pass that advances a step and promotes says both)."""
    out = list(events)
    out += [e for e in news if e.type != "Normal"]
    normal = [e for e in news if e.type == "Normal"]
    if not normal:
        return out
    first = next((i for i, e in enumerate(out) if e.type == "Normal"), None)
    if first is None:
        out.append(Event("Normal", normal[0].reason, _joined(normal)))
    else:
        out[first] = Event("Normal", out[first].reason, _joined([out[first], *normal]))
    return out


def _joined(events: Sequence[Event]) -> str:
    message = "; ".join(dict.fromkeys(e.message for e in events))
    if len(message) > EVENT_MESSAGE_LIMIT:
        message = message[: EVENT_MESSAGE_LIMIT - 3] + "..."
    return message


def plan_invalid(invalid: InvalidModel) -> list[Write]:
    """A spec the operator cannot act on: say why in status and an Event, touch nothing."""
    old = dict(invalid.model.status)
    status, events = status_view.invalid_spec_status(
        old, invalid.model.generation, invalid.message, invalid.now
    )
    writes: list[Write] = []
    patch = merge_patch(old, status)
    if patch:
        writes.append(PatchStatus(patch))
    return writes + [PostEvent(event) for event in events]
