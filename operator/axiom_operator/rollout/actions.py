"""What the handler must do after a decision, as plain values.

Two kinds. Desired-state actions (everything but events and requeue) are emitted on every
reconcile from the status alone and are idempotent: the handler applies them with
server-side apply, so a restarted operator converges without remembering anything.
``EmitEvent`` is emitted only on the transition that causes it, so a re-run with the
persisted status emits nothing twice. Order in the list is the order to execute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from axiom_operator.rollout.model import Gate, TrafficMode


@dataclass(frozen=True)
class EnsureDeployment:
    """Create or scale the Deployment (and, for a canary, its Service) of ``version``."""

    version: str
    replicas: int
    source: str | None


@dataclass(frozen=True)
class ScaleDown:
    """Scale ``version``'s Deployment to 0, keeping the object (blocked or failed versions)."""

    version: str


@dataclass(frozen=True)
class DeleteDeployment:
    """Delete ``version``'s Deployment and per-version Service; nothing refers to it any more."""

    version: str


@dataclass(frozen=True)
class SetTrafficWeight:
    """Write the split. Runtime: the traffic ConfigMap (canary None = no split). GatewayAPI:
    the HTTPRoute weights, and a ConfigMap without canary. Replicas: a ConfigMap without canary
    (the split follows replica counts). ``generation`` is what pods report once applied."""

    canary_version: str | None
    weight: float
    generation: int
    mode: TrafficMode
    mirror: float = 0.0  # shadow share (Runtime mode)
    pin_header: str | None = None  # opt-in tester pinning


@dataclass(frozen=True)
class PointServiceAt:
    """Make the model's Service select ``version``'s pods; None: every version of the model
    (Replicas mode during a canary)."""

    version: str | None


@dataclass(frozen=True)
class StartAnalysisWindow:
    """Scrape canary and stable pods now and keep it as the baseline of the next window."""

    canary_version: str


@dataclass(frozen=True)
class AskGate:
    """Ask ``gate``'s hook about ``version`` (the handler calls it in the background, at the
    gate's interval, and reports a 2xx in ``Observations.open_gates``)."""

    gate: Gate
    version: str


@dataclass(frozen=True)
class EmitEvent:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class RequeueAfter:
    seconds: float


Action = (
    EnsureDeployment
    | ScaleDown
    | DeleteDeployment
    | SetTrafficWeight
    | PointServiceAt
    | StartAnalysisWindow
    | AskGate
    | EmitEvent
    | RequeueAfter
)
