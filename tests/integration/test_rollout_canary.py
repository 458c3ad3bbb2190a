"""Canary rollouts on the real control plane with runtime pods really served by the node agent:
the operator drives the rollout state machine, the stable pods split real requests by the
weight in the traffic ConfigMap, and the analysis reads the pods' real /metrics.

Versions are the example model's: 1.0.0 and 2.0.0 are good, 3.0.0 is validly signed but
answers near-uniform probabilities (mean confidence far below minConfidence 0.6).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rollout_support import OPERATOR_ENV, RolloutWorld, SteadyClient, predict, short_canary

from axiom_devcluster.agent.pytest_plugin import AgentCluster

pytestmark = [pytest.mark.cluster, pytest.mark.agent, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def world(
    agent_cluster: AgentCluster, agent_namespace: str, start_operator: Any
) -> Iterator[RolloutWorld]:
    world = RolloutWorld(agent_cluster.control_plane, agent_namespace)
    with start_operator(agent_namespace, **OPERATOR_ENV):
        yield world


def on_v1(world: RolloutWorld, *versions: str) -> None:
    world.publish("1.0.0", *versions)
    world.apply_model("1.0.0", replicas=2)
    world.wait_stable("1.0.0", timeout=90)


def test_good_canary_advances_its_steps_and_is_promoted(world: RolloutWorld) -> None:
    on_v1(world, "2.0.0")
    with SteadyClient(world.service_url()) as client:
        world.apply_model("2.0.0", replicas=2, rollout=short_canary())
        world.wait(lambda s: s.get("canaryWeight") == 20, 60, "step 1 at 20%")
        world.wait(lambda s: s.get("canaryWeight") == 60, 60, "step 2 at 60%")
        status = world.wait_stable("2.0.0", timeout=90)
    assert client.failures == [], client.failures[:5]
    assert client.by_version["2.0.0"] > 0 and client.by_version["1.0.0"] > 0, client.by_version
    assert [(h["version"], h["outcome"]) for h in status["history"]][-1] == ("2.0.0", "Promoted")
    assert status["lastAnalysis"]["verdict"] == "Pass"
    service = world.get(f"/api/v1/namespaces/{world.namespace}/services/digits")
    assert service["spec"]["selector"]["axiom.dev/version"] == "2.0.0"
    assert predict(world.service_url())[1] == "2.0.0"
    # the old stable stays warm for the rollback window (full size), the Service has left it
    assert world.deployments()["digits-v1-0-0"] == 2


def test_bad_canary_is_rolled_back_and_the_client_sees_no_failure(world: RolloutWorld) -> None:
    on_v1(world, "3.0.0")
    with SteadyClient(world.service_url()) as client:
        world.apply_model("3.0.0", replicas=2, rollout=short_canary())
        world.wait(lambda s: s.get("canaryVersion") == "3.0.0", 30, "canary 3.0.0 started")
        status = world.wait(
            lambda s: (
                s.get("phase") == "RolledBack" and "3.0.0" in (s.get("blockedVersions") or [])
            ),
            120,
            "automatic rollback of 3.0.0",
        )
    assert client.failures == [], client.failures[:5]
    assert client.by_version["3.0.0"] > 0, "the canary served real requests before it failed"
    assert status["stableVersion"] == "1.0.0" and "canaryVersion" not in status
    assert status["lastAnalysis"]["verdict"] == "Fail"
    assert "confidence" in status["lastAnalysis"]["message"]
    assert status["history"][-1]["version"] == "3.0.0"
    assert status["history"][-1]["outcome"] == "Failed"
    assert world.deployments()["digits-v3-0-0"] == 0, "the failed canary is scaled to 0"
    assert predict(world.service_url())[1] == "1.0.0"
