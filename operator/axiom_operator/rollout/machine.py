"""The rollout state machine: ``decide(spec, status, observations, now) -> Decision``.

A pure function (no Kubernetes client, no clock, no I/O) so that every transition and every
hard case (spec changed mid-canary, a third version, a revoked certificate, an operator
restart, unreachable metrics, rollback during promotion) is a unit test on literals.
docs/rollout.md has the state diagram and the reasons behind each decision.

One run, in order, each step a facet module working on one shared :class:`.run.Run` (the
status being rewritten, the Events, the requeue wishes):

1. :mod:`.housekeeping`: forget requests whose annotation is gone, unblock versions
   spec.version moved away from, drop warm versions whose time is up.
2. :mod:`.rollback`: manual requests (``axiom.dev/rollback``, ``promote``, ``resume``).
3. :mod:`.progress`: move the current phase forward: first deployment, cold rollback
   (:mod:`.rollback`), or the canary, whose start, promotion and failure are
   :mod:`.lifecycle`, whose steps and pauses are :mod:`.steps`, and whose analysis verdicts
   are acted on in :mod:`.judging` (the verdict itself is :mod:`.analysis`).
4. :mod:`.traffic`: the split to write, the weight users really get, and the canary that
   left the split kept until no stable pod forwards to it.
5. :mod:`.housekeeping` again: keep package sources only for versions still needed.
6. :mod:`.desired`: the actions derived from the new status alone, then the Events and the
   soonest requeue.

Because desired state is derived from status and not from the transition taken, a re-run
with the persisted status produces the same actions and no event twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from axiom_operator.rollout.actions import Action, RequeueAfter
from axiom_operator.rollout.desired import desired_actions
from axiom_operator.rollout.gates import forget_wait
from axiom_operator.rollout.housekeeping import housekeeping, prune_sources
from axiom_operator.rollout.model import Observations, Phase, RolloutSpec, RolloutStatus
from axiom_operator.rollout.progress import progress
from axiom_operator.rollout.rollback import manual_requests
from axiom_operator.rollout.run import Run
from axiom_operator.rollout.traffic import (
    canary_replicas,
    effective_weight,
    settle_draining,
    sync_traffic,
)

__all__ = ["Decision", "canary_replicas", "decide"]

# Phases in which a canary exists beside the stable version.
_CANARY_PHASES = frozenset(
    {Phase.CANARY, Phase.EXPERIMENT, Phase.PAUSED, Phase.PROMOTING, Phase.FAILED}
)


@dataclass(frozen=True)
class Decision:
    status: RolloutStatus
    actions: tuple[Action, ...]


def decide(
    spec: RolloutSpec, status: RolloutStatus, observations: Observations, now: datetime
) -> Decision:
    """The next status and the actions that bring the world to it."""
    run = Run(spec, status, observations, now)
    housekeeping(run)
    forget_wait(run)
    manual_requests(run)
    progress(run)
    sync_traffic(run)
    settle_draining(run)
    if run.status.canary_version is None or run.status.phase not in _CANARY_PHASES:
        run.set(effective_weight=None)
    else:
        run.set(effective_weight=effective_weight(run))
    if run.status.warm:
        run.requeue(min(w.until for w in run.status.warm).timestamp() - now.timestamp())
    prune_sources(run)
    actions: list[Action] = [*desired_actions(run), *run.events]
    if run.requeues:
        actions.append(RequeueAfter(round(min(run.requeues), 3)))
    return Decision(run.status, tuple(actions))
