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

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from axiom_operator import api, prometheus, status_view
from axiom_operator.diff import needs_apply, with_applied_hash
from axiom_operator.resources import labels as names
from axiom_operator.resources.configmap import (
    build_runtime_configmap,
    build_trusted_keys_configmap,
    config_hash,
    runtime_settings,
)
from axiom_operator.resources.deployment import (
    VersionInputs,
    build_deployment,
    read_deployment_state,
)
from axiom_operator.resources.hpa import build_hpa
from axiom_operator.resources.owner import Owner
from axiom_operator.resources.service import build_model_service, build_version_service
from axiom_operator.resources.traffic import (
    build_httproute,
    build_traffic_configmap,
    canary_grpc_target,
    canary_url,
    traffic_config_text,
)
from axiom_operator.rollout import (
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
from axiom_operator.rollout_spec import SourceDecodeError, spec_for_version
from axiom_operator.status import merge_patch
from axiom_operator.values import (
    ApplyObject,
    Baseline,
    DeleteObject,
    DeploymentState,
    Event,
    ForeignObject,
    GateResult,
    InvalidModel,
    PatchStatus,
    PostEvent,
    RememberBaseline,
    ScaleDeployment,
    SetInitialReplicas,
    World,
    Write,
)
from axiom_runtime.traffic.config import CanaryTarget

logger = logging.getLogger(__name__)

# A split that names a canary Service still without an address is written this much later.
WAIT_FOR_SERVICE_ADDRESS = 2.0
# A window that cannot start yet (no scrape of the pods in this pass) is tried this soon.
WAIT_FOR_BASELINE = 1.0
# A model held by a name conflict or a missing cluster API looks again this much later: it
# needs a person (or an install), and the operator must not hammer the apiserver meanwhile.
HOLD_RETRY = 30.0
CONFLICT_REASON = "ResourceConflict"
MISSING_API_REASON = "APIUnavailable"
REFUSED_REASON = "WriteRefused"


@dataclass
class Changes:
    """Round 1: the writes to the children, and what the report round needs of them."""

    writes: list[Write] = field(default_factory=list)
    warnings: list[Event] = field(default_factory=list)
    requeue_seconds: float | None = None
    conflicts: list[ForeignObject] = field(default_factory=list)
    # Why nothing is written this pass (a conflict, a missing API): (reason, message).
    held: tuple[str, str] | None = None

    def creations(self) -> list[tuple[str, str]]:
        """(kind, name) of the objects these writes would create."""
        return [(w.kind, w.name) for w in self.writes if isinstance(w, ApplyObject) and not w.live]

    def requeue(self, seconds: float) -> None:
        current = self.requeue_seconds
        self.requeue_seconds = seconds if current is None else min(current, seconds)


def _owner(world: World) -> Owner:
    return Owner(name=world.model.name, namespace=world.model.namespace, uid=world.model.uid)


def _apply_if_changed(changes: Changes, manifest: dict[str, Any], world: World) -> None:
    key = (manifest["kind"], manifest["metadata"]["name"])
    live = world.child(*key)
    if live is None and key in world.foreign:
        changes.conflicts.append(world.foreign[key])
        return
    if needs_apply(with_applied_hash(manifest), dict(live) if live is not None else None):
        changes.writes.append(ApplyObject(manifest, live))


def _delete_if_present(changes: Changes, kind: str, name: str, world: World) -> None:
    if world.child(kind, name) is not None:
        changes.writes.append(DeleteObject(kind, name))


def _version_spec(world: World, action: EnsureDeployment) -> api.AxiomModelSpec | None:
    """The spec ``action.version`` is built from: spec.version's own, or the one recorded."""
    if action.version == world.spec.version:
        return world.spec
    if action.source is None:
        return None
    try:
        return spec_for_version(world.spec, action.version, action.source)
    except SourceDecodeError as error:
        logger.warning("cannot rebuild version %s: %s", action.version, error)
        return None


def _is_rebuild(world: World, action: EnsureDeployment) -> bool:
    """A kept version other than spec.version whose Deployment is gone (a cold rollback)."""
    return action.version != world.spec.version and action.version not in world.deployments


def rebuild_versions(decision: Decision, world: World) -> list[tuple[str, api.AxiomModelSpec]]:
    """The versions whose certificate must be checked again before they are rebuilt."""
    found = []
    for action in decision.actions:
        if isinstance(action, EnsureDeployment) and _is_rebuild(world, action):
            spec = _version_spec(world, action)
            if spec is not None:
                found.append((action.version, spec))
    return found


def _ensure_deployment(
    changes: Changes,
    decision: Decision,
    world: World,
    action: EnsureDeployment,
    default_image: str,
) -> None:
    """Which Deployment writes keep ``action.version`` as the machine wants it.

    Only spec.version's Deployment is re-applied, built from the current spec and gated by
    this pass's certificate check. Any other version the machine keeps (the stable during a
    canary, a warm previous version) was verified and built when it was spec.version; it is
    only scaled, so its pods never restart because the spec moved on. A kept version whose
    Deployment is gone is rebuilt from its recorded source once its certificate verifies.
    """
    owner = _owner(world)
    version = action.version
    object_name = names.version_object_name(owner.name, version)
    is_spec_version = version == world.spec.version
    hpa_owned = world.spec.autoscaling is not None and version == decision.status.stable_version
    existing = world.deployments.get(version)
    if existing is not None and not (is_spec_version and world.gate.outcome.allowed):
        if not hpa_owned and existing.desired != action.replicas:
            changes.writes.append(ScaleDeployment(object_name, action.replicas))
        return
    spec = _version_spec(world, action)
    if spec is None:
        changes.warnings.append(
            Event(
                "Warning",
                "VersionNotRebuilt",
                f"no recorded package source to recreate version {version}",
            )
        )
        return
    gate: GateResult | None = world.gate if is_spec_version else world.rebuild_gates.get(version)
    if gate is None or not gate.outcome.allowed:
        if not is_spec_version:
            why = (
                "not verified" if gate is None else f"{gate.outcome.reason}: {gate.outcome.message}"
            )
            changes.warnings.append(
                Event(
                    "Warning",
                    "VersionNotRebuilt",
                    f"version {version} is not recreated: certificate {why}",
                )
            )
        return
    if spec.autoscaling is None:
        spec = spec.model_copy(update={"replicas": action.replicas})
    inputs = VersionInputs(
        owner=owner,
        spec=spec,
        image=(spec.runtime.image if spec.runtime and spec.runtime.image else None)
        or default_image,
        certificate=gate.certificate,
        trusted_keys=gate.trusted_keys,
        config_hash=config_hash(runtime_settings(world.spec)),
        certificate_hash=gate.certificate_hash,
        traffic_config_map=names.traffic_config_name(owner.name),
    )
    manifest = build_deployment(inputs)
    live = world.child("Deployment", object_name)
    if live is None and ("Deployment", object_name) in world.foreign:
        changes.conflicts.append(world.foreign[("Deployment", object_name)])
        return
    applying = needs_apply(with_applied_hash(manifest), dict(live) if live is not None else None)
    if applying:
        changes.writes.append(ApplyObject(manifest, live))
    if spec.autoscaling is not None:
        # replicas stays out of the main manifest (the HPA owns it once this version is
        # stable); a canary's size is set under the separate bootstrap field manager so
        # promotion hands the field to the HPA without a reset to 1. A re-apply may drop a
        # replicas field the main manager used to own, so a canary's size is set again then.
        wanted = (spec.replicas or spec.autoscaling.min_replicas) if hpa_owned else action.replicas
        current = int((live.get("spec") or {}).get("replicas", 1)) if live is not None else 1
        if live is None or (not hpa_owned and (applying or current != wanted)):
            changes.writes.append(SetInitialReplicas(object_name, version, wanted))
    if hpa_owned and spec.autoscaling is not None:
        _apply_if_changed(changes, build_hpa(owner, version, spec.autoscaling), world)
    elif spec.autoscaling is not None or existing is not None:
        _delete_if_present(changes, "HorizontalPodAutoscaler", object_name, world)


def _set_traffic(
    changes: Changes, decision: Decision, world: World, action: SetTrafficWeight
) -> None:
    owner = _owner(world)
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
        )
    text = traffic_config_text(action.generation, canary, traffic.request_id_header)
    _apply_if_changed(changes, build_traffic_configmap(owner, text), world)
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
        _apply_if_changed(changes, route, world)


