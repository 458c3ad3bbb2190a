"""Has the rollout ended, and how: what ``kubectl axiom status`` waits for (pure).

A rollout has ended when the operator has seen the current spec (``observedGeneration``)
and either spec.version serves all traffic (``Stable``), or it will not get there without a
person: rolled back, failed, blocked by its certificate, or an invalid spec. Everything else
(deploying, canary steps, an A/B experiment, paused, promoting, rolling back) is still going.
The exit codes are what a CI pipeline branches on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class Exit(IntEnum):
    SUCCEEDED = 0  # spec.version is Stable
    FAILED = 1  # rolled back, failed, blocked or invalid
    USAGE = 2  # bad command line (argparse's own code)
    RUNNING = 3  # not ended when the watch stopped (--timeout, or --watch=false)
    UNREACHABLE = 4  # the model or the apiserver could not be read


FAILED_PHASES = frozenset({"RolledBack", "Failed", "Blocked", "Invalid"})


@dataclass(frozen=True)
class Outcome:
    exit: Exit
    line: str  # one line for a person


def outcome(model: Mapping[str, Any]) -> Outcome:
    meta, spec = model["metadata"], model.get("spec") or {}
    status = model.get("status") or {}
    phase, version = status.get("phase"), spec.get("version")
    message = status.get("message") or ""
    generation, seen = meta.get("generation") or 0, status.get("observedGeneration") or 0
    if seen < generation:
        return Outcome(Exit.RUNNING, f"waiting for the operator to see generation {generation}")
    if phase == "Stable" and status.get("stableVersion") == version:
        return Outcome(Exit.SUCCEEDED, f"{version} is Stable: {message}")
    if phase in FAILED_PHASES:
        return Outcome(Exit.FAILED, f"{phase}: {message}")
    weight = status.get("canaryWeight")
    progress = (
        f" (canary {status['canaryVersion']} at {weight:g}%)"
        if status.get("canaryVersion") and weight is not None
        else ""
    )
    return Outcome(Exit.RUNNING, f"{phase or 'Pending'}{progress}: {message}")
