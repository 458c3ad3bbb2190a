"""Which ``axiom.dev/*`` annotation each verb sets, and when a verb refuses (pure).

The verbs map onto the annotations the operator already reads (docs/annotations.md):

============================  =================================================
``promote``                   ``axiom.dev/promote=step``: end the current step
``promote --full``            ``axiom.dev/promote=true``: promote now
``abort``                     ``axiom.dev/rollback=previous`` while a canary runs:
                              the canary goes to 0 % and is blocked
``pause``                     ``axiom.dev/pause=true`` (a level: holds while set)
``resume``                    removes ``axiom.dev/pause``; a canary the operator
                              paused itself, or a Failed one, gets
                              ``axiom.dev/resume=true``
``rollback [--to V]``         ``axiom.dev/rollback=previous`` (or ``=V``)
============================  =================================================

A verb is refused here only when the operator would certainly ignore it (no canary to abort);
otherwise the operator decides, and says so in an Event as it always does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from axiom_operator.rollout_spec import (
    ANNOTATION_PREFIX,
    PAUSE_ANNOTATION,
    PROMOTE_ANNOTATION,
    PROMOTE_STEP,
    RESUME_ANNOTATION,
    ROLLBACK_ANNOTATION,
)

_CANARY_PHASES = frozenset({"Canary", "Experiment", "Paused", "Promoting", "Failed"})


class RequestRefused(ValueError):
    """The verb cannot act on the model as it is now; the message says why."""


@dataclass(frozen=True)
class Request:
    annotation: str
    value: str | None  # None: remove the annotation

    @property
    def request_id(self) -> str | None:
        """The id the operator records in ``status.handledRequests`` once it acted (None for
        ``pause``, a level, and for a removal)."""
        if self.value is None or self.annotation == PAUSE_ANNOTATION:
            return None
        return f"{self.annotation.removeprefix(ANNOTATION_PREFIX)}={self.value}"


def _status(model: Mapping[str, Any]) -> Mapping[str, Any]:
    return model.get("status") or {}


def _annotations(model: Mapping[str, Any]) -> Mapping[str, str]:
    return model["metadata"].get("annotations") or {}


def promote(model: Mapping[str, Any], *, full: bool) -> Request:
    status = _status(model)
    if full:
        pending = status.get("stableVersion") != (model.get("spec") or {}).get("version")
        if not status.get("canaryVersion") and not pending:
            raise RequestRefused("no canary to promote: spec.version already serves")
        return Request(PROMOTE_ANNOTATION, "true")
    if status.get("phase") != "Canary" or status.get("step") is None:
        raise RequestRefused(
            f"phase {status.get('phase')}: no canary walking its steps "
            "(promote --full promotes any canary)"
        )
    return Request(PROMOTE_ANNOTATION, PROMOTE_STEP)


def abort(model: Mapping[str, Any]) -> Request:
    status = _status(model)
    if not status.get("canaryVersion") or status.get("phase") not in _CANARY_PHASES:
        raise RequestRefused(f"phase {status.get('phase')}: no canary to abort")
    return Request(ROLLBACK_ANNOTATION, "previous")


def pause(model: Mapping[str, Any]) -> Request:
    return Request(PAUSE_ANNOTATION, "true")


def resume(model: Mapping[str, Any]) -> list[Request]:
    status = _status(model)
    requests = []
    if PAUSE_ANNOTATION in _annotations(model):
        requests.append(Request(PAUSE_ANNOTATION, None))
    elif status.get("phase") in ("Paused", "Failed"):
        requests.append(Request(RESUME_ANNOTATION, "true"))
    if not requests:
        raise RequestRefused(f"phase {status.get('phase')}: nothing is paused")
    return requests


def rollback(model: Mapping[str, Any], to: str | None) -> Request:
    status = _status(model)
    if not status.get("stableVersion"):
        raise RequestRefused("nothing is deployed yet")
    if to is not None:
        known = {entry.get("version") for entry in status.get("history") or ()}
        known |= {status.get("stableVersion"), status.get("canaryVersion")}
        if to not in known:
            listed = ", ".join(sorted(str(v) for v in known if v)) or "none"
            raise RequestRefused(f"{to} is not in status.history (known: {listed})")
    return Request(ROLLBACK_ANNOTATION, to or "previous")


def settled(request: Request, model: Mapping[str, Any]) -> bool:
    """Has the operator acted on ``request``? A once-per-appearance request: its id is in
    ``status.handledRequests``. The pause level: the canary is Paused (set) or no longer
    Paused (removed); without a canary there is nothing to hold."""
    status = _status(model)
    request_id = request.request_id
    if request_id is not None:
        return request_id in (status.get("handledRequests") or ())
    if not status.get("canaryVersion"):
        return True
    paused = status.get("phase") == "Paused"
    return paused if request.value is not None else not paused
