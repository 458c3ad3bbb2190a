"""Reconcile one AxiomModel: gather observations, ask the rollout machine, execute its
actions, write status, schedule the next look.

Every trigger (create/update/resume of the model, any event on a child, a retry, the
machine's own RequeueAfter) runs this same pass, so there is one code path to get right:

1. validate the spec (a bad one is reported, never retried until it changes);
2. gate ``spec.version`` on its certificate;
3. observe (``observe.py``): Deployments; while a canary exists, the traffic generation the
   stable pods applied and the analysis window's metrics;
4. ``rollout.decide(spec, status, observations, now)``: pure;
5. execute the actions (``execute.py``), patch the status (the machine's memory in
   ``status.rollout``, what users read beside it; a merge patch of only what changed), post
   Events;
6. requeue in memory when the machine asked (``schedule_requeue``).

It is idempotent: a pass over an unchanged world reads, compares, and writes nothing. A
model at rest (phase Stable, no warm version) is looked at again only every
``resync_seconds`` (reads only: a revoked key or a replaced certificate shows in status) and
when its certificate's standing changes by time (expiry warning, expiry): ``next_look``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic

from axiom_operator import api, plan
from axiom_operator.certificates import check_certificate
from axiom_operator.context import ModelKey, OperatorContext
from axiom_operator.execute import ModelTarget, execute
from axiom_operator.kube import APIConflictError, APIError, APIUnavailableError, post_event
from axiom_operator.observe import (
    analysis_window,
    applied_generations,
    deployment_observations,
    observe_deployments,
    route_generation,
)
from axiom_operator.prometheus import source_of as prometheus_source_of
from axiom_operator.resources.owner import Owner
from axiom_operator.rollout import AnalysisWindow, Observations, RolloutSpec, RolloutStatus, decide
from axiom_operator.rollout.codec import StatusDecodeError, status_from_dict
from axiom_operator.rollout.model import TrafficMode
from axiom_operator.rollout_spec import to_rollout_spec

logger = logging.getLogger(__name__)


class InvalidSpecError(ValueError):
    """The spec cannot be acted on; retrying will not help until it changes."""


class WorldNotReadyError(RuntimeError):
    """Something the model needs does not exist yet (e.g. its certificate Secret)."""


def retry_delay(error: Exception) -> float:
    """Seconds before a failed pass is tried again, by what failed.

    One policy for both ways a pass runs (Kopf's handler and the in-memory requeue/child
    path): a lost write race is retried at once, an apiserver that is restarting soon, a
    world that is not ready yet (a Secret still to be created) a little later, and any other
    refusal (RBAC, validation) slowly, since it needs a person.
    """
    if isinstance(error, APIConflictError):
        return 1.0
    if isinstance(error, APIUnavailableError):
        return 5.0
    if isinstance(error, WorldNotReadyError):
        return 10.0
    if isinstance(error, APIError):
        return 30.0
    raise TypeError(f"no retry policy for {type(error).__name__}")


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


async def _observe(
    ctx: OperatorContext,
    key: ModelKey,
    spec: RolloutSpec,
    status: RolloutStatus,
    deployments: dict[str, plan.DeploymentState],
    model_spec: api.AxiomModelSpec,
) -> Observations:
    """What the machine sees: Deployments always; while a canary exists, whether its weight
    is live (stable pods' applied generation, or the HTTPRoute's, once its Gateway accepted
    it) and, once a window is open, the analysis figures (pods, or Prometheus)."""
    namespace, name = key
    generations: tuple[int, ...] = ()
    window: AnalysisWindow | None = None
    canary, stable = status.canary_version, status.stable_version
    if canary is not None and stable is not None:
        if spec.mode is TrafficMode.RUNTIME:
            generations = await applied_generations(ctx, name, namespace, stable)
        elif spec.mode is TrafficMode.GATEWAY_API:
            generations = await route_generation(
                ctx,
                name,
                namespace,
                gateway=model_spec.traffic.gateway_ref if model_spec.traffic else None,
            )
        baseline = ctx.baselines.get(key)
        if spec.analysis is not None and baseline and baseline.canary_version == canary:
            window = await analysis_window(
                ctx, name, namespace, baseline, stable, source=prometheus_source_of(model_spec)
            )
    if canary is None:
        ctx.baselines.pop(key, None)
    return Observations(
        deployments=deployment_observations(deployments),
        applied_traffic_generations=generations,
        analysis=window,
    )


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
        ctx.metrics.duration.observe(time.perf_counter() - started)
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
    patch = plan.merge_patch(body.get("status") or {}, status)
    if patch:
        await ctx.kube.patch_status(meta["name"], meta["namespace"], patch)
        writes += 1
    for event in events:
        await post_event(ctx.kube, body, event.type, event.reason, event.message)
    ctx.record_phase((meta["namespace"], meta["name"]), status.get("phase"))
    return writes + len(events)


def next_look(
    machine_seconds: float | None,
    expires_at: datetime | None,
    now: datetime,
    *,
    resync_seconds: float,
    expiry_warning: timedelta,
    jitter: float | None = None,
) -> float | None:
    """Seconds until this model is reconciled again with nothing else happening (None: not
    by time): the soonest of the machine's own requeue, the resync period (with +-10 % jitter
    so models do not all resync at once), and the next moment its certificate's standing
    changes by time alone (the start of the expiry warning, then the expiry itself)."""
    candidates = [] if machine_seconds is None else [machine_seconds]
    if resync_seconds > 0:
        spread = random.uniform(0.9, 1.1) if jitter is None else jitter
        candidates.append(resync_seconds * spread)
    if expires_at is not None:
        for moment in (expires_at - expiry_warning, expires_at):
            if moment > now:
                candidates.append((moment - now).total_seconds() + 1.0)
                break
    return min(candidates) if candidates else None


def schedule_requeue(ctx: OperatorContext, key: ModelKey, seconds: float | None) -> None:
    """Reconcile ``key`` again after ``seconds`` (None: cancel), in memory.

    Why not a Kopf timer or ``TemporaryError(delay=...)``: both cost API writes (Kopf's
    progress annotations, a Warning Event per retry) on every tick, and a timer also ticks for
    models at rest. An asyncio timer per model costs nothing while idle; a restarted operator
    loses it, and Kopf's resume handler reconciles every model once at start-up, which asks
    the machine again.
    """
    from axiom_operator.handlers.handle_child_event import request_reconcile

    previous = ctx.requeues.pop(key, None)
    if previous is not None:
        previous.cancel()
    if seconds is None:
        return
    loop = asyncio.get_running_loop()
    ctx.requeues[key] = loop.call_later(
        max(0.2, seconds), lambda: request_reconcile(ctx, key, "requeue")
    )


async def _reconcile(ctx: OperatorContext, body: dict[str, Any]) -> ReconcileResult:
    meta = body["metadata"]
    name, namespace, generation = meta["name"], meta["namespace"], int(meta.get("generation", 1))
    key = (namespace, name)
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
    rollout_spec = to_rollout_spec(
        spec,
        meta.get("annotations"),
        certificate_ok=gate.outcome.allowed,
        certificate_reason=f"{gate.outcome.reason}: {gate.outcome.message}",
    )
    try:
        memory = status_from_dict(old_status.get("rollout"))
    except StatusDecodeError as error:
        logger.warning("%s/%s: %s; starting from the observed world", namespace, name, error)
        memory = RolloutStatus()
    deployments = await observe_deployments(ctx, name, namespace)
    observations = await _observe(ctx, key, rollout_spec, memory, deployments, spec)
    decision = decide(rollout_spec, memory, observations, now)

    target = ModelTarget(
        body=body,
        owner=Owner(name=name, namespace=namespace, uid=meta["uid"]),
        spec=spec,
        gate=gate,
        status=decision.status,
    )
    execution = await execute(ctx, target, decision.actions, deployments)
    for version, live in execution.deployments.items():
        deployments[version] = plan.DeploymentState.from_live(live)

    expiry_warning = timedelta(seconds=ctx.settings.certificate_expiry_warning_seconds)
    status, events = plan.summarize(
        name=name,
        generation=generation,
        version=spec.version,
        old_status=old_status,
        gate=gate.outcome,
        rollout=decision.status,
        deployments=deployments,
        now=now,
        expiry_warning=expiry_warning,
    )
    if execution.written:
        events.insert(0, plan.Event("Normal", "Reconciled", "; ".join(execution.written)))
    writes = len(execution.written) + await _write_status(ctx, body, status, events)
    schedule_requeue(
        ctx,
        key,
        next_look(
            execution.requeue_seconds,
            gate.outcome.expires_at,
            now,
            resync_seconds=ctx.settings.resync_seconds,
            expiry_warning=expiry_warning,
        ),
    )
    if gate.outcome.valid is None:
        raise WorldNotReadyError(gate.outcome.message)
    return ReconcileResult(status["phase"], writes)
