"""A child (Deployment, Service, HPA, runtime ConfigMap) changed or vanished: reconcile its
owner, so drift is repaired and the model's status follows its Deployments.

Child events come in bursts (every pod that becomes ready updates the Deployment status), so
requests are coalesced: while a pass for a model is queued or running, further requests only
mark it dirty, and one more pass runs after it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from axiom_operator.context import ModelKey, OperatorContext
from axiom_operator.handlers.handle_reconcile_model import (
    InvalidSpecError,
    WorldNotReadyError,
    reconcile,
)
from axiom_operator.kube import APIError
from axiom_operator.resources.owner import owner_of

logger = logging.getLogger(__name__)


def owner_key(child: dict[str, Any]) -> ModelKey | None:
    name = owner_of(child)
    namespace = child.get("metadata", {}).get("namespace")
    return None if name is None or namespace is None else (namespace, name)


async def _run(ctx: OperatorContext, key: ModelKey, trigger: str) -> None:
    namespace, name = key
    try:
        while ctx.pending.get(key):
            ctx.pending[key] = False
            async with ctx.lock(key):
                body = await ctx.kube.get("AxiomModel", name, namespace)
                if body is None or body["metadata"].get("deletionTimestamp"):
                    ctx.record_phase(key, None)
                    return
                try:
                    await reconcile(ctx, body, trigger)
                except (InvalidSpecError, WorldNotReadyError) as error:
                    # Already in status and Events; the model's own handler retries.
                    logger.info("reconcile of %s/%s after child event: %s", namespace, name, error)
                except APIError as error:
                    logger.warning("reconcile of %s/%s failed: %s", namespace, name, error)
    finally:
        ctx.pending.pop(key, None)


def request_reconcile(ctx: OperatorContext, key: ModelKey, trigger: str) -> None:
    """Reconcile ``key`` soon, at most one queued pass per model."""
    if key in ctx.pending:
        ctx.pending[key] = True
        return
    ctx.pending[key] = True
    task = asyncio.create_task(_run(ctx, key, trigger))
    ctx.tasks.add(task)
    task.add_done_callback(ctx.tasks.discard)


def handle_child_event(ctx: OperatorContext, event_type: str | None, child: dict[str, Any]) -> None:
    if event_type is None:  # the initial listing: the models' resume handlers cover it
        return
    key = owner_key(child)
    if key is not None:
        request_reconcile(ctx, key, "child")
