"""What a pass plans to write, and the two rules every planned write follows: a write that
would change nothing is left out, and an object whose name someone else holds is never
written (it is recorded as a conflict instead)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from axiom_operator.diff import needs_apply, with_applied_hash
from axiom_operator.resources.owner import Owner
from axiom_operator.values import (
    ApplyObject,
    DeleteObject,
    Event,
    ForeignObject,
    World,
    Write,
)

# A split that names a canary Service still without an address is written this much later.
WAIT_FOR_SERVICE_ADDRESS = 2.0
# A window that cannot start yet (no scrape of the pods in this pass) is tried this soon.
WAIT_FOR_BASELINE = 1.0
# A model held by a name conflict or a missing cluster API looks again this much later: it
# needs a person (or an install), and the operator must not hammer the apiserver meanwhile.
HOLD_RETRY = 30.0
CONFLICT_REASON = "ResourceConflict"
MISSING_API_REASON = "APIUnavailable"
REFUSED_REASON = "WriteRefused"


@dataclass
class Changes:
    """Round 1: the writes to the children, and what the report round needs of them."""

    writes: list[Write] = field(default_factory=list)
    warnings: list[Event] = field(default_factory=list)
    requeue_seconds: float | None = None
    conflicts: list[ForeignObject] = field(default_factory=list)
    # Why nothing is written this pass (a conflict, a missing API): (reason, message).
    held: tuple[str, str] | None = None

    def creations(self) -> list[tuple[str, str]]:
        """(kind, name) of the objects these writes would create."""
        return [(w.kind, w.name) for w in self.writes if isinstance(w, ApplyObject) and not w.live]

    def requeue(self, seconds: float) -> None:
        current = self.requeue_seconds
        self.requeue_seconds = seconds if current is None else min(current, seconds)

    def hold(self, reason: str, message: str) -> None:
        """Write nothing this pass, say why, and look again after ``HOLD_RETRY``."""
        self.held = (reason, message)
        self.writes = []
        self.warnings = []
        self.requeue_seconds = HOLD_RETRY


def model_owner(world: World) -> Owner:
    return Owner(name=world.model.name, namespace=world.model.namespace, uid=world.model.uid)


def held_by_someone_else(changes: Changes, kind: str, name: str, world: World) -> bool:
    """Whether the object to create has a name someone else holds (recorded as a conflict)."""
    if world.child(kind, name) is None and (kind, name) in world.foreign:
        changes.conflicts.append(world.foreign[(kind, name)])
        return True
    return False


def apply_if_changed(changes: Changes, manifest: dict[str, Any], world: World) -> None:
    kind, name = manifest["kind"], manifest["metadata"]["name"]
    if held_by_someone_else(changes, kind, name, world):
        return
    live = world.child(kind, name)
    if needs_apply(with_applied_hash(manifest), dict(live) if live is not None else None):
        changes.writes.append(ApplyObject(manifest, live))


def delete_if_present(changes: Changes, kind: str, name: str, world: World) -> None:
    if world.child(kind, name) is not None:
        changes.writes.append(DeleteObject(kind, name))
