"""One evaluation of :func:`~axiom_operator.rollout.machine.decide`, shared by every facet.

The facet modules (lifecycle, rollback, judging, steps, progress, traffic, desired) are
free functions over one :class:`Run`: the status being rewritten, the Events to emit and the
requeue wishes, plus the few primitives every facet needs to change them. Keeping the state
in one object (and not in mixins) means a facet function's signature says what it touches,
and a test or a newcomer can read one facet without the others.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Literal

from axiom_operator.rollout.actions import EmitEvent
from axiom_operator.rollout.model import (
    HISTORY_LIMIT,
    HistoryEntry,
    Observations,
    Outcome,
    Phase,
    RolloutSpec,
    RolloutStatus,
)

# How often to look again while waiting for pods or for a weight to become live.
POLL_SECONDS = 2.0


class Run:
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
        # The gate the previous run waited on; ``status.waiting_for`` is decided afresh.
        self.waited = status.waiting_for

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
