"""Canary rollouts on the real control plane with runtime pods really served by the node agent:
the operator drives the rollout state machine, the stable pods split real requests by the
weight in the traffic ConfigMap, and the analysis reads the pods' real /metrics.

Versions are the example model's: 1.0.0 and 2.0.0 are good, 3.0.0 is validly signed but
answers near-uniform probabilities (mean confidence far below minConfidence 0.6).
"""

from __future__ import annotations

import pytest
from rollout_fixtures import agent_world  # noqa: F401 (the world fixture)
from rollout_support import RolloutWorld, SteadyClient, predict, short_canary

pytestmark = [pytest.mark.cluster, pytest.mark.agent, pytest.mark.slow, pytest.mark.timeout(300)]


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
                s.get("phase") == "RolledBack"
                and "3.0.0" in (s.get("blockedVersions") or [])
                # kept running until every stable pod stopped forwarding to it
                and not s.get("drainingVersions")
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


def promoted_to_v2(world: RolloutWorld) -> None:
    """1.0.0 then 2.0.0 without steps: a blue-green switch; 1.0.0 stays warm for 5 min."""
    on_v1(world, "2.0.0")
    world.apply_model("2.0.0", replicas=2, rollout={"rollbackWindow": "5m"})
    world.wait_stable("2.0.0", timeout=90)


def test_rollback_annotation_returns_to_the_warm_version_at_once(world: RolloutWorld) -> None:
    import time

    promoted_to_v2(world)
    service_path = f"/api/v1/namespaces/{world.namespace}/services/digits"
    with SteadyClient(world.service_url()) as client:
        started = time.monotonic()
        world.annotate("axiom.dev/rollback", "previous")
        status = world.wait(
            lambda s: s.get("phase") == "RolledBack" and s.get("stableVersion") == "1.0.0",
            30,
            "rollback to 1.0.0",
        )
        elapsed = time.monotonic() - started
        assert world.get(service_path)["spec"]["selector"]["axiom.dev/version"] == "1.0.0"
    assert client.failures == [], client.failures[:5]
    # warm: no pod had to start (1.0.0 kept its 2 replicas), so the switch is one reconcile
    print(f"rollback annotation -> status RolledBack on 1.0.0 in {elapsed:.2f}s")
    assert elapsed < 10, f"rollback took {elapsed:.1f}s"
    assert status["blockedVersions"] == ["2.0.0"]
    assert "rollback=previous" in status["handledRequests"]
    assert predict(world.service_url())[1] == "1.0.0"


def test_a_rolled_back_version_stays_blocked_until_spec_version_changes(
    world: RolloutWorld,
) -> None:
    promoted_to_v2(world)
    world.annotate("axiom.dev/rollback", "previous")
    world.wait(lambda s: s.get("phase") == "RolledBack", 30, "rollback to 1.0.0")
    # a GitOps sync re-applies the same manifest (spec.version still 2.0.0)
    world.apply_model("2.0.0", replicas=2, rollout={"rollbackWindow": "5m"})
    world.annotate("example.com/synced", "again")
    world.wait(lambda s: s.get("phase") == "RolledBack", 10, "still rolled back")
    status = world.wait(
        lambda s: world.deployments().get("digits-v2-0-0", 0) == 0, 30, "2.0.0 scaled to 0"
    )
    assert status["stableVersion"] == "1.0.0" and "canaryVersion" not in status
    assert status["blockedVersions"] == ["2.0.0"]
    # spec.version moves to the serving version: the block lifts
    world.apply_model("1.0.0", replicas=2)
    status = world.wait_stable("1.0.0", timeout=30)
    assert "blockedVersions" not in status
    # and 2.0.0 may be rolled out again later
    world.apply_model("2.0.0", replicas=2)
    world.wait(
        lambda s: s.get("canaryVersion") == "2.0.0" or s.get("stableVersion") == "2.0.0",
        30,
        "2.0.0 deployed again",
    )


def test_canary_percent_holds_an_exact_split_until_set_to_100(world: RolloutWorld) -> None:
    import time
    import uuid

    on_v1(world, "2.0.0")
    world.apply_model("2.0.0", replicas=2, traffic={"canaryPercent": 30})
    world.wait(
        lambda s: s.get("phase") == "Experiment" and s.get("effectiveWeight") == 30,
        60,
        "A/B split live at 30%",
    )
    url = world.service_url()
    answers = [predict(url, str(uuid.uuid4())) for _ in range(1000)]
    assert all(code == 200 for code, _ in answers), [a for a in answers if a[0] != 200][:5]
    share = 100 * sum(1 for _, version in answers if version == "2.0.0") / len(answers)
    print(f"A/B split measured over 1000 requests: {share:.1f}% on 2.0.0 (weight 30%)")
    assert abs(share - 30) <= 4, f"measured {share:.1f}% on 2.0.0 for weight 30%"
    # the same request id always reaches the same version
    assert len({predict(url, "user-42")[1] for _ in range(20)}) == 1
    time.sleep(5)
    status = world.status()
    assert status["phase"] == "Experiment" and status["stableVersion"] == "1.0.0", status
    world.apply_model("2.0.0", replicas=2, traffic={"canaryPercent": 100})
    world.wait_stable("2.0.0", timeout=90)
