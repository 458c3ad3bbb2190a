"""Rollouts on the real node, each under a steady client that must see no failed request:
the e2e tier's canary tests, run here unchanged against the chart's operator in its pod and
runtime pods in containers behind kube-proxy (1.0.0 -> 2.0.0 promoted; 3.0.0 rolled back by
the analysis), plus a rollback by annotation and a tampered update refused before any pod."""

from __future__ import annotations

import time
from typing import Any

import pytest
from e2e_support import follow, sample, tampered, wait_until
from realnode_support import RealModelWorld
from test_canary import (
    CLIENT_RATE,
    test_bad_canary_is_rolled_back_without_a_failed_request,
    test_good_canary_is_promoted_by_real_analysis,
)

from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.traffic import SteadyClient, predict

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

__all__ = [
    "test_bad_canary_is_rolled_back_without_a_failed_request",
    "test_good_canary_is_promoted_by_real_analysis",
]


def _serving_v1(world: RealModelWorld) -> SteadyClient:
    for version in ("1.0.0", "2.0.0"):
        world.publish(version)
    world.apply_model("1.0.0")
    world.wait_ready(timeout=180)
    return SteadyClient(world.service_url(), sample(3), rate=CLIENT_RATE).start()


def test_rollback_by_annotation_under_a_steady_client(
    world: RealModelWorld, operator: dict[str, Any]
) -> None:
    client = _serving_v1(world)
    try:
        world.apply_model("2.0.0", rollout=manifests.canary_rollout())
        follow(world, lambda s: s.stable == "2.0.0" and not s.canary, timeout=180)
        world.kubectl.run("annotate", "axm", manifests.MODEL_NAME, "axiom.dev/rollback=previous")
        follow(world, lambda s: s.stable == "1.0.0" and not s.canary, timeout=90)
        wait_until(
            lambda: predict(world.service_url(), sample(7)).version == "1.0.0",
            what="1.0.0 answering after the rollback",
            timeout=30,
        )
        time.sleep(2)
    finally:
        stats = client.stop()
    assert stats.failed == 0, stats.failures
    assert stats.by_version["2.0.0"] > 0 and stats.by_version["1.0.0"] > 0, stats.by_version


def test_a_tampered_update_is_refused_before_any_pod_under_a_steady_client(
    world: RealModelWorld, operator: dict[str, Any]
) -> None:
    client = _serving_v1(world)
    try:
        genuine = manifests.ExampleVersion.of("2.0.0")
        world.publish("2.0.0", package=tampered(genuine.package.read_bytes()))
        world.apply_model("2.0.0", rollout=manifests.canary_rollout())
        refused = wait_until(
            lambda: (lambda c: c if c.get("status") == "False" else None)(
                world.condition("CertificateValid")
            ),
            what="CertificateValid=False for the tampered 2.0.0",
            timeout=60,
        )
        time.sleep(3)  # time for a wrong operator to create something anyway
        versions = {p["metadata"]["labels"].get("axiom.dev/version") for p in world.items("pods")}
    finally:
        stats = client.stop()
    assert refused["reason"] == "HashMismatch", refused
    assert "2.0.0" not in versions, versions
    assert stats.failed == 0, stats.failures
    assert set(stats.by_version) == {"1.0.0"}, stats.by_version
