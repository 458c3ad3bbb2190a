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
    retry_delay,
    schedule_requeue,
)
from axiom_operator.kube import APIError
from axiom_operator.resources.owner import owner_of

logger = logging.getLogger(__name__)


def owner_key(child: dict[str, Any]) -> ModelKey | None:
    name = owner_of(child)
    namespace = child.get("metadata", {}).get("namespace")
    return None if name is None or namespace is None else (namespace, name)


async def _run(ctx: OperatorContext, key: ModelKey, trigger: str) -> None:
    """Passes for ``key`` until no further request came in while one ran.

    A pass that fails on the apiserver (down, restarting, a lost race) is tried again on a
    timer: this path also carries the machine's own requeues (the next canary step), and no
    other trigger is guaranteed to come. Without the retry a canary whose requeue landed
    while the apiserver restarted would wait for an unrelated child event, maybe forever.
    """
    namespace, name = key
    try:
        while ctx.pending.get(key):
            ctx.pending[key] = False
            async with ctx.lock(key):
                try:
                    body = await ctx.kube.get("AxiomModel", name, namespace)
                    if body is None or body["metadata"].get("deletionTimestamp"):
                        ctx.record_phase(key, None)
                        return
                    await reconcile(ctx, body, trigger)
                except InvalidSpecError as error:
                    # In status and Events already; nothing to do until the spec changes.
                    logger.info("reconcile of %s/%s after %s: %s", namespace, name, trigger, error)
                except WorldNotReadyError as error:
                    # In status and Events already; look again when the machine asked to, or
                    # after the retry delay if it did not.
                    logger.info("reconcile of %s/%s after %s: %s", namespace, name, trigger, error)
                    if key not in ctx.requeues:
                        schedule_requeue(ctx, key, retry_delay(error))
                except APIError as error:
                    delay = retry_delay(error)
                    logger.warning(
                        "reconcile of %s/%s after %s failed, retrying in %.0f s: %s",
                        namespace,
                        name,
                        trigger,
                        delay,
                        error,
                    )
                    schedule_requeue(ctx, key, delay)
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
