"""``status.rollout``: the machine's memory as stored in the AxiomModel status."""

from __future__ import annotations

from typing import Any

from axiom_operator.rollout import RolloutStatus
from axiom_operator.rollout.codec import StatusDecodeError, status_from_dict, status_to_dict

__all__ = ["StatusDecodeError", "read_rollout_status", "write_rollout_status"]


def _prune_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_none(v) for v in value]
    return value


def read_rollout_status(raw: dict[str, Any] | None) -> RolloutStatus:
    return status_from_dict(raw)


def write_rollout_status(status: RolloutStatus) -> dict[str, Any]:
    result: dict[str, Any] = _prune_none(status_to_dict(status))
    return result
