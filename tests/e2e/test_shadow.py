"""End to end: a confident-and-wrong canary caught in shadow mode before any user saw it.

The example's 4.0.0 is 1.0.0 with its output labels permuted: validly signed, the same
confidence, latency and error rate as 1.0.0, and wrong on almost every input. A canary
judged on its own figures passes. With a shadow step first ({weight: 0, mirror: 100}) the
stable pods send a copy of every request to it, compare both answers, and the analysis
rolls it back on the agreement alone, while the steady client (20 requests/s, fresh
X-Request-ID each) is answered by 1.0.0 every time, with no failed request.
"""

from __future__ import annotations

import urllib.request

import pytest
from e2e_support import ModelWorld, follow, sample, wait_until

from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.manifests import ExampleVersion
from axiom_devcluster.demo.operator_process import OperatorProcess
from axiom_devcluster.demo.traffic import SteadyClient

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.agent,
    pytest.mark.slow,
    pytest.mark.timeout(240),
]
FAILED = ("Fail", "Failure")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def test_a_label_permuted_canary_is_caught_in_shadow_mode_before_any_user_got_its_answer(
    world: ModelWorld, operator: OperatorProcess
) -> None:
    for version in ("1.0.0", "4.0.0"):
        world.publish(version)
    world.apply_model("1.0.0")
    world.wait_ready()
    client = SteadyClient(world.service_url(), sample(3), rate=20.0).start()
    try:
        world.apply_model("4.0.0", rollout=manifests.shadow_rollout())
        trail = follow(
            world, lambda s: "4.0.0" in s.blocked and not s.canary and not s.draining, timeout=180
        )
    finally:
        stats = client.stop()

    described = [s.describe() for s in trail]
    canary = [s for s in trail if s.canary == "4.0.0"]
    assert canary, described
    # Never past the shadow step: no user request was ever sent to 4.0.0.
    assert all((s.weight or 0) == 0 and (s.step or 0) == 0 for s in canary), described
    assert stats.failed == 0, stats.failures
    assert set(stats.by_version) == {"1.0.0"}, stats.by_version
    failed = [s for s in trail if s.verdict in FAILED]
    assert failed and "agreement with stable" in failed[-1].reasons, described
    assert "3->4" in failed[-1].reasons, described  # the sample is a 3; 4.0.0 calls it 4
    status = (world.model() or {})["status"]
    comparison = status["lastAnalysis"]["comparison"]
    assert comparison["agreement"] < 0.05 and comparison["rows"] >= 20, comparison
    history = status.get("history") or []
    assert any(h["version"] == "4.0.0" and h["outcome"] == "Failed" for h in history), history
    warnings = [e for e in world.events(type="Warning") if e.get("reason") == "AnalysisFailed"]
    assert any("agreement" in e.get("message", "") for e in warnings), warnings


PIN_HEADER = "X-Axiom-Pin"


def pinned_version(url: str, pin: str) -> str:
    """The version that answers a tester's request pinned to ``pin`` (canary or stable)."""
    request = urllib.request.Request(
        f"{url}/predict",
        data=sample(7),
        method="POST",
        headers={"Content-Type": "application/json", PIN_HEADER: pin},
    )
    with _NO_PROXY.open(request, timeout=5) as answer:
        return str(answer.headers.get("X-Axiom-Version", "?"))


def pinned_in_shadow_step(world: ModelWorld) -> str | None:
    """The pinned answer's version, if the shadow step (weight 0) ran before and after it."""
    before = world.snapshot()
    version = pinned_version(world.service_url(), "canary")
    after = world.snapshot()
    in_shadow = all(s.canary == "2.0.0" and s.step == 0 and not s.weight for s in (before, after))
    return version if in_shadow and version == "2.0.0" else None


def test_a_good_canary_passes_shadow_and_split_by_sequential_decisions_and_testers_can_pin_it(
    world: ModelWorld, operator: OperatorProcess
) -> None:
    for version in ("1.0.0", "2.0.0"):
        world.publish(version)
    world.apply_model("1.0.0")
    world.wait_ready()
    client = SteadyClient(world.service_url(), sample(3), rate=20.0).start()
    rollout = manifests.shadow_rollout(steps=((50, "8s"),))
    # Strict: a step passes only once the sequential tests show the canary good (the
    # default would let a full window pass on the thresholds while they are undecided).
    rollout["analysis"]["sequential"] = {"falseRollbackRate": 0.05, "whenUndecided": "Inconclusive"}
    rollout["analysis"]["maxErrorRate"] = 0.05
    v2 = ExampleVersion.of("2.0.0")
    model = manifests.axiom_model(world.namespace, "2.0.0", v2.sha256, rollout=rollout)
    model["spec"]["traffic"]["pinHeader"] = PIN_HEADER
    try:
        world.apply(model)
        shadow = follow(world, lambda s: s.canary == "2.0.0" and s.step == 0, timeout=120)
        # At weight 0, by header, once the stable pods applied the split naming the canary.
        pinned = wait_until(
            lambda: pinned_in_shadow_step(world),
            what="a request pinned to the canary answered by 2.0.0 in the shadow step",
            timeout=30,
        )
        trail = shadow + follow(world, lambda s: s.stable == "2.0.0" and not s.canary, timeout=180)
    finally:
        stats = client.stop()

    described = [s.describe() for s in trail]
    assert pinned == "2.0.0", (pinned, described)
    assert pinned_version(world.service_url(), "stable") == "2.0.0"  # promoted: stable now
    assert stats.failed == 0, stats.failures
    passed = [s for s in trail if s.verdict in ("Pass", "Success")]
    assert passed, described
    assert any("sequential tests passed" in s.reasons for s in passed), described
    history = (world.model() or {})["status"].get("history") or []
    assert any(h["version"] == "2.0.0" and h["outcome"] == "Promoted" for h in history), history
