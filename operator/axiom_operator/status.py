"""Condition helpers: set a condition without touching its transition time when nothing
changed, so a reconcile that observes the same world produces the same status (no write)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

READY = "Ready"
CERTIFICATE_VALID = "CertificateValid"
AVAILABLE = "Available"
PROGRESSING = "Progressing"
# kstatus' standard conditions (sigs.k8s.io/cli-utils/pkg/kstatus), "abnormal-true": present
# only while True, so a tool that knows nothing of AxiomModel reads their absence as normal.
RECONCILING = "Reconciling"
STALLED = "Stalled"


@dataclass(frozen=True)
class ConditionValue:
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str


def rfc3339(moment: datetime, *, fraction: bool = False) -> str:
    """The one time format of the status: RFC 3339 in UTC with ``Z``, whole seconds (what
    Kubernetes writes for conditions); with ``fraction``, microseconds when there are any
    (the rollout machine's own times, which it compares with each other)."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction and utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def get_condition(conditions: list[dict[str, Any]] | None, kind: str) -> dict[str, Any] | None:
    for condition in conditions or ():
        if condition.get("type") == kind:
            return condition
    return None


def set_condition(
    conditions: list[dict[str, Any]] | None,
    kind: str,
    value: ConditionValue,
    *,
    now: datetime,
    generation: int | None,
) -> list[dict[str, Any]]:
    """A new list with ``kind`` set; other conditions (other writers' too) are kept in order."""
    old = get_condition(conditions, kind)
    transition = (
        old["lastTransitionTime"]
        if old is not None and old.get("status") == value.status and "lastTransitionTime" in old
        else rfc3339(now)
    )
    new: dict[str, Any] = {
        "type": kind,
        "status": value.status,
        "reason": value.reason,
        "message": value.message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        new["observedGeneration"] = generation
    out = [c for c in conditions or () if c.get("type") != kind]
    index = next((i for i, c in enumerate(conditions or ()) if c.get("type") == kind), len(out))
    out.insert(index, new)
    return out


def remove_condition(conditions: list[dict[str, Any]] | None, kind: str) -> list[dict[str, Any]]:
    """A new list without ``kind`` (other conditions kept in order)."""
    return [c for c in conditions or () if c.get("type") != kind]


def changed_conditions(
    old: list[dict[str, Any]] | None, new: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Conditions whose status or reason differs from before (what deserves an Event)."""
    changed = []
    for condition in new:
        previous = get_condition(old, condition["type"])
        if previous is None or (previous.get("status"), previous.get("reason")) != (
            condition["status"],
            condition["reason"],
        ):
            changed.append(condition)
    return changed
