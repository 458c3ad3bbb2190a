"""The canary's life: start it, promote it, fail it, end it.

Every way a canary begins or stops lives here, so the status fields a canary owns are set
and cleared in one place. The decisions *when* to call these are in :mod:`.progress`,
:mod:`.steps`, :mod:`.judging` and :mod:`.rollback`.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from axiom_operator.rollout.model import Outcome, Phase, Step, TrafficMode, WarmVersion
from axiom_operator.rollout.run import POLL_SECONDS, Run


def steps_fingerprint(steps: tuple[Step, ...]) -> str:
    """The step plan a canary runs against, recorded when it starts; :mod:`.steps` compares it
    to the spec's current steps to notice that they changed mid-canary."""
    text = ";".join(f"{step.weight}:{step.pause_seconds}" for step in steps)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def start_canary(run: Run, version: str) -> None:
    s = run.status
    run.set(
        canary_version=version,
        canary_started_at=run.now,
        canary_weight=0.0,
        step=0 if run.spec.steps else None,
        steps_fingerprint=steps_fingerprint(run.spec.steps),
        step_started_at=None,
        step_analysis_passed=False,
        paused_reason=None,
        analysis_failures=0,
        analysis_inconclusive=0,
        analysis_window_from=None,
        last_analysis=None,
        evidence=None,
    )
    if run.spec.mode is TrafficMode.REPLICAS:
        # The Service selects every version during the canary: nothing else may run.
        run.set(warm=(), previous_version=None)
    phase = Phase.CANARY if run.spec.canary_percent is None else Phase.EXPERIMENT
    run.enter(phase, f"canary {version} starting beside {s.stable_version}", "CanaryStarted")


def end_canary(run: Run, outcome: Outcome, reason: str) -> None:
    canary = run.status.canary_version
    if canary is None:
        return
    run.record(canary, outcome, reason)
    run.set(
        canary_version=None,
        canary_weight=0.0,
        effective_weight=None,
        step=None,
        step_started_at=None,
        step_analysis_passed=False,
        paused_reason=None,
        canary_started_at=None,
        analysis_window_from=None,
    )


def start_promotion(run: Run, reason: str) -> None:
    run.enter(Phase.PROMOTING, f"promoting {run.status.canary_version}: {reason}", "Promoting")


def progress_promotion(run: Run) -> None:
    """Promoting: the canary scales to full size; the Service moves once all of it is ready."""
    canary = run.status.canary_version
    assert canary is not None
    if run.has_at_least(canary, run.spec.replicas):
        finish_promotion(run)
    else:
        run.requeue(POLL_SECONDS)


def finish_promotion(run: Run) -> None:
    s = run.status
    assert s.canary_version is not None
    canary, old = s.canary_version, s.stable_version
    reason = s.message
    end_canary(run, Outcome.PROMOTED, reason)
    keep = max(run.spec.scale_down_delay_seconds, run.spec.rollback_window_seconds)
    warm = tuple(w for w in run.status.warm if w.version not in (canary, old))
    if old is not None:
        warm = (*warm, WarmVersion(old, run.now + timedelta(seconds=keep)))
    run.set(stable_version=canary, previous_version=old, warm=warm)
    run.enter(Phase.STABLE, f"{canary} promoted; {old} kept warm {keep:g}s", "Promoted")


def fail_canary(run: Run, reason: str) -> None:
    canary = run.status.canary_version
    if run.spec.auto_rollback and canary is not None:
        end_canary(run, Outcome.FAILED, reason)
        run.block(canary)
        run.enter(
            Phase.ROLLED_BACK,
            f"canary {canary} failed and was rolled back: {reason}",
            "AutoRollback",
            warning=True,
        )
    else:
        run.set(canary_weight=0.0)
        run.enter(
            Phase.FAILED,
            f"canary {canary} failed (autoRollback off, held at 0%): {reason}",
            "CanaryFailed",
            warning=True,
        )
