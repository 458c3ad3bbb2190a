"""An operator upgraded in the middle of a canary finishes it: the new release reads the
``status.rollout`` the previous release wrote (figures as ``p99Ms``, verdicts Success/Failure,
times with ``+00:00`` and microseconds) from the real apiserver, and the canary goes on from
the step it was at instead of starting again.

The previous encoding is made here from what the operator wrote, the way the release before
wrote it (tests/unit/fixtures/rollout_status_previous_encoding.json holds objects it wrote).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from rollout_support import OPERATOR_ENV, RolloutWorld, SteadyClient, short_canary

from axiom_devcluster.agent.pytest_plugin import AgentCluster

pytestmark = [pytest.mark.cluster, pytest.mark.agent, pytest.mark.slow, pytest.mark.timeout(300)]

_OLD_VERDICTS = {"Pass": "Success", "Fail": "Failure", "Inconclusive": "Inconclusive"}
_TIME_KEYS = ("canaryStartedAt", "stepStartedAt", "analysisWindowFrom")


def _old_time(text: str) -> str:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()


def previous_encoding(rollout: dict[str, Any]) -> dict[str, Any]:
    """``rollout`` as the previous release wrote it, as a merge patch (nulls drop new keys)."""
    old = dict(rollout)
    for key in _TIME_KEYS:
        if key in old:
            old[key] = _old_time(old[key])
    old["history"] = [{**h, "at": _old_time(h["at"])} for h in old.get("history", [])]
    old["warm"] = [{**w, "until": _old_time(w["until"])} for w in old.get("warm", [])]
    last = old.get("lastAnalysis")
    if last:
        last = {**last, "at": _old_time(last["at"]), "verdict": _OLD_VERDICTS[last["verdict"]]}
        for side in ("canary", "stable"):
            figures = last.get(side)
            if figures and "p99LatencyMs" in figures:
                last[side] = {**figures, "p99Ms": figures["p99LatencyMs"], "p99LatencyMs": None}
        old["lastAnalysis"] = last
    return old


def test_an_upgrade_mid_canary_reads_the_previous_status_and_finishes_the_canary(
    agent_cluster: AgentCluster, agent_namespace: str, start_operator: Any
) -> None:
    world = RolloutWorld(agent_cluster.control_plane, agent_namespace)
    world.publish("1.0.0", "2.0.0")
    with start_operator(agent_namespace, **OPERATOR_ENV):
        world.apply_model("1.0.0", replicas=2)
        world.wait_stable("1.0.0", timeout=90)
    with SteadyClient(world.service_url()) as client:
        with start_operator(agent_namespace, **OPERATOR_ENV):
            world.apply_model("2.0.0", replicas=2, rollout=short_canary(((20, "6s"), (60, "20s"))))
            before = world.wait(
                lambda s: (
                    s.get("canaryWeight") == 60
                    and (s.get("lastAnalysis") or {}).get("verdict") == "Pass"
                ),
                90,
                "step 2 at 60% with an analysis passed",
            )
        # The operator is stopped: what it left is rewritten the previous release's way.
        rollout = before["rollout"]
        world.merge_patch(
            world.model_path + "/status", {"status": {"rollout": previous_encoding(rollout)}}
        )
        stored = world.status()["rollout"]
        assert stored["lastAnalysis"]["verdict"] == "Success"
        assert "p99Ms" in stored["lastAnalysis"]["canary"], stored["lastAnalysis"]
        assert stored["canaryStartedAt"].endswith("+00:00")

        with start_operator(agent_namespace, **OPERATOR_ENV):
            resumed = world.wait(
                lambda s: str(s.get("rollout", {}).get("canaryStartedAt", "")).endswith("Z"),
                60,
                "the new release rewrote the status in its encoding",
            )
            status = world.wait_stable("2.0.0", timeout=120)
    assert client.failures == [], client.failures[:5]
    # The canary went on from where it was: the same start, the same step, the figures kept.
    again = resumed["rollout"]
    assert _instant(again["canaryStartedAt"]) == _instant(rollout["canaryStartedAt"])
    assert (resumed["canaryWeight"], resumed["step"]) == (60, 1), world.describe(resumed)
    old_last, new_last = rollout["lastAnalysis"], again["lastAnalysis"]
    if new_last["at"] == old_last["at"]:  # no new window closed yet: the stored one, read back
        assert new_last == old_last
    outcomes = [(h["version"], h["outcome"]) for h in status["history"]]
    assert outcomes[-1] == ("2.0.0", "Promoted"), outcomes
    assert all(version != "2.0.0" for version, outcome in outcomes[:-1]), outcomes


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
