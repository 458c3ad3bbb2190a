"""End to end: a canary on real traffic, judged by real analysis of the runtime's metrics.

A steady client (20 requests/s, a fresh X-Request-ID each, no retries) talks to the model
Service the whole time. A good version must be promoted through its steps; a bad one (validly
signed, near-uniform answers: the example's 3.0.0) must be rolled back by the analysis alone,
and in both cases the client must not see one failed request.
"""

from __future__ import annotations

import pytest
from e2e_support import ModelWorld, follow, sample

from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.operator_process import OperatorProcess
from axiom_devcluster.demo.traffic import SteadyClient, predict

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.agent,
    pytest.mark.slow,
    pytest.mark.timeout(240),
]
CLIENT_RATE = 20.0
PASSED = ("Pass", "Success")
FAILED = ("Fail", "Failure")


def start_on_v1(world: ModelWorld) -> SteadyClient:
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        world.publish(version)
    world.apply_model("1.0.0")
    world.wait_ready()
    return SteadyClient(world.service_url(), sample(3), rate=CLIENT_RATE).start()


def test_good_canary_is_promoted_by_real_analysis(
    world: ModelWorld, operator: OperatorProcess
) -> None:
    client = start_on_v1(world)
    try:
        world.apply_model("2.0.0", rollout=manifests.canary_rollout())
        trail = follow(world, lambda s: s.stable == "2.0.0" and not s.canary, timeout=180)
    finally:
        stats = client.stop()

    canary = [s for s in trail if s.canary == "2.0.0"]
    assert canary, "no status ever showed 2.0.0 as canary"
    weights = [s.weight for s in canary if s.weight is not None]
    assert weights == sorted(weights) and 25 in weights and 50 in weights, weights
    # The CRD spells verdicts Pass/Fail, the rollout package Success/Failure: accept either.
    assert any(s.verdict in PASSED for s in canary), [s.describe() for s in canary]
    assert stats.failed == 0, stats.failures
    # Both versions answered real clients during the canary: the split was real.
    assert stats.by_version["2.0.0"] > 0 and stats.by_version["1.0.0"] > 0, stats.by_version
    assert predict(world.service_url(), sample(7)).version == "2.0.0"
    history = (world.model() or {})["status"].get("history") or []
    promoted = [
        h for h in history if h.get("version") == "2.0.0" and h.get("outcome") == "Promoted"
    ]
    assert len(promoted) == 1, history


def test_bad_canary_is_rolled_back_without_a_failed_request(
    world: ModelWorld, operator: OperatorProcess
) -> None:
    client = start_on_v1(world)
    try:
        world.apply_model("3.0.0", rollout=manifests.canary_rollout())
        trail = follow(
            world, lambda s: "3.0.0" in s.blocked and not s.canary and not s.draining, timeout=180
        )
    finally:
        stats = client.stop()

    assert any(s.canary == "3.0.0" for s in trail), [s.describe() for s in trail]
    assert all(s.stable == "1.0.0" for s in trail if s.stable != "-"), [s.describe() for s in trail]
    failed = [s for s in trail if s.verdict in FAILED]
    assert failed and "confidence" in failed[-1].reasons.lower(), [s.describe() for s in trail]
    assert stats.failed == 0, stats.failures
    # The analysis judged answers real clients got from 3.0.0 (low confidence, not errors).
    assert stats.by_version["3.0.0"] > 0, stats.by_version
    assert predict(world.service_url(), sample(0)).version == "1.0.0"
    rolled_back = [
        e
        for e in world.events(**{"involvedObject.name": manifests.MODEL_NAME})
        if "3.0.0" in e["message"] and e["type"] == "Warning"
    ]
    assert rolled_back, "no Warning Event names the rolled-back 3.0.0"
