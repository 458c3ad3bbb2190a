"""The rollout state machine: ``decide(spec, status, observations, now) -> Decision``.

A pure function (no Kubernetes client, no clock, no I/O) so that every transition and every
hard case (spec changed mid-canary, a third version, a revoked certificate, an operator
restart, unreachable metrics, rollback during promotion) is a unit test on literals.
docs/rollout.md has the state diagram and the reasons behind each decision.

Shape of one run: housekeeping (forget requests whose annotation is gone, unblock versions
spec.version moved away from), manual requests (rollback, promote, resume), progress of
the current phase, then the desired-state actions derived from the new status alone.
Because desired state is derived from status and not from the transition taken, a re-run
with the persisted status produces the same actions and no event twice.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from axiom_operator.rollout.actions import (
    Action,
    DeleteDeployment,
    EmitEvent,
    EnsureDeployment,
    PointServiceAt,
    RequeueAfter,
    ScaleDown,
    SetTrafficWeight,
    StartAnalysisWindow,
)
from axiom_operator.rollout.analysis import Verdict, evaluate
from axiom_operator.rollout.model import (
    HISTORY_LIMIT,
    AnalysisRecord,
    HistoryEntry,
    Observations,
    Outcome,
    PauseReason,
    Phase,
    RolloutSpec,
    RolloutStatus,
    Step,
    TrafficMode,
    TrafficState,
    WarmVersion,
)

# How often to look again while waiting for pods or for a weight to become live.
POLL_SECONDS = 2.0
# Phases in which a canary exists beside the stable version.
_CANARY_PHASES = frozenset(
    {Phase.CANARY, Phase.EXPERIMENT, Phase.PAUSED, Phase.PROMOTING, Phase.FAILED}
)


@dataclass(frozen=True)
class Decision:
    status: RolloutStatus
    actions: tuple[Action, ...]


def steps_fingerprint(steps: tuple[Step, ...]) -> str:
    text = ";".join(f"{step.weight}:{step.pause_seconds}" for step in steps)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def canary_replicas(mode: TrafficMode, weight: float, replicas: int) -> int:
    """Canary size for ``weight``. Runtime/GatewayAPI: enough for its share, at least one so
    it is ready before traffic moves. Replicas: the count whose ratio to the (untouched)
    stable replicas is closest to the weight, at least one while the weight is above 0."""
    if mode is not TrafficMode.REPLICAS:
        return max(1, math.ceil(replicas * weight / 100.0))
    if weight <= 0:
        return 0
    if weight >= 100:
        return replicas
    return max(1, round(replicas * weight / (100.0 - weight)))


def resume_step(steps: tuple[Step, ...], weight: float) -> int:
    """After the steps changed mid-canary: the last step whose weight is not above the
    current one (traffic may go down, never up without analysis); the first step if none."""
    index = 0
    for position, step in enumerate(steps):
        if step.weight <= weight:
            index = position
    return index


class _Run:
    """One evaluation: the status being rewritten, the events, the requeue wishes."""

    def __init__(
        self, spec: RolloutSpec, status: RolloutStatus, obs: Observations, now: datetime
    ) -> None:
        self.spec = spec
        self.status = status
        self.obs = obs
        self.now = now
        self.events: list[EmitEvent] = []
        self.requeues: list[float] = []

    # -- small helpers --------------------------------------------------------------------

    def set(self, **changes: Any) -> None:
        self.status = replace(self.status, **changes)

    def event(self, kind: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.events.append(EmitEvent(kind, reason, message))

    def requeue(self, seconds: float) -> None:
        self.requeues.append(max(0.5, seconds))

    def enter(
        self, phase: Phase, message: str, reason: str, warning: bool = False, settle: bool = False
    ) -> None:
        """Move to ``phase``; the Event fires only when the phase or message really changes.
        ``settle``: a resting state reached again keeps the message of the transition into it,
        so the status is a fixed point and no Event repeats."""
        if self.status.phase is phase and (settle or self.status.message == message):
            return
        self.set(phase=phase, message=message)
        self.event("Warning" if warning else "Normal", reason, message)

    def record(self, version: str, outcome: Outcome, reason: str) -> None:
        entry = HistoryEntry(version=version, outcome=outcome, at=self.now, reason=reason)
        self.set(history=(entry, *self.status.history)[:HISTORY_LIMIT])

    def block(self, version: str) -> None:
        if version not in self.status.blocked_versions:
            self.set(blocked_versions=(*self.status.blocked_versions, version))

    def available(self, version: str) -> int:
        observed = self.obs.deployments.get(version)
        return 0 if observed is None else observed.available

    def has_at_least(self, version: str, replicas: int) -> bool:
        return replicas > 0 and self.available(version) >= replicas

    def seconds_since(self, moment: datetime) -> float:
        return (self.now - moment).total_seconds()

    # -- housekeeping ---------------------------------------------------------------------

    def housekeeping(self) -> None:
        present = self.spec.requests.ids()
        self.set(
            handled_requests=tuple(i for i in self.status.handled_requests if i in present),
            # A block lasts until spec.version moves to something else.
            blocked_versions=tuple(
                v for v in self.status.blocked_versions if v == self.spec.version
            ),
            warm=tuple(w for w in self.status.warm if w.until > self.now),
        )
        if self.status.previous_version not in {w.version for w in self.status.warm}:
            self.set(previous_version=None)
        if self.spec.source:
            sources = dict(self.status.sources)
            sources[self.spec.version] = self.spec.source
            self.set(sources=tuple(sorted(sources.items())))

    def prune_sources(self) -> None:
        s = self.status
        keep = {self.spec.version, s.stable_version, s.canary_version, s.rollback_target}
        keep |= {w.version for w in s.warm} | {h.version for h in s.history}
        self.set(sources=tuple((v, src) for v, src in s.sources if v in keep))

    # -- manual requests ------------------------------------------------------------------

    def manual_requests(self) -> None:
        requests = self.spec.requests
        handled = set(self.status.handled_requests)
        if requests.rollback and f"rollback={requests.rollback}" not in handled:
            self.rollback(requests.rollback)
        deferred: set[str] = set()
        if requests.promote and "promote=true" not in handled:
            s = self.status
            if s.canary_version is not None and s.phase is not Phase.PROMOTING:
                self.start_promotion("promoted by annotation axiom.dev/promote")
            elif s.stable_version is not None and self.spec.version != s.stable_version:
                # Applied together with a new spec.version: act once its canary exists.
                deferred.add("promote=true")
            else:
                self.event("Warning", "PromoteIgnored", "axiom.dev/promote: no canary to promote")
        if requests.resume and "resume=true" not in handled:
            self.resume()
        self.set(handled_requests=tuple(i for i in requests.ids() if i not in deferred))

    def previous_of(self, stable: str) -> str | None:
        s = self.status
        if s.previous_version and s.previous_version != stable:
            return s.previous_version
        for entry in s.history:
            promoted = entry.outcome is Outcome.PROMOTED
            if promoted and entry.version != stable and entry.version not in s.blocked_versions:
                return entry.version
        return None

    def rollback(self, value: str) -> None:
        s = self.status
        stable, canary = s.stable_version, s.canary_version
        if stable is None:
            self.event("Warning", "RollbackIgnored", "axiom.dev/rollback: nothing is deployed")
            return
        if value == "previous":
            target = stable if canary is not None else self.previous_of(stable)
            if target is None:
                self.event(
                    "Warning", "RollbackIgnored", f"no version before {stable} to roll back to"
                )
                return
        else:
            target = value
            known = {h.version for h in s.history} | {w.version for w in s.warm}
            if target not in known | {stable}:
                self.event(
                    "Warning", "RollbackIgnored", f"axiom.dev/rollback: {target} is not in history"
                )
                return
        if target == stable and canary is None:
            if s.phase is Phase.ROLLING_BACK:
                self.set(rollback_target=None)
                self.enter(
                    Phase.STABLE, f"rollback cancelled; {stable} serves", "RollbackCancelled"
                )
            else:
                self.event("Warning", "RollbackIgnored", f"{stable} is already serving")
            return
        if target != stable and s.source_of(target) is None and target not in self.obs.deployments:
            self.event("Warning", "RollbackIgnored", f"no package source recorded for {target}")
            return
        if canary is not None:
            self.end_canary(Outcome.ROLLED_BACK, f"rolled back to {target} by annotation")
            self.block(canary)
        if target == stable:
            self.enter(
                Phase.ROLLED_BACK,
                f"canary {canary} rolled back; {stable} serves; {canary} blocked until "
                "spec.version changes",
                "RolledBack",
            )
            return
        # Leave the current stable for an older version.
        self.record(stable, Outcome.ROLLED_BACK, f"rolled back to {target} by annotation")
        self.block(stable)
        warm = any(w.version == target for w in self.status.warm)
        if warm and self.has_at_least(target, self.spec.replicas):
            self.switch_stable(target)
            self.enter(
                Phase.ROLLED_BACK, f"rolled back from {stable} to warm {target}", "RolledBack"
            )
        else:
            self.set(rollback_target=target)
            self.enter(Phase.ROLLING_BACK, f"rolling back from {stable} to {target}", "RollingBack")

    def switch_stable(self, target: str) -> None:
        """The Service moves to ``target`` now; the version it leaves drains for a short delay."""
        leaving = self.status.stable_version
        drain = self.now + timedelta(seconds=self.spec.scale_down_delay_seconds)
        warm = tuple(w for w in self.status.warm if w.version not in (target, leaving))
        if leaving is not None:
            warm = (*warm, WarmVersion(leaving, drain))
        self.set(stable_version=target, rollback_target=None, previous_version=None, warm=warm)

    def resume(self) -> None:
        s = self.status
        if s.phase is Phase.PAUSED:
            self.set(paused_reason=None, analysis_inconclusive=0, step_started_at=None)
            self.enter(Phase.CANARY, f"canary {s.canary_version} resumed", "Resumed")
        elif s.phase is Phase.FAILED:
            self.set(step=0, analysis_failures=0, step_started_at=None, step_analysis_passed=False)
            self.enter(Phase.CANARY, f"canary {s.canary_version} restarted at step 1", "Resumed")

    # -- canary lifecycle -----------------------------------------------------------------

    def start_canary(self, version: str) -> None:
        s = self.status
        self.set(
            canary_version=version,
            canary_started_at=self.now,
            canary_weight=0.0,
            step=0 if self.spec.steps else None,
            steps_fingerprint=steps_fingerprint(self.spec.steps),
            step_started_at=None,
            step_analysis_passed=False,
            paused_reason=None,
            analysis_failures=0,
            analysis_inconclusive=0,
            analysis_window_from=None,
            last_analysis=None,
        )
        if self.spec.mode is TrafficMode.REPLICAS:
            # The Service selects every version during the canary: nothing else may run.
            self.set(warm=(), previous_version=None)
        phase = Phase.CANARY if self.spec.canary_percent is None else Phase.EXPERIMENT
        self.enter(phase, f"canary {version} starting beside {s.stable_version}", "CanaryStarted")

    def end_canary(self, outcome: Outcome, reason: str) -> None:
        canary = self.status.canary_version
        if canary is None:
            return
        self.record(canary, outcome, reason)
        self.set(
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

    def start_promotion(self, reason: str) -> None:
        self.enter(
            Phase.PROMOTING, f"promoting {self.status.canary_version}: {reason}", "Promoting"
        )

    def finish_promotion(self) -> None:
        s = self.status
        assert s.canary_version is not None
        canary, old = s.canary_version, s.stable_version
        reason = s.message
        self.end_canary(Outcome.PROMOTED, reason)
        keep = max(self.spec.scale_down_delay_seconds, self.spec.rollback_window_seconds)
        warm = tuple(w for w in self.status.warm if w.version not in (canary, old))
        if old is not None:
            warm = (*warm, WarmVersion(old, self.now + timedelta(seconds=keep)))
        self.set(stable_version=canary, previous_version=old, warm=warm)
        self.enter(Phase.STABLE, f"{canary} promoted; {old} kept warm {keep:g}s", "Promoted")

    def fail_canary(self, reason: str) -> None:
        canary = self.status.canary_version
        if self.spec.auto_rollback and canary is not None:
            self.end_canary(Outcome.FAILED, reason)
            self.block(canary)
            self.enter(
                Phase.ROLLED_BACK,
                f"canary {canary} failed and was rolled back: {reason}",
                "AutoRollback",
                warning=True,
            )
        else:
            self.set(canary_weight=0.0)
            self.enter(
                Phase.FAILED,
                f"canary {canary} failed (autoRollback off, held at 0%): {reason}",
                "CanaryFailed",
                warning=True,
            )

    # -- progress -------------------------------------------------------------------------

    def progress(self) -> None:
        s = self.status
        if s.phase is Phase.ROLLING_BACK and s.rollback_target is not None:
            self.progress_rollback(s.rollback_target)
            return
        version = self.spec.version
        if s.stable_version is None or (s.phase is Phase.DEPLOYING and s.stable_version != version):
            self.progress_first_deploy()
            return
        if s.canary_version is not None and s.canary_version != version:
            self.end_canary(Outcome.SUPERSEDED, f"spec.version changed to {version}")
            self.event(
                "Normal", "CanarySuperseded", f"canary {s.canary_version} replaced by {version}"
            )
        if version == self.status.stable_version:
            if self.status.phase is Phase.DEPLOYING:
                if not self.has_at_least(version, self.spec.replicas):
                    self.requeue(POLL_SECONDS)
                    return
                self.record(version, Outcome.PROMOTED, "first deployment")
            self.enter(Phase.STABLE, f"{version} serves all traffic", "Stable", settle=True)
            return
        if version in self.status.blocked_versions:
            self.enter(
                Phase.ROLLED_BACK,
                f"{version} was rolled back and stays blocked until spec.version changes; "
                f"{self.status.stable_version} serves",
                "VersionBlocked",
                settle=True,
            )
            return
        if not self.spec.certificate_ok:
            if self.status.canary_version == version:
                self.end_canary(
                    Outcome.FAILED, f"certificate refused: {self.spec.certificate_reason}"
                )
            self.enter(
                Phase.BLOCKED,
                f"certificate of {version} refused: {self.spec.certificate_reason}; "
                f"{self.status.stable_version} serves",
                "CertificateRefused",
                warning=True,
            )
            return
        if self.status.canary_version is None:
            self.start_canary(version)
        self.progress_canary()

    def progress_first_deploy(self) -> None:
        version = self.spec.version
        if not self.spec.certificate_ok:
            self.enter(
                Phase.BLOCKED,
                f"certificate of {version} refused: {self.spec.certificate_reason}",
                "CertificateRefused",
                warning=True,
            )
            return
        old = self.status.stable_version
        if old is not None and old != version:
            self.record(old, Outcome.SUPERSEDED, f"spec.version changed to {version} before ready")
        if old != version or self.status.phase is not Phase.DEPLOYING:
            self.set(stable_version=version)
            if not self.has_at_least(version, self.spec.replicas):
                self.enter(Phase.DEPLOYING, f"deploying {version}", "Deploying")
        if self.has_at_least(version, self.spec.replicas):
            self.record(version, Outcome.PROMOTED, "first deployment")
            self.enter(Phase.STABLE, f"{version} serves all traffic", "Stable")
        else:
            self.requeue(POLL_SECONDS)

    def progress_rollback(self, target: str) -> None:
        if self.has_at_least(target, self.spec.replicas):
            leaving = self.status.stable_version
            self.switch_stable(target)
            self.enter(Phase.ROLLED_BACK, f"rolled back from {leaving} to {target}", "RolledBack")
        else:
            self.requeue(POLL_SECONDS)

    def traffic_live(self) -> bool:
        """Is the written weight what users get now?"""
        s = self.status
        self.sync_traffic()
        if self.spec.mode is TrafficMode.REPLICAS:
            assert s.canary_version is not None
            wanted = canary_replicas(self.spec.mode, s.canary_weight, self.spec.replicas)
            return self.available(s.canary_version) >= wanted
        reports = self.obs.applied_traffic_generations
        return bool(reports) and min(reports) >= self.status.traffic.generation

    def progress_canary(self) -> None:
        s = self.status
        canary = s.canary_version
        assert canary is not None
        if s.phase is Phase.PROMOTING:
            if self.has_at_least(canary, self.spec.replicas):
                self.finish_promotion()
            else:
                self.requeue(POLL_SECONDS)
            return
        if s.phase is Phase.FAILED:
            return  # held at 0 % until a human promotes, rolls back, resumes or changes the spec
        never_live = s.step_started_at is None and s.canary_weight == 0.0
        first_size = canary_replicas(self.spec.mode, 0.0, self.spec.replicas)
        if never_live and first_size > 0 and not self.has_at_least(canary, first_size):
            assert s.canary_started_at is not None
            if self.seconds_since(s.canary_started_at) > self.spec.progress_deadline_seconds:
                self.fail_canary(
                    f"not ready within progressDeadline {self.spec.progress_deadline_seconds:g}s"
                )
            else:
                self.requeue(POLL_SECONDS)
            return
        if self.spec.canary_percent is not None:
            self.progress_experiment(self.spec.canary_percent)
            return
        if s.phase is Phase.EXPERIMENT:
            self.set(
                step=resume_step(self.spec.steps, s.canary_weight) if self.spec.steps else None,
                step_started_at=None,
                step_analysis_passed=False,
                steps_fingerprint=steps_fingerprint(self.spec.steps),
            )
            self.enter(Phase.CANARY, f"experiment on {canary} continues as steps", "StepsStarted")
        if self.spec.requests.pause:
            if self.status.phase is not Phase.PAUSED:
                self.set(paused_reason=PauseReason.ANNOTATION)
                self.enter(Phase.PAUSED, f"canary {canary} paused by annotation", "Paused")
            return
        if self.status.phase is Phase.PAUSED:
            if self.status.paused_reason is PauseReason.ANNOTATION:
                self.set(paused_reason=None, step_started_at=None)
                self.enter(Phase.CANARY, f"canary {canary} resumed", "Resumed")
            else:
                return
        if not self.spec.steps:
            self.start_promotion("no steps: switch once the canary is ready")
            self.progress_canary()
            return
        self.progress_steps(canary)

    def progress_steps(self, canary: str) -> None:
        steps = self.spec.steps
        fingerprint = steps_fingerprint(steps)
        if fingerprint != self.status.steps_fingerprint or (self.status.step or 0) >= len(steps):
            index = resume_step(steps, self.status.canary_weight)
            self.set(
                step=index,
                steps_fingerprint=fingerprint,
                step_started_at=None,
                step_analysis_passed=False,
            )
            self.event("Normal", "StepsChanged", f"steps changed; continuing at step {index + 1}")
        index = self.status.step or 0
        step = steps[index]
        if self.status.canary_weight != step.weight:
            self.set(canary_weight=step.weight, step_started_at=None, step_analysis_passed=False)
        if not self.traffic_live():
            # Replicas mode has no weight-0 readiness gate: the deadline applies here instead.
            started = self.status.canary_started_at
            never_live = self.status.analysis_window_from is None and self.status.step == 0
            limit = self.spec.progress_deadline_seconds
            if never_live and started is not None and self.seconds_since(started) > limit:
                self.fail_canary(f"first weight not live within progressDeadline {limit:g}s")
                return
            self.requeue(POLL_SECONDS)
            return
        if self.status.step_started_at is None:
            self.set(step_started_at=self.now, analysis_window_from=self.now)
        if not self.analyse(canary, act=True):
            return
        assert self.status.step_started_at is not None
        if step.pause_seconds is None:
            return  # held until axiom.dev/promote=true
        remaining = step.pause_seconds - self.seconds_since(self.status.step_started_at)
        passed = self.spec.analysis is None or self.status.step_analysis_passed
        if remaining > 0 or not passed:
            if remaining > 0:
                self.requeue(remaining)
            return
        if index == len(steps) - 1:
            self.start_promotion(f"all {len(steps)} steps passed")
            self.progress_canary()
            return
        self.set(
            step=index + 1,
            canary_weight=steps[index + 1].weight,
            step_started_at=None,
            step_analysis_passed=False,
        )
        self.event(
            "Normal",
            "StepAdvanced",
            f"canary {canary} step {index + 2}/{len(steps)} at {steps[index + 1].weight}%",
        )
        self.requeue(POLL_SECONDS)

    def progress_experiment(self, percent: float) -> None:
        canary = self.status.canary_version
        if percent >= 100:
            self.start_promotion("canaryPercent set to 100")
            self.progress_canary()
            return
        self.set(canary_weight=percent, paused_reason=None, step=None)
        self.enter(
            Phase.EXPERIMENT, f"A/B experiment: {canary} held at {percent:g}%", "ExperimentHeld"
        )
        if self.traffic_live():
            if self.status.analysis_window_from is None:
                self.set(analysis_window_from=self.now)
            self.analyse(canary or "", act=False)
        else:
            self.requeue(POLL_SECONDS)

    def analyse(self, canary: str, act: bool) -> bool:
        """Run the analysis if one is due. Returns False when the canary stopped progressing
        (failed, or paused as inconclusive). With ``act`` False (A/B experiment) only the
        figures are recorded."""
        thresholds = self.spec.analysis
        if thresholds is None:
            return True
        s = self.status
        window = self.obs.analysis
        window_from = s.analysis_window_from
        if window is None or window_from is None or window.started_at < window_from:
            self.requeue(thresholds.interval_seconds)
            return True  # StartAnalysisWindow is emitted with the desired actions
        last = s.last_analysis.at if s.last_analysis else None
        since = (
            max(window.started_at, last)
            if last and last >= window.started_at
            else window.started_at
        )
        due_in = thresholds.interval_seconds - self.seconds_since(since)
        if due_in > 0:
            self.requeue(due_in)
            return True
        result = evaluate(window.canary, window.stable, thresholds)
        record = AnalysisRecord(
            self.now,
            result.verdict,
            result.reasons,
            result.canary,
            result.stable,
            version=canary or None,
            step=s.step,
        )
        self.set(last_analysis=record)
        self.requeue(thresholds.interval_seconds)
        summary = "; ".join(result.reasons)
        if result.verdict is Verdict.INCONCLUSIVE:
            # Keep the window: thin traffic accumulates until it is enough to judge.
            count = s.analysis_inconclusive + 1
            self.set(analysis_inconclusive=count)
            if act and count >= thresholds.inconclusive_limit:
                self.set(paused_reason=PauseReason.INCONCLUSIVE)
                self.enter(
                    Phase.PAUSED,
                    f"canary {canary} paused: {count} inconclusive analyses ({summary}); "
                    "annotate axiom.dev/resume=true, promote=true or rollback=previous",
                    "AnalysisInconclusive",
                    warning=True,
                )
                return False
            return True
        self.set(analysis_inconclusive=0, analysis_window_from=self.now)
        if not act:
            return True
        if result.verdict is Verdict.SUCCESS:
            self.set(step_analysis_passed=True)
            return True
        failures = s.analysis_failures + 1
        # A failure after a success in the same step withdraws that success.
        self.set(analysis_failures=failures, step_analysis_passed=False)
        self.event("Warning", "AnalysisFailed", f"canary {canary} analysis failed: {summary}")
        assert thresholds is not None
        if failures > thresholds.failure_limit:
            self.fail_canary(
                f"{failures} failed analyses > failureLimit {thresholds.failure_limit}: {summary}"
            )
            return False
        return True

    # -- desired state --------------------------------------------------------------------

    def sync_traffic(self) -> None:
        """Bump the traffic generation when the split to write differs from the one written."""
        s = self.status
        wanted: tuple[str | None, float, TrafficMode]
        if s.canary_version is not None and self.spec.mode is not TrafficMode.REPLICAS:
            wanted = (s.canary_version, s.canary_weight, self.spec.mode)
        else:
            wanted = (None, 0.0, self.spec.mode)
        written = s.traffic
        if (written.canary_version, written.weight, written.mode) != wanted:
            self.set(
                traffic=TrafficState(
                    generation=written.generation + 1,
                    canary_version=wanted[0],
                    weight=wanted[1],
                    mode=wanted[2],
                )
            )

    def effective_weight(self) -> float | None:
        s = self.status
        if s.canary_version is None or s.stable_version is None:
            return None
        if self.spec.mode is TrafficMode.REPLICAS:
            canary = self.available(s.canary_version)
            total = canary + self.available(s.stable_version)
            return round(100.0 * canary / total, 2) if total else None
        reports = self.obs.applied_traffic_generations
        if reports and min(reports) >= s.traffic.generation:
            return s.traffic.weight
        return s.effective_weight

    def desired_actions(self) -> list[Action]:
        s = self.status
        spec = self.spec
        actions: list[Action] = []
        if s.stable_version is None:
            return actions
        keep: set[str] = {s.stable_version}
        actions.append(
            EnsureDeployment(s.stable_version, spec.replicas, s.source_of(s.stable_version))
        )
        if s.rollback_target is not None:
            keep.add(s.rollback_target)
            actions.append(
                EnsureDeployment(s.rollback_target, spec.replicas, s.source_of(s.rollback_target))
            )
        if s.canary_version is not None:
            keep.add(s.canary_version)
            size = (
                spec.replicas
                if s.phase is Phase.PROMOTING
                else canary_replicas(spec.mode, s.canary_weight, spec.replicas)
            )
            actions.append(EnsureDeployment(s.canary_version, size, s.source_of(s.canary_version)))
        for warm in s.warm:
            if warm.version not in keep:
                keep.add(warm.version)
                actions.append(
                    EnsureDeployment(warm.version, spec.replicas, s.source_of(warm.version))
                )
        traffic = s.traffic
        actions.append(
            SetTrafficWeight(traffic.canary_version, traffic.weight, traffic.generation, spec.mode)
        )
        shared_service = spec.mode is TrafficMode.REPLICAS and s.canary_version is not None
        actions.append(PointServiceAt(None if shared_service else s.stable_version))
        for version in s.blocked_versions:
            if version in keep:
                continue
            keep.add(version)
            observed = self.obs.deployments.get(version)
            if observed is not None and observed.desired > 0:
                actions.append(ScaleDown(version))
        actions.extend(DeleteDeployment(v) for v in sorted(self.obs.deployments) if v not in keep)
        window = self.obs.analysis
        if (
            s.canary_version is not None
            and spec.analysis is not None
            and s.analysis_window_from is not None
            and s.phase in (Phase.CANARY, Phase.EXPERIMENT)
            and (window is None or window.started_at < s.analysis_window_from)
        ):
            actions.append(StartAnalysisWindow(s.canary_version))
        return actions


def decide(
    spec: RolloutSpec, status: RolloutStatus, observations: Observations, now: datetime
) -> Decision:
    """The next status and the actions that bring the world to it."""
    run = _Run(spec, status, observations, now)
    run.housekeeping()
    run.manual_requests()
    run.progress()
    run.sync_traffic()
    if run.status.canary_version is None or run.status.phase not in _CANARY_PHASES:
        run.set(effective_weight=None)
    else:
        run.set(effective_weight=run.effective_weight())
    if run.status.warm:
        run.requeue(min(w.until for w in run.status.warm).timestamp() - now.timestamp())
    run.prune_sources()
    actions: list[Action] = [*run.desired_actions(), *run.events]
    if run.requeues:
        actions.append(RequeueAfter(round(min(run.requeues), 3)))
    return Decision(run.status, tuple(actions))
