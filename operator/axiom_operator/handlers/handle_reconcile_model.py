"""Reconcile one AxiomModel: validate, gate on the certificate, apply the children that
differ, retire old versions, write status when it changed, post Events for decisions.

Every trigger (create/update/resume of the model, any event on a child, a retry) runs this
same pass, so there is one code path to get right. It is idempotent: a pass over an
unchanged world reads, compares, and writes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic

from axiom_operator import api, plan
from axiom_operator.certificates import check_certificate
from axiom_operator.context import OperatorContext
from axiom_operator.kube import post_event
from axiom_operator.resources import labels as names
from axiom_operator.resources.configmap import (
    build_runtime_configmap,
    config_hash,
    runtime_settings,
)
from axiom_operator.resources.deployment import VersionInputs, build_deployment
from axiom_operator.resources.hpa import build_hpa
from axiom_operator.resources.owner import Owner, owner_of
from axiom_operator.resources.service import build_model_service, build_version_service

logger = logging.getLogger(__name__)


class InvalidSpecError(ValueError):
    """The spec cannot be acted on; retrying will not help until it changes."""


class WorldNotReadyError(RuntimeError):
    """Something the model needs does not exist yet (e.g. its certificate Secret)."""


@dataclass(frozen=True)
class ReconcileResult:
    phase: str
    writes: int


def parse_spec(body: dict[str, Any]) -> api.AxiomModelSpec:
    """The validated spec, or InvalidSpecError naming every bad field."""
    problems = api.model_name_errors(body["metadata"]["name"])
    try:
        spec = api.AxiomModelSpec.model_validate(body.get("spec") or {})
    except pydantic.ValidationError as error:
        problems += [
            f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}".replace("spec.: ", "spec: ")
            for e in error.errors()
        ]
        spec = None
    if problems or spec is None:
        raise InvalidSpecError("; ".join(problems))
    return spec


def _status_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(old.get(key) != value for key, value in new.items())


async def _observe_deployments(
    ctx: OperatorContext, name: str, namespace: str
) -> dict[str, plan.DeploymentState]:
    live = await ctx.kube.list("Deployment", namespace, {names.MODEL_LABEL: name})
    states = {}
    for deployment in live:
        if owner_of(deployment) == name:
            state = plan.DeploymentState.from_live(deployment)
            states[state.version] = state
    return states


async def _apply(
    ctx: OperatorContext, manifest: dict[str, Any], written: list[str]
) -> tuple[dict[str, Any], bool]:
    """Apply if different; returns (live object, whether it was created now)."""
    meta = manifest["metadata"]
    live = await ctx.kube.get(manifest["kind"], meta["name"], meta["namespace"])
    changed, obj = await ctx.kube.apply(manifest, live)
    if changed:
        written.append(f"{'updated' if live else 'created'} {manifest['kind']} {meta['name']}")
    return obj, live is None


async def reconcile(ctx: OperatorContext, body: dict[str, Any], trigger: str) -> ReconcileResult:
    """One pass. Raises InvalidSpecError (permanent) or WorldNotReadyError (temporary)."""
    started = time.perf_counter()
    try:
        result = await _reconcile(ctx, body)
    except InvalidSpecError:
        ctx.metrics.reconciles.labels(trigger, "invalid").inc()
        ctx.metrics.errors.labels("permanent").inc()
        raise
    except WorldNotReadyError:
        ctx.metrics.reconciles.labels(trigger, "waiting").inc()
        ctx.metrics.errors.labels("temporary").inc()
        raise
    except Exception:
        ctx.metrics.reconciles.labels(trigger, "error").inc()
        ctx.metrics.errors.labels("unexpected").inc()
        raise
    finally:
        ctx.metrics.duration.labels().observe(time.perf_counter() - started)
    ctx.metrics.reconciles.labels(trigger, "ok").inc()
    return result


async def _write_status(
    ctx: OperatorContext,
    body: dict[str, Any],
    status: dict[str, Any],
    events: list[plan.Event],
) -> int:
    meta = body["metadata"]
    writes = 0
    if _status_changed(body.get("status") or {}, status):
        await ctx.kube.patch_status(meta["name"], meta["namespace"], status)
        writes += 1
    for event in events:
        await post_event(ctx.kube, body, event.type, event.reason, event.message)
    ctx.record_phase((meta["namespace"], meta["name"]), status.get("phase"))
    return writes + len(events)


async def _reconcile(ctx: OperatorContext, body: dict[str, Any]) -> ReconcileResult:
    meta = body["metadata"]
    name, namespace, generation = meta["name"], meta["namespace"], int(meta.get("generation", 1))
    old_status: dict[str, Any] = body.get("status") or {}
    now = datetime.now(UTC)
    try:
        spec = parse_spec(body)
    except InvalidSpecError as error:
        status, events = plan.invalid_spec_status(old_status, generation, str(error), now)
        await _write_status(ctx, body, status, events)
        raise

    gate = await check_certificate(
        ctx.kube, ctx.settings, name=name, namespace=namespace, spec=spec, cache=ctx.package_hashes
    )
    deployments = await _observe_deployments(ctx, name, namespace)
    decision = plan.decide(spec, old_status, gate.outcome, deployments)
    owner = Owner(name=name, namespace=namespace, uid=meta["uid"])
    written: list[str] = []

    if decision.apply_target:
        settings_data = runtime_settings(spec)
        await _apply(ctx, build_runtime_configmap(owner, spec), written)
        inputs = VersionInputs(
            owner=owner,
            spec=spec,
            image=(spec.runtime.image if spec.runtime and spec.runtime.image else None)
            or ctx.settings.runtime_image,
            certificate=gate.certificate,
            trusted_keys=gate.trusted_keys,
            config_hash=config_hash(settings_data),
            certificate_hash=gate.certificate_hash,
        )
        live_deployment, created = await _apply(ctx, build_deployment(inputs), written)
        if created and spec.autoscaling is not None:
            first = spec.replicas or spec.autoscaling.min_replicas
            live_deployment = await ctx.kube.bootstrap_replicas(
                live_deployment["metadata"]["name"], namespace, first
            )
        deployments[spec.version] = plan.DeploymentState.from_live(live_deployment)
        await _apply(ctx, build_version_service(owner, spec.version), written)
        version_object = names.version_object_name(name, spec.version)
        if spec.autoscaling is not None:
            await _apply(ctx, build_hpa(owner, spec.version, spec.autoscaling), written)
        elif await ctx.kube.delete("HorizontalPodAutoscaler", version_object, namespace):
            written.append(f"deleted HorizontalPodAutoscaler {version_object}")
    if decision.serving_version is not None:
        await _apply(ctx, build_model_service(owner, decision.serving_version), written)
    for version in decision.retire:
        retired = names.version_object_name(name, version)
        for kind in ("HorizontalPodAutoscaler", "Service", "Deployment"):
            if await ctx.kube.delete(kind, retired, namespace):
                written.append(f"deleted {kind} {retired}")
        deployments.pop(version, None)

    status, events = plan.summarize(
        name=name,
        generation=generation,
        spec=spec,
        old_status=old_status,
        gate=gate.outcome,
        decision=decision,
        deployments=deployments,
        now=now,
    )
    if written:
        events.insert(0, plan.Event("Normal", "Reconciled", "; ".join(written)))
    writes = len(written) + await _write_status(ctx, body, status, events)
    if gate.outcome.valid is None:
        raise WorldNotReadyError(gate.outcome.message)
    return ReconcileResult(status["phase"], writes)
