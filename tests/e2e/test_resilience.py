"""End to end: a canary survives its operator being killed again and again, and the
apiserver going away, without a request lost at the Service or an object duplicated.

The operator runs as a real process (``axiom operator``) and dies by SIGKILL at random
moments of the canary (mid-reconcile, mid-write), at least ten times; each time a new one
starts with nothing but what the apiserver holds. The data plane (runtime pods, the split
inside them, the Service) must not notice: the steady client counts every request.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest
from e2e_support import (
    ModelWorld,
    restart_apiserver,
    sample,
    wait_until,
)

from axiom_devcluster.agent.pytest_plugin import AgentCluster
from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.manifests import MODEL_NAME
from axiom_devcluster.demo.operator_process import OperatorProcess
from axiom_devcluster.demo.traffic import SteadyClient, predict

pytestmark = [pytest.mark.e2e, pytest.mark.agent, pytest.mark.slow]
KILLS = 10
# Long enough that ten kill/restart cycles (a random 0.3..2.5 s, then ~2 s to restart)
# happen while the canary is still running.
SHORT_ROLLBACK_WINDOW = {"rollbackWindow": "5s", "scaleDownDelay": "5s"}
LONG_CANARY = manifests.canary_rollout(steps=((10, "15s"), (30, "15s"), (60, "15s")))


def start_on_v1(world: ModelWorld) -> SteadyClient:
    for version in ("1.0.0", "2.0.0"):
        world.publish(version)
    world.apply_model("1.0.0")
    world.wait_ready()
    return SteadyClient(world.service_url(), sample(3), rate=20.0).start()


def assert_no_duplicates(world: ModelWorld) -> None:
    """One Deployment and one Service per version, one model Service, pods as desired,
    and 2.0.0 promoted exactly once in the history."""
    selector = f"axiom.dev/model={MODEL_NAME}"
    deployments = world.items("deployments", selector)
    versions = Counter(d["metadata"]["labels"]["axiom.dev/version"] for d in deployments)
    assert all(n == 1 for n in versions.values()), versions
    assert {d["metadata"]["name"] for d in deployments} <= {
        f"{MODEL_NAME}-v1-0-0",
        f"{MODEL_NAME}-v2-0-0",
    }
    services = [s["metadata"]["name"] for s in world.items("services", selector)]
    assert len(services) == len(set(services))
    assert set(services) <= {MODEL_NAME, f"{MODEL_NAME}-v1-0-0", f"{MODEL_NAME}-v2-0-0"}
    serving = world.kubectl.json("get", "deployment", f"{MODEL_NAME}-v2-0-0")
    live_pods = [
        p
        for p in world.items("pods", f"{selector},axiom.dev/version=2.0.0")
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert len(live_pods) == serving["spec"]["replicas"], [p["metadata"]["name"] for p in live_pods]
    history = (world.model() or {})["status"].get("history") or []
    promoted = [
        h for h in history if h.get("version") == "2.0.0" and h.get("outcome") == "Promoted"
    ]
    assert len(promoted) == 1, history


def promoted(world: ModelWorld) -> bool:
    snapshot = world.snapshot()
    return snapshot.stable == "2.0.0" and not snapshot.canary


def wait_promoted(world: ModelWorld, what: str, timeout: float) -> None:
    """2.0.0 is stable and no canary is left; on a timeout the error carries the model's
    status, so a CI log says where the rollout stood."""
    wait_until(
        lambda: promoted(world),
        what=what,
        timeout=timeout,
        explain=lambda: (world.model() or {}).get("status") or {},
    )


@pytest.mark.timeout(240)
def test_operator_killed_ten_times_during_a_version_change(
    world: ModelWorld, operator: OperatorProcess
) -> None:
    """Without rollout steps (a blue-green switch): the kills land while 2.0.0 starts, while
    the Service moves and while 1.0.0 is retired; none of it may cost a request or leave an
    object twice. The old version stays warm for rollbackWindow (default 1h): shortened here
    so its retirement happens within the test."""
    rng = random.Random(7)
    client = start_on_v1(world)
    try:
        world.apply_model("2.0.0", rollout=SHORT_ROLLBACK_WINDOW)
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.1, 1.5))
            operator.kill()
            operator.start()
        wait_promoted(world, "2.0.0 serving after the kills", timeout=120)
        wait_until(
            lambda: len(world.items("deployments", f"axiom.dev/model={MODEL_NAME}")) == 1,
            what="1.0.0 retired",
            timeout=60,
        )
    finally:
        stats = client.stop()

    assert operator.starts == KILLS + 1
    assert stats.failed == 0, stats.failures
    assert stats.by_version["2.0.0"] > 0, stats.by_version
    assert predict(world.service_url(), sample(0)).version == "2.0.0"
    assert_no_duplicates(world)


@pytest.mark.timeout(200)
def test_apiserver_restart_during_a_version_change_is_survived(
    world: ModelWorld, operator: OperatorProcess, agent_cluster: AgentCluster
) -> None:
    """The apiserver goes away right after 2.0.0 is applied: the data plane keeps answering
    (the Service and the pods do not need it), the operator keeps running and finishes."""
    client = start_on_v1(world)
    try:
        world.apply_model("2.0.0")
        restart_apiserver(agent_cluster.control_plane, down_for=5.0)
        wait_promoted(world, "2.0.0 serving after the restart", timeout=120)
    finally:
        stats = client.stop()

    assert operator.running, "the operator process exited while the apiserver was away"
    assert operator.starts == 1
    assert stats.failed == 0, stats.failures
    assert predict(world.service_url(), sample(7)).version == "2.0.0"
    assert_no_duplicates(world)


@pytest.mark.timeout(360)
def test_operator_killed_ten_times_during_a_canary(
    world: ModelWorld, operator: OperatorProcess
) -> None:
    rng = random.Random(20261126)
    client = start_on_v1(world)
    kills_during_canary = 0
    try:
        world.apply_model("2.0.0", rollout=LONG_CANARY)
        wait_until(
            lambda: world.snapshot().canary == "2.0.0", what="canary of 2.0.0 started", timeout=60
        )
        while kills_during_canary < KILLS:
            time.sleep(rng.uniform(0.3, 2.5))
            in_canary = world.snapshot().canary == "2.0.0"
            operator.kill()
            operator.start()
            if not in_canary:
                break
            kills_during_canary += 1
        assert kills_during_canary >= KILLS, (
            f"the canary ended after {kills_during_canary} kills; make it longer"
        )
        wait_promoted(world, "2.0.0 promoted after the kills", timeout=150)
    finally:
        stats = client.stop()

    assert operator.starts == KILLS + 1
    assert stats.failed == 0, stats.failures
    assert stats.by_version["2.0.0"] > 0
    assert predict(world.service_url(), sample(0)).version == "2.0.0"
    assert_no_duplicates(world)


@pytest.mark.timeout(300)
def test_apiserver_restart_during_a_canary_is_survived(
    world: ModelWorld, operator: OperatorProcess, agent_cluster: AgentCluster
) -> None:
    client = start_on_v1(world)
    try:
        world.apply_model("2.0.0", rollout=manifests.canary_rollout())
        wait_until(
            lambda: world.snapshot().canary == "2.0.0", what="canary of 2.0.0 started", timeout=60
        )
        restart_apiserver(agent_cluster.control_plane, down_for=5.0)
        wait_promoted(world, "2.0.0 promoted after the apiserver came back", timeout=150)
    finally:
        stats = client.stop()

    assert operator.running, "the operator process exited while the apiserver was away"
    assert operator.starts == 1
    assert stats.failed == 0, stats.failures
    assert predict(world.service_url(), sample(7)).version == "2.0.0"
    assert_no_duplicates(world)
