"""The Deployment (and HPA) writes of one version the machine keeps, and which versions need
their certificate checked again before they are rebuilt."""

from __future__ import annotations

import logging

from axiom_operator import api
from axiom_operator.diff import needs_apply, with_applied_hash
from axiom_operator.plan.changes import (
    Changes,
    apply_if_changed,
    delete_if_present,
    held_by_someone_else,
    model_owner,
)
from axiom_operator.resources import labels as names
from axiom_operator.resources.configmap import (
    config_hash,
    runtime_settings,
)
from axiom_operator.resources.deployment import (
    VersionInputs,
    build_deployment,
)
from axiom_operator.resources.hpa import build_hpa
from axiom_operator.rollout import (
    EnsureDeployment,
)
from axiom_operator.rollout.machine import Decision
from axiom_operator.rollout_spec import SourceDecodeError, spec_for_version
from axiom_operator.values import (
    ApplyObject,
    Event,
    GateResult,
    ScaleDeployment,
    SetInitialReplicas,
    World,
)

logger = logging.getLogger(__name__)


def version_spec(world: World, action: EnsureDeployment) -> api.AxiomModelSpec | None:
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
            spec = version_spec(world, action)
            if spec is not None:
                found.append((action.version, spec))
    return found


def ensure_deployment(
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
    owner = model_owner(world)
    version = action.version
    object_name = names.version_object_name(owner.name, version)
    is_spec_version = version == world.spec.version
    hpa_owned = world.spec.autoscaling is not None and version == decision.status.stable_version
    existing = world.deployments.get(version)
    if existing is not None and not (is_spec_version and world.gate.outcome.allowed):
        if not hpa_owned and existing.desired != action.replicas:
            changes.writes.append(ScaleDeployment(object_name, action.replicas))
        return
    spec = version_spec(world, action)
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
    if held_by_someone_else(changes, "Deployment", object_name, world):
        return
    live = world.child("Deployment", object_name)
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
        apply_if_changed(changes, build_hpa(owner, version, spec.autoscaling), world)
    elif spec.autoscaling is not None or existing is not None:
        delete_if_present(changes, "HorizontalPodAutoscaler", object_name, world)
