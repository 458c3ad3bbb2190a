"""Pods leave during a canary, as they do on real nodes: one stable runtime pod is deleted
(it must finish what it has and take no new work while kube-proxy drops it from the Service:
readiness, preStop and graceful shutdown), then the operator's own pod is deleted (its
Deployment replaces it and the new one picks the rollout up from the status). The steady
client sees no failed request and the canary is promoted."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_support import follow, sample, wait_until
from realnode_support import OPERATOR_NAMESPACE, RealModelWorld, pod_ready, ready_operator_pod

from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.traffic import SteadyClient
from axiom_devcluster.realnode.node import RealCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
VERSION_LABEL = "axiom.dev/version"


def _ready_pods(world: RealModelWorld, version: str) -> list[dict[str, Any]]:
    pods = world.items("pods", f"{VERSION_LABEL}={version}")
    return [p for p in pods if pod_ready(p) and not p["metadata"].get("deletionTimestamp")]


def test_a_stable_pod_and_the_operator_pod_deleted_during_a_canary(
    world: RealModelWorld, operator: dict[str, Any], real_cluster: RealCluster
) -> None:
    for version in ("1.0.0", "2.0.0"):
        world.publish(version)
    world.apply_model("1.0.0", replicas=2)
    world.wait_ready(timeout=180)
    wait_until(lambda: len(_ready_pods(world, "1.0.0")) == 2, what="2 stable pods", timeout=60)
    client = SteadyClient(world.service_url(), sample(3), rate=20.0).start()
    try:
        rollout = manifests.canary_rollout(steps=((25, "20s"), (50, "20s")))
        world.apply_model("2.0.0", rollout=rollout, replicas=2)
        wait_until(
            lambda: world.snapshot().canary == "2.0.0" and _ready_pods(world, "2.0.0"),
            what="2.0.0 serving as canary",
            timeout=120,
        )
        victim = _ready_pods(world, "1.0.0")[0]["metadata"]["name"]
        world.kubectl.run("delete", "pod", victim, "--wait=false")
        wait_until(
            lambda: (
                len(_ready_pods(world, "1.0.0")) == 2
                and victim not in {p["metadata"]["name"] for p in _ready_pods(world, "1.0.0")}
            ),
            what="the stable Deployment back to 2 Ready pods",
            timeout=120,
        )
        old_operator = operator["metadata"]["name"]
        world.kubectl.run(
            "delete", "pod", old_operator, "-n", OPERATOR_NAMESPACE, "--wait=false",
            namespaced=False,
        )  # fmt: skip
        new_operator = wait_until(
            lambda: (lambda p: p if p and p["metadata"]["name"] != old_operator else None)(
                ready_operator_pod(real_cluster)
            ),
            what="a new operator pod Ready",
            timeout=120,
        )
        trail = follow(world, lambda s: s.stable == "2.0.0" and not s.canary, timeout=240)
    finally:
        stats = client.stop()
    assert new_operator["metadata"]["name"] != old_operator
    assert any(s.canary == "2.0.0" for s in trail) or trail[-1].stable == "2.0.0"
    assert stats.failed == 0, stats.failures
    assert stats.by_version["1.0.0"] > 0 and stats.by_version["2.0.0"] > 0, stats.by_version
