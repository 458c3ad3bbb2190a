"""Steps and pauses: a canary walks ``spec.rollout.steps``, each a weight held for a pause.

A step's pause starts when its weight is live, and it ends only when the pause is over and
(with analysis) an analysis in this step passed. A step without a pause is held until
``axiom.dev/promote=true``. ``axiom.dev/pause`` holds the canary where it is while the
annotation is present. Steps that change mid-canary resume at :func:`resume_step`, so
traffic never goes up without analysis.
"""

from __future__ import annotations

from axiom_operator.rollout.gates import gate_open
from axiom_operator.rollout.judging import analyse
from axiom_operator.rollout.lifecycle import (
    fail_canary,
    progress_promotion,
    start_promotion,
    steps_fingerprint,
)
from axiom_operator.rollout.model import Gate, PauseReason, Phase, Step
from axiom_operator.rollout.run import POLL_SECONDS, Run
from axiom_operator.rollout.traffic import traffic_live


def resume_step(steps: tuple[Step, ...], weight: float) -> int:
    """After the steps changed mid-canary: the last step whose weight is not above the
    current one (traffic may go down, never up without analysis); the first step if none."""
    index = 0
    for position, step in enumerate(steps):
        if step.weight <= weight:
            index = position
    return index


def progress_steps(run: Run, canary: str) -> None:
    """A canary without a fixed canaryPercent: leave an A/B experiment for the steps, honour
    a pause, then progress the current step (or promote when there are no steps)."""
    if run.status.phase is Phase.EXPERIMENT:
        _continue_experiment_as_steps(run, canary)
    if _held_by_pause(run, canary):
        return
    if not run.spec.steps:
        if _promotion_confirmed(run, canary):
            start_promotion(run, "no steps: switch once the canary is ready")
            progress_promotion(run)
        return
    _progress_current_step(run, canary)


def _continue_experiment_as_steps(run: Run, canary: str) -> None:
    """canaryPercent was removed: the steps take over from the weight the experiment held."""
    run.set(
        step=resume_step(run.spec.steps, run.status.canary_weight) if run.spec.steps else None,
        step_started_at=None,
        step_analysis_passed=False,
        steps_fingerprint=steps_fingerprint(run.spec.steps),
    )
    run.enter(Phase.CANARY, f"experiment on {canary} continues as steps", "StepsStarted")


def _held_by_pause(run: Run, canary: str) -> bool:
    """True while the canary stays where it is: the pause annotation is present, or it was
    paused for another reason (inconclusive analyses) that only ``resume=true`` lifts."""
    if run.spec.requests.pause:
        if run.status.phase is not Phase.PAUSED:
            run.set(paused_reason=PauseReason.ANNOTATION)
            run.enter(Phase.PAUSED, f"canary {canary} paused by annotation", "Paused")
        return True
    if run.status.phase is Phase.PAUSED:
        if run.status.paused_reason is PauseReason.ANNOTATION:
            run.set(paused_reason=None, step_started_at=None)
            run.enter(Phase.CANARY, f"canary {canary} resumed", "Resumed")
        else:
            return True
    return False


def _promotion_confirmed(run: Run, canary: str) -> bool:
    if gate_open(run, Gate.CONFIRM_PROMOTION, canary):
        return True
    run.set(message=f"canary {canary} passed its steps; waits for the ConfirmPromotion hook")
    return False


def _progress_current_step(run: Run, canary: str) -> None:
    steps = run.spec.steps
    fingerprint = steps_fingerprint(steps)
    if fingerprint != run.status.steps_fingerprint or (run.status.step or 0) >= len(steps):
        index = resume_step(steps, run.status.canary_weight)
        run.set(
            step=index,
            steps_fingerprint=fingerprint,
            step_started_at=None,
            step_analysis_passed=False,
        )
        run.event("Normal", "StepsChanged", f"steps changed; continuing at step {index + 1}")
    index = run.status.step or 0
    step = steps[index]
    if run.status.canary_weight != step.weight:
        run.set(canary_weight=step.weight, step_started_at=None, step_analysis_passed=False)
    if not traffic_live(run):
        # Replicas mode has no weight-0 readiness gate: the deadline applies here instead.
        started = run.status.canary_started_at
        never_live = run.status.analysis_window_from is None and run.status.step == 0
        limit = run.spec.progress_deadline_seconds
        if never_live and started is not None and run.seconds_since(started) > limit:
            fail_canary(run, f"first weight not live within progressDeadline {limit:g}s")
            return
        run.requeue(POLL_SECONDS)
        return
    if run.status.step_started_at is None:
        run.set(step_started_at=run.now, analysis_window_from=run.now)
    if not analyse(run, canary, act=True):
        return
    assert run.status.step_started_at is not None
    if step.pause_seconds is None:
        return  # held until axiom.dev/promote=true
    remaining = step.pause_seconds - run.seconds_since(run.status.step_started_at)
    passed = run.spec.analysis is None or run.status.step_analysis_passed
    if remaining > 0 or not passed:
        if remaining > 0:
            run.requeue(remaining)
        return
    if index == len(steps) - 1:
        if _promotion_confirmed(run, canary):
            start_promotion(run, f"all {len(steps)} steps passed")
            progress_promotion(run)
        return
    run.set(
        step=index + 1,
        canary_weight=steps[index + 1].weight,
        step_started_at=None,
        step_analysis_passed=False,
    )
    run.event(
        "Normal",
        "StepAdvanced",
        f"canary {canary} step {index + 2}/{len(steps)} at {steps[index + 1].weight}%",
    )
    run.requeue(POLL_SECONDS)


def skip_step(run: Run) -> None:
    """``axiom.dev/promote=step``: the current step ends now, without waiting for its pause
    or an analysis; the next step starts (its weight, its own pause and analysis), or the
    canary is promoted after the last step."""
    steps = run.spec.steps
    index = min(run.status.step or 0, len(steps) - 1)
    canary = run.status.canary_version
    if index == len(steps) - 1:
        start_promotion(run, f"step {index + 1}/{len(steps)} ended by axiom.dev/promote=step")
        return
    run.set(
        step=index + 1,
        canary_weight=steps[index + 1].weight,
        step_started_at=None,
        step_analysis_passed=False,
    )
    run.event(
        "Normal",
        "StepAdvanced",
        f"canary {canary} step {index + 2}/{len(steps)} at {steps[index + 1].weight}% "
        "(axiom.dev/promote=step)",
    )
