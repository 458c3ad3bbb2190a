"""One reconcile pass, as a straight pipeline: observe -> decide -> plan -> apply.

Every trigger (create/update/resume of the model, an event on a child, the machine's own
requeue, the resync, a retry) runs this same pass through ``queue.py``, so there is one code
path to get right:

1. ``observe`` (``observe/``): every read, into one ``World``. A model that is gone ends the
   pass; a bad spec is reported (``plan_invalid``) and ends it with ``InvalidSpecError``.
2. ``decide`` (``rollout/``): the pure rollout machine; its status is the machine's memory.
3. ``observe_rebuilds``: a read that depends on the decision (the certificates of kept
   versions to rebuild).
4. ``plan_changes`` (``plan.py``): the writes to the children, in a safe order. Before
   anything is created, ``observe_creations`` reads what holds its name: a name taken by
   someone else holds the whole pass (nothing is written; the status says why). ``apply``
   (``apply.py``) sends the writes.
5. ``plan_report``: the status users read (``status_view.py``) as a merge patch of what
   changed, and the Events; ``apply`` sends them.
6. The next look: the soonest of the machine's requeue, the resync, the moment the
   certificate's standing changes by time, and a retry while the world is not ready.

It is idempotent: a pass over an unchanged world reads, plans nothing and writes nothing.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from axiom_operator.apply import Applied, apply
from axiom_operator.context import OperatorContext
from axiom_operator.kube import APIForbiddenError, APIInvalidError
from axiom_operator.observe import observe, observe_creations, observe_rebuilds
from axiom_operator.plan import (
    deployments_after,
    plan_changes,
    plan_invalid,
    plan_report,
    rebuild_versions,
    refused,
)
from axiom_operator.rollout import decide
from axiom_operator.values import InvalidModel, InvalidSpecError, ModelKey

# A model whose certificate or trusted keys do not exist yet is looked at again this soon.
WORLD_NOT_READY_RETRY = 10.0


@dataclass(frozen=True)
class PassResult:
    phase: str
    writes: int  # API writes this pass sent
    requeue_seconds: float | None  # when to look again with nothing else happening
    waiting_for: str | None = None  # the world is not ready: what is missing
    # The next look is only the periodic resync (nothing is due): the queue runs such passes
    # after every pass something asked for, so 1,000 resyncs never delay a change.
    requeue_is_resync: bool = False


def resync_phase(key: ModelKey) -> float:
    """Where in the resync period this model's resync falls, in [0, 1): fixed per model (a
    hash of its name), so that 1,000 models created at once resync evenly spread over the
    period instead of together one period later (a random jitter of +-10 % only smears such a
    burst over a fifth of the period)."""
    return zlib.crc32(f"{key[0]}/{key[1]}".encode()) / 2**32


def next_look(
    machine_seconds: float | None,
    expires_at: datetime | None,
    now: datetime,
    *,
    resync_seconds: float,
    expiry_warning: timedelta,
    phase: float = 0.0,
) -> float | None:
    """Seconds until this model is reconciled again with nothing else happening (None: not
    by time): the soonest of the machine's own requeue, the model's next resync slot (every
    ``resync_seconds``, at its ``phase`` of the period: see :func:`resync_phase`), and the
    next moment its certificate's standing changes by time alone (the start of the expiry
    warning, then the expiry itself)."""
    candidates = [] if machine_seconds is None else [machine_seconds]
    if resync_seconds > 0:
        into = (now.timestamp() - phase * resync_seconds) % resync_seconds
        until_slot = resync_seconds - into
        if until_slot < 1.0:  # a pass just before its slot: the slot after is soon enough
            until_slot += resync_seconds
        candidates.append(until_slot)
    if expires_at is not None:
        for moment in (expires_at - expiry_warning, expires_at):
            if moment > now:
                candidates.append((moment - now).total_seconds() + 1.0)
                break
    return min(candidates) if candidates else None


async def run_pass(ctx: OperatorContext, key: ModelKey, trigger: str) -> PassResult | None:
    """One pass of ``key`` (None: the model is gone). Counted in the operator's metrics by
    trigger and result; raises InvalidSpecError or the APIError tree."""
    started = time.perf_counter()
    try:
        result = await _run_pass(ctx, key)
    except InvalidSpecError:
        ctx.metrics.reconciles.labels(trigger, "invalid").inc()
        ctx.metrics.errors.labels("permanent").inc()
        raise
    except Exception:
        ctx.metrics.reconciles.labels(trigger, "error").inc()
        ctx.metrics.errors.labels("unexpected").inc()
        raise
    finally:
        ctx.metrics.duration.observe(time.perf_counter() - started)
    if result is not None and result.waiting_for is not None:
        ctx.metrics.reconciles.labels(trigger, "waiting").inc()
        ctx.metrics.errors.labels("temporary").inc()
    else:
        ctx.metrics.reconciles.labels(trigger, "ok").inc()
    return result


async def _run_pass(ctx: OperatorContext, key: ModelKey) -> PassResult | None:
    now = datetime.now(UTC)
    world = await observe(ctx, key, now)
    if world is None:
        return None
    if isinstance(world, InvalidModel):
        await apply(ctx, world.model, plan_invalid(world))
        ctx.record_phase(key, "Invalid")
        raise InvalidSpecError(world.message)

    decision = decide(world.rollout_spec, world.memory, world.observations, now)
    world = await observe_rebuilds(ctx, world, rebuild_versions(decision, world))

    changes = plan_changes(decision, world, default_image=ctx.settings.runtime_image)
    if changes.creations():
        world = await observe_creations(ctx, world, changes.creations())
        changes = plan_changes(decision, world, default_image=ctx.settings.runtime_image)
    try:
        applied = await apply(ctx, world.model, changes.writes)
    except (APIInvalidError, APIForbiddenError) as error:
        # Retrying at once will not help: a person must change the spec, the RBAC or the
        # object in the way, so the model says so instead of failing silently every 30 s.
        changes = refused(changes, str(error))
        applied = Applied()
    expiry_warning = timedelta(seconds=ctx.settings.certificate_expiry_warning_seconds)
    report = plan_report(
        decision,
        world,
        changes,
        written=applied.changed,
        deployments=deployments_after(world, applied.deployments),
        expiry_warning=expiry_warning,
    )
    reported = await apply(ctx, world.model, report)
    ctx.record_phase(key, decision.status.phase.value)

    gate = world.gate.outcome
    waiting = gate.message if gate.valid is None else None
    due = next_look(
        changes.requeue_seconds,
        gate.expires_at,
        now,
        resync_seconds=0,
        expiry_warning=expiry_warning,
    )
    requeue = next_look(
        changes.requeue_seconds,
        gate.expires_at,
        now,
        resync_seconds=ctx.settings.resync_seconds,
        expiry_warning=expiry_warning,
        phase=resync_phase(key),
    )
    resync_only = requeue is not None and requeue != due
    if waiting is not None:
        requeue = WORLD_NOT_READY_RETRY if requeue is None else min(requeue, WORLD_NOT_READY_RETRY)
    if changes.held is not None:
        waiting = changes.held[1]
    return PassResult(
        phase=decision.status.phase.value,
        writes=applied.api_writes + reported.api_writes,
        requeue_seconds=requeue,
        waiting_for=waiting,
        requeue_is_resync=resync_only and waiting is None,
    )
