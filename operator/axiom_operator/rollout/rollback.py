"""Manual requests (``axiom.dev/rollback``, ``promote``, ``resume``) and rollbacks.

``promote=true`` promotes the canary now; ``promote=step`` only ends its current step.

Each request acts once per appearance of its annotation (its id goes into
``status.handledRequests``). A rollback to a warm version switches the Service at once; to a
cold one it goes through ``RollingBack`` until the target is ready (:func:`progress_rollback`).
The version rolled away from stays blocked until spec.version changes.
"""

from __future__ import annotations

from datetime import timedelta

from axiom_operator.rollout.lifecycle import end_canary, start_promotion
from axiom_operator.rollout.model import Outcome, Phase, WarmVersion
from axiom_operator.rollout.run import POLL_SECONDS, Run
from axiom_operator.rollout.steps import skip_step


def manual_requests(run: Run) -> None:
    requests = run.spec.requests
    handled = set(run.status.handled_requests)
    if requests.rollback and f"rollback={requests.rollback}" not in handled:
        rollback(run, requests.rollback)
    deferred: set[str] = set()
    if requests.promote and "promote=true" not in handled:
        s = run.status
        if s.canary_version is not None and s.phase is not Phase.PROMOTING:
            start_promotion(run, "promoted by annotation axiom.dev/promote")
        elif s.stable_version is not None and run.spec.version != s.stable_version:
            # Applied together with a new spec.version: act once its canary exists.
            deferred.add("promote=true")
        else:
            run.event("Warning", "PromoteIgnored", "axiom.dev/promote: no canary to promote")
    if requests.promote_step and "promote=step" not in handled:
        s = run.status
        if s.phase is Phase.CANARY and s.step is not None and run.spec.steps:
            skip_step(run)
        else:
            run.event(
                "Warning", "PromoteIgnored", "axiom.dev/promote=step: no canary walking its steps"
            )
    if requests.resume and "resume=true" not in handled:
        resume(run)
    run.set(handled_requests=tuple(i for i in requests.ids() if i not in deferred))


def previous_of(run: Run, stable: str) -> str | None:
    s = run.status
    if s.previous_version and s.previous_version != stable:
        return s.previous_version
    for entry in s.history:
        promoted = entry.outcome is Outcome.PROMOTED
        if promoted and entry.version != stable and entry.version not in s.blocked_versions:
            return entry.version
    return None


def rollback(run: Run, value: str) -> None:
    s = run.status
    stable, canary = s.stable_version, s.canary_version
    if stable is None:
        run.event("Warning", "RollbackIgnored", "axiom.dev/rollback: nothing is deployed")
        return
    if value == "previous":
        target = stable if canary is not None else previous_of(run, stable)
        if target is None:
            run.event("Warning", "RollbackIgnored", f"no version before {stable} to roll back to")
            return
    else:
        target = value
        known = {h.version for h in s.history} | {w.version for w in s.warm}
        if target not in known | {stable}:
            run.event(
                "Warning", "RollbackIgnored", f"axiom.dev/rollback: {target} is not in history"
            )
            return
    if target == stable and canary is None:
        if s.phase is Phase.ROLLING_BACK:
            run.set(rollback_target=None)
            run.enter(Phase.STABLE, f"rollback cancelled; {stable} serves", "RollbackCancelled")
        else:
            run.event("Warning", "RollbackIgnored", f"{stable} is already serving")
        return
    if target != stable and s.source_of(target) is None and target not in run.obs.deployments:
        run.event("Warning", "RollbackIgnored", f"no package source recorded for {target}")
        return
    if canary is not None:
        end_canary(run, Outcome.ROLLED_BACK, f"rolled back to {target} by annotation")
        run.block(canary)
    if target == stable:
        run.enter(
            Phase.ROLLED_BACK,
            f"canary {canary} rolled back; {stable} serves; {canary} blocked until "
            "spec.version changes",
            "RolledBack",
        )
        return
    # Leave the current stable for an older version.
    run.record(stable, Outcome.ROLLED_BACK, f"rolled back to {target} by annotation")
    run.block(stable)
    warm = any(w.version == target for w in run.status.warm)
    if warm and run.has_at_least(target, run.spec.replicas):
        switch_stable(run, target)
        run.enter(Phase.ROLLED_BACK, f"rolled back from {stable} to warm {target}", "RolledBack")
    else:
        run.set(rollback_target=target)
        run.enter(Phase.ROLLING_BACK, f"rolling back from {stable} to {target}", "RollingBack")


def switch_stable(run: Run, target: str) -> None:
    """The Service moves to ``target`` now; the version it leaves drains for a short delay."""
    leaving = run.status.stable_version
    drain = run.now + timedelta(seconds=run.spec.scale_down_delay_seconds)
    warm = tuple(w for w in run.status.warm if w.version not in (target, leaving))
    if leaving is not None:
        warm = (*warm, WarmVersion(leaving, drain))
    run.set(stable_version=target, rollback_target=None, previous_version=None, warm=warm)


def resume(run: Run) -> None:
    s = run.status
    if s.phase is Phase.PAUSED:
        run.set(paused_reason=None, analysis_inconclusive=0, step_started_at=None)
        run.enter(Phase.CANARY, f"canary {s.canary_version} resumed", "Resumed")
    elif s.phase is Phase.FAILED:
        run.set(step=0, analysis_failures=0, step_started_at=None, step_analysis_passed=False)
        run.enter(Phase.CANARY, f"canary {s.canary_version} restarted at step 1", "Resumed")


def progress_rollback(run: Run, target: str) -> None:
    """RollingBack: the Service moves to the cold target once it is fully ready."""
    if run.has_at_least(target, run.spec.replicas):
        leaving = run.status.stable_version
        switch_stable(run, target)
        run.enter(Phase.ROLLED_BACK, f"rolled back from {leaving} to {target}", "RolledBack")
    else:
        run.requeue(POLL_SECONDS)
