"""The rollout state machine's own inputs and state, as frozen dataclasses.

Deliberately not the operator's pydantic API models: the machine must be testable (and
readable) without Kubernetes, and the handler converts at the edge. Times are aware
``datetime`` values; the machine never reads a clock, ``now`` is an input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from axiom_operator.rollout.analysis import AnalysisThresholds, Figures, MetricsReading, Verdict
from axiom_operator.rollout.comparison import ComparisonFigures, ShadowSample
from axiom_operator.rollout.sequential import Evidence, SequentialFigures

HISTORY_LIMIT = 10


class TrafficMode(StrEnum):
    RUNTIME = "Runtime"
    REPLICAS = "Replicas"
    GATEWAY_API = "GatewayAPI"


class Phase(StrEnum):
    PENDING = "Pending"  # nothing deployed yet
    DEPLOYING = "Deploying"  # the first version is coming up
    STABLE = "Stable"  # spec.version serves all traffic
    CANARY = "Canary"  # progressive steps with analysis
    EXPERIMENT = "Experiment"  # manual A/B: spec.traffic.canaryPercent held
    PAUSED = "Paused"  # canary held at its weight (annotation, or inconclusive too long)
    PROMOTING = "Promoting"  # canary scaling to full size before the Service moves to it
    ROLLING_BACK = "RollingBack"  # a cold rollback target is starting
    ROLLED_BACK = "RolledBack"  # stable serves; spec.version is blocked (rolled back / failed)
    FAILED = "Failed"  # analysis failed with autoRollback off: canary at 0 %, awaiting a human
    BLOCKED = "Blocked"  # spec.version's certificate is refused


class Outcome(StrEnum):
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    SUPERSEDED = "Superseded"


class Gate(StrEnum):
    """A hook the rollout waits on until it answers 2xx for the version (docs/notifications.md)."""

    PRE_ROLLOUT = "PreRollout"  # before a new version's canary starts
    CONFIRM_PROMOTION = "ConfirmPromotion"  # before a canary that passed its steps is promoted


class PauseReason(StrEnum):
    ANNOTATION = "Annotation"
    INCONCLUSIVE = "Inconclusive"


@dataclass(frozen=True)
class Step:
    """One canary step. ``pause_seconds`` None: hold this step (analysis still runs) until
    ``axiom.dev/promote=true``, as the CRD says of a step without ``pause``."""

    weight: float
    pause_seconds: float | None = 0.0
    # Shadow traffic: percent of the requests the stable answers also copied to the canary.
    mirror: float = 0.0


@dataclass(frozen=True)
class ManualRequests:
    """The ``axiom.dev/*`` annotations present on the object now.

    ``rollback``, ``promote`` and ``resume`` act once per appearance: the machine records
    their ids in ``status.handledRequests`` and forgets an id once its annotation is gone, so
    removing and re-adding (or overwriting with another value) asks again. ``pause`` is a
    level: the canary stays paused while it is present. ``promote_step`` is
    ``axiom.dev/promote=step``: end the current step now (its pause and analysis) and go on
    to the next one, or promote after the last.
    """

    rollback: str | None = None  # "previous" or a version from history
    promote: bool = False
    promote_step: bool = False
    pause: bool = False
    resume: bool = False

    def ids(self) -> tuple[str, ...]:
        present: list[str] = []
        if self.rollback:
            present.append(f"rollback={self.rollback}")
        if self.promote:
            present.append("promote=true")
        if self.promote_step:
            present.append("promote=step")
        if self.resume:
            present.append("resume=true")
        return tuple(present)


@dataclass(frozen=True)
class RolloutSpec:
    """What the user asked for (converted from ``AxiomModel.spec`` and its annotations)."""

    version: str
    replicas: int = 1
    # Opaque reference to spec.version's package and certificate (e.g. JSON of spec.model and
    # spec.certificate); copied into EnsureDeployment so any version can be re-created later.
    source: str = ""
    mode: TrafficMode = TrafficMode.RUNTIME
    canary_percent: float | None = None
    steps: tuple[Step, ...] = ()
    analysis: AnalysisThresholds | None = None
    auto_rollback: bool = True
    scale_down_delay_seconds: float = 30.0
    rollback_window_seconds: float = 600.0
    progress_deadline_seconds: float = 600.0
    certificate_ok: bool = True
    certificate_reason: str = ""
    requests: ManualRequests = ManualRequests()
    gates: frozenset[Gate] = frozenset()  # the gates configured
    # Opt-in tester pinning: the header written into the traffic config (None: off).
    pin_header: str | None = None
    # Longest a version leaving the split is kept for stable pods that have not confirmed
    # the split without it (the operator's AXIOM_OPERATOR_TRAFFIC_DRAIN_SECONDS).
    drain_limit_seconds: float = 180.0


@dataclass(frozen=True)
class DeploymentObservation:
    """One version's Deployment as last read: replicas asked for and available."""

    desired: int
    available: int


@dataclass(frozen=True)
class AnalysisWindow:
    """Metrics of canary and stable since the handler's baseline scrape taken at ``started_at``."""

    started_at: datetime
    canary: MetricsReading
    stable: MetricsReading
    # What the stable pods compared of mirrored requests (None: nothing read).
    shadow: ShadowSample | None = None


@dataclass(frozen=True)
class Observations:
    """The world as the handler saw it just before calling :func:`decide`."""

    deployments: Mapping[str, DeploymentObservation] = field(default_factory=dict)
    # Runtime mode: the applied traffic generation reported by every stable pod (-1 for a pod
    # that could not be asked). GatewayAPI mode: the generation the HTTPRoute was applied at.
    applied_traffic_generations: tuple[int, ...] = ()
    analysis: AnalysisWindow | None = None
    # (gate, version) pairs whose hook answered 2xx (the handler's calls, since it started).
    open_gates: frozenset[tuple[Gate, str]] = frozenset()


@dataclass(frozen=True)
class HistoryEntry:
    version: str
    outcome: Outcome
    at: datetime
    reason: str


@dataclass(frozen=True)
class AnalysisRecord:
    at: datetime
    verdict: Verdict
    reasons: tuple[str, ...]
    canary: Figures | None
    stable: Figures | None
    # Which canary and step were judged: the record outlives the canary (it is what a user
    # reads after an automatic rollback), so it cannot borrow them from the live status.
    version: str | None = None
    step: int | None = None
    comparison: ComparisonFigures | None = None
    sequential: SequentialFigures | None = None


@dataclass(frozen=True)
class TrafficState:
    """The traffic config last written; ``generation`` bumps whenever the rest changes."""

    generation: int = 0
    canary_version: str | None = None
    weight: float = 0.0
    mode: TrafficMode = TrafficMode.RUNTIME
    mirror: float = 0.0


@dataclass(frozen=True)
class WarmVersion:
    """A version kept at full size after leaving the Service, until ``until``."""

    version: str
    until: datetime


@dataclass(frozen=True)
class RolloutStatus:
    phase: Phase = Phase.PENDING
    message: str = ""
    stable_version: str | None = None
    canary_version: str | None = None
    canary_weight: float = 0.0
    effective_weight: float | None = None
    step: int | None = None
    steps_fingerprint: str = ""
    canary_started_at: datetime | None = None
    step_started_at: datetime | None = None  # when the current step's weight became live
    step_analysis_passed: bool = False
    paused_reason: PauseReason | None = None
    analysis_failures: int = 0
    analysis_inconclusive: int = 0
    analysis_window_from: datetime | None = None  # windows must start at or after this
    last_analysis: AnalysisRecord | None = None
    # The sequential tests' evidence over the whole canary (None: none yet / not used).
    evidence: Evidence | None = None
    traffic: TrafficState = TrafficState()
    rollback_target: str | None = None
    previous_version: str | None = None
    warm: tuple[WarmVersion, ...] = ()
    history: tuple[HistoryEntry, ...] = ()  # newest first, at most HISTORY_LIMIT
    blocked_versions: tuple[str, ...] = ()
    handled_requests: tuple[str, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()  # (version, opaque source) for re-creation
    waiting_for: Gate | None = None  # the gate the rollout waits on now
    # Versions the written traffic no longer names but the stable pods may still forward to
    # (a canary rolled back or superseded), kept running until every stable pod (or the
    # route) applied ``draining_generation`` (the first split without the latest of them),
    # at most spec.drain_limit_seconds from draining_since.
    draining_versions: tuple[str, ...] = ()
    draining_generation: int = 0
    draining_since: datetime | None = None

    def source_of(self, version: str) -> str | None:
        return dict(self.sources).get(version)