def _scale_down(changes: Changes, world: World, action: ScaleDown) -> None:
    object_name = names.version_object_name(world.model.name, action.version)
    _delete_if_present(changes, "HorizontalPodAutoscaler", object_name, world)
    live = world.deployments.get(action.version)
    if live is not None and live.desired > 0:
        changes.writes.append(ScaleDeployment(object_name, 0))


def _delete_version(changes: Changes, world: World, action: DeleteDeployment) -> None:
    object_name = names.version_object_name(world.model.name, action.version)
    for kind in ("HorizontalPodAutoscaler", "Service", "Deployment"):
        _delete_if_present(changes, kind, object_name, world)


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


def plan_changes(decision: Decision, world: World, *, default_image: str) -> Changes:
    """Round 1: the writes that bring the children to what the machine decided.

    ``default_image``: the runtime image of a version whose spec names none (a setting)."""
    changes = Changes()
    owner = _owner(world)
    actions = decision.actions
    ensures = [a for a in actions if isinstance(a, EnsureDeployment)]
    for ensure in ensures:
        _apply_if_changed(changes, build_version_service(owner, ensure.version), world)
    if ensures:
        _apply_if_changed(changes, build_runtime_configmap(owner, world.spec), world)
    if ensures and world.gate.pinned_keys is not None:
        keys = build_trusted_keys_configmap(owner, world.gate.pinned_keys)
        _apply_if_changed(changes, keys, world)
    for action in actions:
        if isinstance(action, SetTrafficWeight):
            _set_traffic(changes, decision, world, action)
    for ensure in ensures:
        _ensure_deployment(changes, decision, world, ensure, default_image)
    for action in actions:
        if isinstance(action, PointServiceAt):
            _apply_if_changed(changes, build_model_service(owner, action.version), world)
        elif isinstance(action, ScaleDown):
            _scale_down(changes, world, action)
        elif isinstance(action, DeleteDeployment):
            _delete_version(changes, world, action)
        elif isinstance(action, StartAnalysisWindow):
            _start_window(changes, decision, world, action)
        elif isinstance(action, RequeueAfter):
            changes.requeue(action.seconds)
    if decision.status.canary_version is None and world.baseline is not None:
        changes.writes.append(RememberBaseline(None))
    return _hold_if_blocked(changes, world)


