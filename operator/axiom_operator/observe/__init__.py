"""Observe: every read of one pass, before anything is decided, into one ``World``.

In order: the AxiomModel itself (gone or being deleted: nothing to do), its spec (a bad one
ends the pass with ``Invalid``), the certificate gate of ``spec.version``, the machine's
memory (``status.rollout``), the children the model owns (Deployments, Services, ConfigMaps,
HPAs, and the HTTPRoute in GatewayAPI mode: one list per kind, kept only when their
controller reference names this model by uid), and while a canary exists
what the machine measures: whether its weight is live (the traffic generation the stable
pods applied, or the HTTPRoute's once its Gateway accepted it) and the analysis window's
figures (``analysis.py``).

Two reads depend on the decision. A kept version whose Deployment is gone (a cold rollback)
is rebuilt only after its certificate verifies again, and which versions those are is the
machine's to say: ``observe_rebuilds`` reads those verdicts after ``decide``. And before an
object is created, whatever already holds its name is read (``observe_creations``): the
operator writes only what its model controls.

Nothing here writes, to the apiserver or to the operator's memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pydantic

from axiom_operator import api
from axiom_operator.certificates import check_certificate
from axiom_operator.child_cache import CHILD_KINDS
from axiom_operator.context import OperatorContext
from axiom_operator.kube import APINotFoundError
from axiom_operator.observe.analysis import pods_window, prometheus_window, scrape_versions
from axiom_operator.observe.pods import applied_generations
from axiom_operator.observe.routes import route_generation
from axiom_operator.prometheus import source_of as prometheus_source_of
from axiom_operator.resources import labels as names
from axiom_operator.resources.deployment import read_deployment_state
from axiom_operator.resources.owner import adoption_requested, holder_of, is_controlled_by
from axiom_operator.rollout import (
    AnalysisWindow,
    DeploymentObservation,
    Observations,
    RolloutStatus,
    TrafficMode,
)
from axiom_operator.rollout_spec import to_rollout_spec
from axiom_operator.status_model import StatusDecodeError, read_rollout_status
from axiom_operator.values import (
    ChildKey,
    DeploymentState,
    ForeignObject,
    GateResult,
    InvalidModel,
    InvalidSpecError,
    ModelIdentity,
    ModelKey,
    World,
)

logger = logging.getLogger(__name__)

# The kinds a model owns, read each pass by the model label (the HTTPRoute too, in
# GatewayAPI mode: its CRD may not be installed, and it is never watched).
LISTED_CHILD_KINDS = CHILD_KINDS


def parse_spec(body: Mapping[str, Any]) -> api.AxiomModelSpec:
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


def deployment_states(
    children: Mapping[ChildKey, Mapping[str, Any]],
) -> dict[str, DeploymentState]:
    states = {}
    for (kind, _), live in children.items():
        if kind == "Deployment":
            state = read_deployment_state(live)
            states[state.version] = state
    return states


def deployment_observations(
    states: Mapping[str, DeploymentState],
) -> dict[str, DeploymentObservation]:
    """Only pods of the Deployment's current template count as available."""
    return {
        version: DeploymentObservation(
            desired=state.desired, available=min(state.available, state.updated)
        )
        for version, state in states.items()
    }


def read_memory(model: ModelIdentity) -> RolloutStatus:
    """The machine's memory as stored; unreadable, the machine starts from the world."""
    try:
        return read_rollout_status(model.status.get("rollout"))
    except StatusDecodeError as error:
        logger.warning(
            "%s/%s: %s; starting from the observed world", model.namespace, model.name, error
        )
        return RolloutStatus()


GATEWAY_API_MISSING = (
    "this cluster does not serve gateway.networking.k8s.io/v1 HTTPRoute: install the Gateway "
    "API CRDs, or set spec.traffic.mode to Runtime"
)


async def read_children(
    ctx: OperatorContext, model: ModelIdentity, spec: api.AxiomModelSpec
) -> tuple[dict[ChildKey, dict[str, Any]], tuple[str, ...]]:
    """The live objects this model controls, by (kind, name), and the cluster APIs the spec
    needs that the cluster does not serve."""
    kinds = list(LISTED_CHILD_KINDS)
    if spec.traffic is not None and spec.traffic.mode == TrafficMode.GATEWAY_API.value:
        kinds.append("HTTPRoute")
    cache = ctx.kube.children
    cached = [kind for kind in kinds if cache.synced(kind, model.namespace)]
    listed = [kind for kind in kinds if kind not in cached]
    children: dict[ChildKey, dict[str, Any]] = {}
    missing: list[str] = []
    labels = {names.MODEL_LABEL: model.name}
    # What the cache does not hold yet (or never: HTTPRoute) is listed, one request per kind,
    # all at once: a pass waits for the slowest list, not for the sum.
    answers: list[list[dict[str, Any]] | BaseException] = [
        cache.of_model(kind, model.namespace, model.name) for kind in cached
    ]
    answers += await asyncio.gather(
        *(ctx.kube.list(kind, model.namespace, labels) for kind in listed),
        return_exceptions=True,
    )
    for kind, found in zip(cached + listed, answers, strict=True):
        if isinstance(found, APINotFoundError):
            # A list answers 404 only when the resource type itself is not served.
            missing.append(GATEWAY_API_MISSING if kind == "HTTPRoute" else f"no API for {kind}")
            continue
        if isinstance(found, BaseException):
            raise found
        for obj in found:
            if is_controlled_by(obj, model.name, model.uid):
                children[(kind, obj["metadata"]["name"])] = obj
    return children, tuple(missing)


