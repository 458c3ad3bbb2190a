"""A tiny, healthy, instant world for driving the pure rollout machine in unit tests.

Not a mock of Kubernetes: it only plays back what the machine asked for (Deployments
become available at the size asked, pods apply the written traffic generation, the
analysis baseline is taken when asked) so that tests can walk through whole rollouts.
Tests flip its knobs (pods not ready, generation not applied, metrics samples) to create
the hard cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from axiom_operator.rollout import (
    Action,
    AnalysisSample,
    AnalysisThresholds,
    AnalysisWindow,
    Decision,
    DeleteDeployment,
    DeploymentObservation,
    EmitEvent,
    EnsureDeployment,
    Gate,
    ManualRequests,
    MetricsReading,
    Observations,
    PointServiceAt,
    RolloutSpec,
    RolloutStatus,
    ScaleDown,
    SetTrafficWeight,
    StartAnalysisWindow,
    Step,
    decide,
)
from axiom_operator.rollout.comparison import ShadowSample

A = TypeVar("A")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
GOOD = AnalysisSample(requests=500, errors=0, p99_ms=20.0, mean_confidence=0.95)
BAD = AnalysisSample(requests=500, errors=100, p99_ms=20.0, mean_confidence=0.95)
THIN = AnalysisSample(requests=3, errors=0, p99_ms=20.0, mean_confidence=0.95)

THRESHOLDS = AnalysisThresholds(
    interval_seconds=30, min_requests=50, max_error_rate=0.01, max_p99_latency_ms=250,
    failure_limit=1, inconclusive_limit=3,
)  # fmt: skip


def spec(version: str = "1.0.0", **changes: Any) -> RolloutSpec:
    base = RolloutSpec(
        version=version,
        replicas=2,
        source=f"src-{version}",
        steps=(Step(10, 60), Step(50, 60)),
        analysis=THRESHOLDS,
        scale_down_delay_seconds=30,
        rollback_window_seconds=600,
    )
    return replace(base, **changes)


@dataclass
class World:
    spec: RolloutSpec
    status: RolloutStatus = field(default_factory=RolloutStatus)
    now: datetime = T0
    deployments: dict[str, DeploymentObservation] = field(default_factory=dict)
    applied_generation: int = -1
    window_started: datetime | None = None
    service: str | None = "unset"
    traffic: SetTrafficWeight | None = None
    # knobs
    pods_become_ready: bool = True
    pods_apply_traffic: bool = True
    canary_metrics: MetricsReading = GOOD
    stable_metrics: MetricsReading = GOOD
    open_gates: frozenset[tuple[Gate, str]] = frozenset()  # gate hooks that answered 2xx
    shadow: ShadowSample | None = None  # what the stable pods compared of mirrored requests
    last: Decision | None = None
    last_inputs: tuple[RolloutSpec, RolloutStatus, Observations, datetime] | None = None
    log: list[Decision] = field(default_factory=list)

    def observations(self) -> Observations:
        window = None
        if self.window_started is not None:
            window = AnalysisWindow(
                self.window_started, self.canary_metrics, self.stable_metrics, self.shadow
            )
        applied = (self.applied_generation,) * 2 if self.deployments else ()
        return Observations(dict(self.deployments), applied, window, self.open_gates)

    def tick(self, seconds: float = 0.0, **spec_changes: Any) -> Decision:
        """Advance the clock, decide, and let the world carry out the actions."""
        self.now += timedelta(seconds=seconds)
        if spec_changes:
            self.spec = replace(self.spec, **spec_changes)
        observations = self.observations()
        self.last_inputs = (self.spec, self.status, observations, self.now)
        decision = decide(self.spec, self.status, observations, self.now)
        self.status = decision.status
        self.apply(decision.actions)
        self.last = decision
        self.log.append(decision)
        return decision

    def annotate(self, **requests: Any) -> Decision:
        return self.tick(requests=ManualRequests(**requests))

    def apply(self, actions: tuple[Action, ...]) -> None:
        for action in actions:
            if isinstance(action, EnsureDeployment):
                # A stuck world keeps what was already up but starts no new pod.
                existing = self.deployments.get(action.version)
                held = 0 if existing is None else existing.available
                ready = action.replicas if self.pods_become_ready else min(held, action.replicas)
                self.deployments[action.version] = DeploymentObservation(action.replicas, ready)
            elif isinstance(action, ScaleDown):
                self.deployments[action.version] = DeploymentObservation(0, 0)
            elif isinstance(action, DeleteDeployment):
                self.deployments.pop(action.version, None)
            elif isinstance(action, SetTrafficWeight):
                self.traffic = action
                if self.pods_apply_traffic:
                    self.applied_generation = action.generation
            elif isinstance(action, PointServiceAt):
                self.service = action.version
            elif isinstance(action, StartAnalysisWindow):
                self.window_started = self.now

    def run(self, seconds: float, every: float = 5.0) -> None:
        """Reconcile every ``every`` seconds for ``seconds``."""
        elapsed = 0.0
        while elapsed < seconds:
            self.tick(every)
            elapsed += every

    def run_and_get(self, seconds: float, every: float = 5.0) -> RolloutStatus:
        self.run(seconds, every)
        return self.status


def events(decision: Decision) -> list[str]:
    return [a.reason for a in decision.actions if isinstance(a, EmitEvent)]


def warnings(decision: Decision) -> list[str]:
    return [a.reason for a in decision.actions if isinstance(a, EmitEvent) and a.type == "Warning"]


def of_type(decision: Decision, kind: type[A]) -> list[A]:
    return [a for a in decision.actions if isinstance(a, kind)]


def stable_world(version: str = "1.0.0", **changes: Any) -> World:
    """A world where ``version`` has been deployed and is Stable."""
    world = World(spec(version, **changes))
    world.tick()
    world.tick(1)
    return world