def _hold_if_blocked(changes: Changes, world: World) -> Changes:
    """A name taken by someone else, or an API the cluster lacks: write nothing at all.

    Not only the one object: a rollout that went on without its Service or its HTTPRoute
    would measure and decide on a split nobody applied. Held, the version that serves keeps
    serving exactly as it is, the model says why, and the first pass after the object (or
    the API) appears proceeds from where the machine stood."""
    reasons = [f.describe() for f in changes.conflicts]
    if reasons:
        changes.held = (CONFLICT_REASON, "; ".join(reasons))
    elif world.missing_apis:
        changes.held = (MISSING_API_REASON, "; ".join(world.missing_apis))
    if changes.held is not None:
        changes.writes = []
        changes.warnings = []
        changes.requeue_seconds = HOLD_RETRY
    return changes


def refused(changes: Changes, message: str) -> Changes:
    """The apiserver refused one of the writes (validation, RBAC, an admission webhook):
    the pass is held from there on, and the status says what was refused and why."""
    changes.held = (REFUSED_REASON, message)
    changes.writes = []
    changes.warnings = []
    changes.requeue_seconds = HOLD_RETRY
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
    if written:
        events.append(Event("Normal", "Reconciled", "; ".join(written)))
    events += condition_events
    writes += [PostEvent(event) for event in events]
    return writes


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