async def observe(
    ctx: OperatorContext, key: ModelKey, now: datetime
) -> World | InvalidModel | None:
    """What one pass of ``key`` sees (None: the model is gone or being deleted)."""
    namespace, name = key
    body = await ctx.kube.get(api.KIND, name, namespace)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    model = ModelIdentity.from_body(body)
    try:
        spec = parse_spec(body)
    except InvalidSpecError as error:
        return InvalidModel(model, str(error), now)
    gate = await check_certificate(
        ctx.kube, ctx.settings, name=name, namespace=namespace, spec=spec, cache=ctx.package_hashes
    )
    rollout_spec = to_rollout_spec(
        spec,
        model.annotations,
        certificate_ok=gate.outcome.allowed,
        certificate_reason=f"{gate.outcome.reason}: {gate.outcome.message}",
        drain_limit_seconds=ctx.settings.traffic_drain_seconds,
    )
    memory = read_memory(model)
    children, missing_apis = await read_children(ctx, model, spec)
    deployments = deployment_states(children)

    generations: tuple[int, ...] = ()
    window: AnalysisWindow | None = None
    scrapes = None
    baseline = ctx.baselines.get(key)
    canary, stable = memory.canary_version, memory.stable_version
    # A version still draining out of the split needs the stable pods' reports too.
    splitting = canary is not None or bool(memory.draining_versions)
    if splitting and stable is not None:
        if rollout_spec.mode is TrafficMode.RUNTIME:
            generations = await applied_generations(ctx, name, namespace, stable)
        elif rollout_spec.mode is TrafficMode.GATEWAY_API:
            generations = route_generation(
                children.get(("HTTPRoute", names.route_name(name))),
                spec.traffic.gateway_ref if spec.traffic else None,
            )
    if canary is not None and stable is not None:
        current = baseline if baseline and baseline.canary_version == canary else None
        if rollout_spec.analysis is not None:
            source = prometheus_source_of(spec)
            if source is None:
                scrapes = await scrape_versions(ctx, name, namespace, (canary, stable))
                if current is not None:
                    window = pods_window(current, scrapes, model=name, stable=stable)
            elif current is not None:
                window = await prometheus_window(
                    ctx, name, namespace, current, stable, source=source, now=now
                )
    return World(
        model=model,
        now=now,
        spec=spec,
        gate=gate,
        memory=memory,
        rollout_spec=rollout_spec,
        deployments=deployments,
        children=children,
        observations=Observations(
            deployments=deployment_observations(deployments),
            applied_traffic_generations=generations,
            analysis=window,
            open_gates=ctx.gates.open_for(key),
        ),
        scrapes=scrapes,
        baseline=baseline,
        missing_apis=missing_apis,
    )


async def observe_rebuilds(
    ctx: OperatorContext, world: World, versions: Iterable[tuple[str, api.AxiomModelSpec]]
) -> World:
    """``world`` with the certificate verdicts of the versions to rebuild (version, spec)."""
    gates: dict[str, GateResult] = {}
    for version, spec in versions:
        gates[version] = await check_certificate(
            ctx.kube,
            ctx.settings,
            name=world.model.name,
            namespace=world.model.namespace,
            spec=spec,
            cache=ctx.package_hashes,
        )
    return world.with_rebuild_gates(gates) if gates else world


def with_existing(world: World, existing: Mapping[ChildKey, Mapping[str, Any]]) -> World:
    """``world`` with what holds the names the plan would create (pure): an object already
    the model's (its labels were removed) or one its holder lets the model adopt is the
    model's from now on; any other is foreign, and is never written."""
    model = world.model
    found: dict[ChildKey, Mapping[str, Any]] = {}
    foreign: dict[ChildKey, ForeignObject] = {}
    for (kind, name), obj in existing.items():
        if is_controlled_by(obj, model.name, model.uid) or adoption_requested(obj, model.name):
            found[(kind, name)] = obj
        else:
            foreign[(kind, name)] = ForeignObject(kind, name, holder_of(obj))
    return world.with_found(found, foreign) if existing else world


async def observe_creations(
    ctx: OperatorContext, world: World, wanted: Iterable[ChildKey]
) -> World:
    """``world`` with whatever already holds the names of the objects the plan would create."""
    keys = list(wanted)
    found = await asyncio.gather(
        *(ctx.kube.get(kind, name, world.model.namespace) for kind, name in keys)
    )
    existing = {key: obj for key, obj in zip(keys, found, strict=True) if obj is not None}
    return with_existing(world, existing)
