"""The ``world`` fixture the rollout tests share, in its two kinds: on kwok nodes (pods that
never run: enough for the operator's own decisions) and on the node agent (pods that serve).
A test module takes one with ``from rollout_fixtures import kwok_world`` (or
``agent_world``); both are registered under the name ``world``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rollout_support import OPERATOR_ENV, RolloutWorld

from axiom_devcluster.agent.pytest_plugin import AgentCluster
from axiom_devcluster.controlplane import ControlPlane


@pytest.fixture(name="world")
def kwok_world(
    control_plane: ControlPlane, namespace: str, start_operator: Any
) -> Iterator[RolloutWorld]:
    """Versions 1.0.0 and 2.0.0 published, the operator running in the namespace."""
    world = RolloutWorld(control_plane, namespace)
    world.publish("1.0.0", "2.0.0")
    with start_operator(namespace):
        yield world


@pytest.fixture(name="world")
def agent_world(
    agent_cluster: AgentCluster, agent_namespace: str, start_operator: Any
) -> Iterator[RolloutWorld]:
    """The operator running in a namespace whose pods the node agent really runs."""
    world = RolloutWorld(agent_cluster.control_plane, agent_namespace)
    with start_operator(agent_namespace, **OPERATOR_ENV):
        yield world
