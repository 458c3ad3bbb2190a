"""Progress: move the current phase forward by what spec.version asks and the world shows.

The router of a run. It picks the one path that applies, in this order: a cold rollback
under way (:mod:`.rollback`), the first deployment, spec.version equal to stable, a blocked
version, a refused certificate, and otherwise the canary: started if needed (:mod:`.lifecycle`),
held as an A/B experiment at canaryPercent, or walked through the steps (:mod:`.steps`).
"""

from __future__ import annotations

from axiom_operator.rollout.gates import gate_open
from axiom_operator.rollout.judging import analyse
from axiom_operator.rollout.lifecycle import (
    end_canary,
    fail_canary,
    progress_promotion,
    start_canary,
    start_promotion,
)
from axiom_operator.rollout.model import Gate, Outcome, Phase
from axiom_operator.rollout.rollback import progress_rollback
from axiom_operator.rollout.run import POLL_SECONDS, Run
from axiom_operator.rollout.steps import progress_steps
from axiom_operator.rollout.traffic import canary_replicas, traffic_live


def progress(run: Run) -> None:
    s = run.status
    if s.phase is Phase.ROLLING_BACK and s.rollback_target is not None:
        progress_rollback(run, s.rollback_target)
        return
    version = run.spec.version
    if s.stable_version is None or (s.phase is Phase.DEPLOYING and s.stable_version != version):
        progress_first_deploy(run)
        return
    if s.canary_version is not None and s.canary_version != version:
        end_canary(run, Outcome.SUPERSEDED, f"spec.version changed to {version}")
        run.event("Normal", "CanarySuperseded", f"canary {s.canary_version} replaced by {version}")
    if version == run.status.stable_version:
        if run.status.phase is Phase.DEPLOYING:
            if not run.has_at_least(version, run.spec.replicas):
                run.requeue(POLL_SECONDS)
                return
            run.record(version, Outcome.PROMOTED, "first deployment")
        run.enter(Phase.STABLE, f"{version} serves all traffic", "Stable", settle=True)
        return
    if version in run.status.blocked_versions:
        run.enter(
            Phase.ROLLED_BACK,
            f"{version} was rolled back and stays blocked until spec.version changes; "
            f"{run.status.stable_version} serves",
            "VersionBlocked",
            settle=True,
        )
        return
    if not run.spec.certificate_ok:
        if run.status.canary_version == version:
            end_canary(run, Outcome.FAILED, f"certificate refused: {run.spec.certificate_reason}")
        run.enter(
            Phase.BLOCKED,
            f"certificate of {version} refused: {run.spec.certificate_reason}; "
            f"{run.status.stable_version} serves",
            "CertificateRefused",
            warning=True,
        )
        return
    if run.status.canary_version is None:
        if not gate_open(run, Gate.PRE_ROLLOUT, version):
            run.set(message=f"{version} waits for the PreRollout hook; {s.stable_version} serves")
            return
        start_canary(run, version)
    progress_canary(run)


def progress_first_deploy(run: Run) -> None:
    version = run.spec.version
    if not run.spec.certificate_ok:
        run.enter(
            Phase.BLOCKED,
            f"certificate of {version} refused: {run.spec.certificate_reason}",
            "CertificateRefused",
            warning=True,
        )
        return
    old = run.status.stable_version
    if old is not None and old != version:
        run.record(old, Outcome.SUPERSEDED, f"spec.version changed to {version} before ready")
    if old != version or run.status.phase is not Phase.DEPLOYING:
        run.set(stable_version=version)
        if not run.has_at_least(version, run.spec.replicas):
            run.enter(Phase.DEPLOYING, f"deploying {version}", "Deploying")
    if run.has_at_least(version, run.spec.replicas):
        run.record(version, Outcome.PROMOTED, "first deployment")
        run.enter(Phase.STABLE, f"{version} serves all traffic", "Stable")
    else:
        run.requeue(POLL_SECONDS)


def progress_canary(run: Run) -> None:
    s = run.status
    canary = s.canary_version
    assert canary is not None
    if s.phase is Phase.PROMOTING:
        progress_promotion(run)
        return
    if s.phase is Phase.FAILED:
        return  # held at 0 % until a human promotes, rolls back, resumes or changes the spec
    never_live = s.step_started_at is None and s.canary_weight == 0.0
    first_size = canary_replicas(run.spec.mode, 0.0, run.spec.replicas)
    if never_live and first_size > 0 and not run.has_at_least(canary, first_size):
        assert s.canary_started_at is not None
        if run.seconds_since(s.canary_started_at) > run.spec.progress_deadline_seconds:
            fail_canary(
                run, f"not ready within progressDeadline {run.spec.progress_deadline_seconds:g}s"
            )
        else:
            run.requeue(POLL_SECONDS)
        return
    if run.spec.canary_percent is not None:
        progress_experiment(run, run.spec.canary_percent)
        return
    progress_steps(run, canary)


def progress_experiment(run: Run, percent: float) -> None:
    """A/B experiment: the canary is held at ``percent``; analysis records figures only."""
    canary = run.status.canary_version
    if percent >= 100:
        start_promotion(run, "canaryPercent set to 100")
        progress_promotion(run)
        return
    run.set(canary_weight=percent, paused_reason=None, step=None)
    run.enter(Phase.EXPERIMENT, f"A/B experiment: {canary} held at {percent:g}%", "ExperimentHeld")
    if traffic_live(run):
        if run.status.analysis_window_from is None:
            run.set(analysis_window_from=run.now)
        analyse(run, canary or "", act=False)
    else:
        run.requeue(POLL_SECONDS)
