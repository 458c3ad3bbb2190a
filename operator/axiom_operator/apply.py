"""Apply: the planned writes, one after another, through ``kube.py``. No decision is made here.

A write that fails raises (the ``APIError`` tree) and ends the pass: the writes before it
stay done, the ones after it are not sent, and the retried pass plans again from what it
then observes, so nothing is written twice and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from axiom_operator.context import OperatorContext
from axiom_operator.resources import labels as names
from axiom_operator.values import (
    ApplyObject,
    CallGate,
    DeleteObject,
    ModelIdentity,
    PatchStatus,
    PostEvent,
    RememberBaseline,
    ScaleDeployment,
    SetInitialReplicas,
    Write,
)


@dataclass
class Applied:
    """What the writes did: a line per change (for the Reconciled Event), the Deployments as
    the apiserver answered, by version, and the number of API writes."""

    changed: list[str] = field(default_factory=list)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    api_writes: int = 0


async def apply(ctx: OperatorContext, model: ModelIdentity, writes: Sequence[Write]) -> Applied:
    applied = Applied()
    namespace = model.namespace
    for write in writes:
        if isinstance(write, ApplyObject):
            live = dict(write.live) if write.live is not None else None
            changed, obj = await ctx.kube.apply(dict(write.manifest), live)
            if changed:
                applied.changed.append(write.describe())
                applied.api_writes += 1
            if write.kind == "Deployment":
                version = obj["metadata"].get("labels", {}).get(names.VERSION_LABEL, "")
                applied.deployments[version] = obj
        elif isinstance(write, SetInitialReplicas):
            obj = await ctx.kube.bootstrap_replicas(write.name, namespace, write.replicas)
            applied.deployments[write.version] = obj
            applied.api_writes += 1
        elif isinstance(write, ScaleDeployment):
            await ctx.kube.scale("Deployment", write.name, namespace, write.replicas)
            applied.changed.append(write.describe())
            applied.api_writes += 1
        elif isinstance(write, DeleteObject):
            if await ctx.kube.delete(write.kind, write.name, namespace):
                applied.changed.append(write.describe())
                applied.api_writes += 1
        elif isinstance(write, PatchStatus):
            await ctx.kube.patch_status(model.name, namespace, dict(write.patch))
            applied.api_writes += 1
        elif isinstance(write, PostEvent):
            await ctx.events.post(model, write.event)
            applied.api_writes += 1
            ctx.notifier.notify(model, write.event)  # queued: never waits on a receiver
        elif isinstance(write, CallGate):
            ctx.gates.ask(model, write.gate, write.version)  # in the background
        elif isinstance(write, RememberBaseline):
            if write.baseline is None:
                ctx.baselines.pop(model.key, None)
            else:
                ctx.baselines[model.key] = write.baseline
    return applied
