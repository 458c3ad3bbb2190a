"""The rollout status survives being stored in the object's status and read back."""

from __future__ import annotations

import json

import pytest
from rollout_world import BAD, World, spec

from axiom_operator.rollout import RolloutStatus
from axiom_operator.rollout.codec import StatusDecodeError, status_from_dict, status_to_dict


def test_empty_status_reads_as_the_initial_status() -> None:
    assert status_from_dict(None) == RolloutStatus()
    assert status_from_dict({}) == RolloutStatus()


def test_every_status_of_a_rollout_round_trips_through_json() -> None:
    world = World(spec("1.0.0"))
    world.tick()
    world.tick(1)
    world.tick(1, version="2.0.0")
    world.canary_metrics = BAD
    for _ in range(40):
        world.tick(5)
        stored = json.loads(json.dumps(status_to_dict(world.status)))
        assert status_from_dict(stored) == world.status
    assert world.status.last_analysis is not None and world.status.history


def test_a_naive_time_is_refused_naming_the_field() -> None:
    with pytest.raises(StatusDecodeError, match="stepStartedAt"):
        status_from_dict({"phase": "Canary", "stepStartedAt": "2026-01-01T00:00:00"})


def test_an_unknown_phase_is_refused() -> None:
    with pytest.raises(StatusDecodeError):
        status_from_dict({"phase": "Dancing"})
