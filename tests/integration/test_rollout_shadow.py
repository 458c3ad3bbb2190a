"""Shadow steps on the real control plane, with runtime pods really served by the node agent:
the operator writes the mirror share into the traffic ConfigMap at weight 0, two stable pods
copy the client's requests to the canary and compare, and the analysis sums both pods'
comparisons from their /metrics. The canary is the example's 4.0.0 (1.0.0 with its output
labels permuted: validly signed, as confident as 1.0.0, wrong on every input).
"""

from __future__ import annotations

import json
import urllib.error
from typing import Any

import pytest
from rollout_fixtures import agent_world  # noqa: F401 (the world fixture)
from rollout_support import RolloutWorld, SteadyClient, predict, short_canary

pytestmark = [pytest.mark.cluster, pytest.mark.agent, pytest.mark.slow, pytest.mark.timeout(300)]


def shadow_canary() -> dict[str, Any]:
    rollout = short_canary(failure_limit=1)
    rollout["steps"].insert(0, {"weight": 0, "mirror": 100, "pause": "6s"})
    return rollout


def traffic_config(world: RolloutWorld) -> dict[str, Any]:
    """The split the stable pods read; empty until the first canary writes it."""
    try:
        configmap = world.get(f"/api/v1/namespaces/{world.namespace}/configmaps/digits-traffic")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return {}
        raise
    parsed: dict[str, Any] = json.loads(configmap["data"]["traffic.json"])
    return parsed


def test_a_permuted_canary_is_rolled_back_from_its_shadow_step_on_both_pods_comparisons(
    world: RolloutWorld,
) -> None:
    world.publish("1.0.0", "4.0.0")
    world.apply_model("1.0.0", replicas=2)
    world.wait_stable("1.0.0", timeout=90)
    mirrored: list[dict[str, Any]] = []
    with SteadyClient(world.service_url()) as client:
        world.apply_model("4.0.0", replicas=2, rollout=shadow_canary())

        def shadow_split_written(status: dict[str, Any]) -> bool:
            canary = traffic_config(world).get("canary") or {}
            if canary.get("mirrorPercent") == 100:
                mirrored.append(canary)
            return bool(mirrored)

        world.wait(shadow_split_written, 60, "the traffic ConfigMap mirroring at weight 0")
        status = world.wait(
            lambda s: (
                s.get("phase") == "RolledBack" and "4.0.0" in (s.get("blockedVersions") or [])
            ),
            120,
            "4.0.0 rolled back from its shadow step",
        )
    assert mirrored[0]["version"] == "4.0.0" and mirrored[0]["weight"] == 0, mirrored
    assert client.failures == [], client.failures[:5]
    assert set(client.by_version) == {"1.0.0"}, client.by_version
    last = status["lastAnalysis"]
    assert last["verdict"] == "Fail" and "agreement with stable" in last["message"], last
    comparison = last["comparison"]
    assert comparison["agreement"] == 0 and comparison["rows"] >= 20, comparison
    assert comparison["topFlips"][0]["from"] == "3" and comparison["topFlips"][0]["to"] == "4"
    # Mirroring ends with the canary: the split written after the rollback names none.
    world.wait(lambda s: traffic_config(world).get("canary") is None, 30, "split cleared")
    assert predict(world.service_url())[1] == "1.0.0"
