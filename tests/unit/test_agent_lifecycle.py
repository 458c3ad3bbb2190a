"""Back-off schedule, probe thresholds, address allocation, status and endpoints (pure)."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest

from axiom_devcluster.agent.backoff import CrashBackoff, should_restart
from axiom_devcluster.agent.endpoints import Backend, backends
from axiom_devcluster.agent.ipam import AddressPoolExhaustedError, LoopbackPool
from axiom_devcluster.agent.placement import refusal_reason
from axiom_devcluster.agent.probes import ProbeSpecError, ProbeTracker, parse_probe
from axiom_devcluster.agent.status import (
    ContainerView,
    PodView,
    Termination,
    diverged,
    phase_of,
    pod_status,
)

CONTAINER = {"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}


def test_backoff_restarts_at_once_then_doubles_to_the_cap() -> None:
    backoff = CrashBackoff(initial=10, maximum=40)
    assert [backoff.next_delay(1) for _ in range(5)] == [0, 10, 20, 40, 40]


def test_backoff_forgets_after_a_long_good_run() -> None:
    backoff = CrashBackoff(initial=10, maximum=40)
    backoff.next_delay(1)
    backoff.next_delay(1)
    assert backoff.next_delay(80) == 0


@pytest.mark.parametrize(
    ("policy", "code", "restart"),
    [("Always", 0, True), ("OnFailure", 0, False), ("OnFailure", 1, True), ("Never", 1, False)],
)
def test_restart_policy(policy: str, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart


def test_probe_defaults_and_named_port() -> None:
    probe = parse_probe({"httpGet": {"path": "/ready", "port": "http"}}, CONTAINER)
    assert probe is not None
    assert (probe.port, probe.period, probe.timeout, probe.failure_threshold) == (8080, 10, 1, 3)


def test_unknown_named_port_is_refused() -> None:
    with pytest.raises(ProbeSpecError, match="'metrics'"):
        parse_probe({"tcpSocket": {"port": "metrics"}}, CONTAINER)


def test_readiness_needs_success_threshold_and_drops_after_failure_threshold() -> None:
    probe = parse_probe(
        {"exec": {"command": ["true"]}, "successThreshold": 2, "failureThreshold": 2}, CONTAINER
    )
    assert probe is not None
    tracker = ProbeTracker(probe, initial=False)
    assert [tracker.record(ok) for ok in (True, True)] == [False, True]
    assert [tracker.record(ok) for ok in (False, False)] == [False, True]
    assert tracker.verdict is False


def test_pool_gives_distinct_loopback_addresses_and_reuses_by_owner() -> None:
    pool = LoopbackPool(ipaddress.IPv4Network("127.19.0.0/29"))
    first, second = pool.allocate("a"), pool.allocate("b")
    assert first != second and pool.allocate("a") == first
    assert all(ip in ipaddress.IPv4Network("127.19.0.0/29") for ip in (first, second))


def test_pool_refuses_non_loopback_and_reports_exhaustion() -> None:
    with pytest.raises(ValueError, match="not inside loopback"):
        LoopbackPool(ipaddress.IPv4Network("10.0.0.0/24"))
    pool = LoopbackPool(ipaddress.IPv4Network("127.19.0.0/30"))
    pool.allocate("a")
    with pytest.raises(AddressPoolExhaustedError):
        pool.allocate("b")


def test_phase_running_while_crash_looping_and_failed_when_done() -> None:
    ended = Termination(1, "Error", "t0", "t1")
    looping = ContainerView("c", "i", waiting_reason="CrashLoopBackOff", restart_count=2)
    assert phase_of(PodView("127.19.0.2", "127.0.0.1", "t", [looping])) == "Running"
    done = ContainerView("c", "i", terminated=ended)
    assert phase_of(PodView("127.19.0.2", "127.0.0.1", "t", [done])) == "Failed"


def test_status_keeps_transition_time_while_a_condition_holds() -> None:
    view = PodView("127.19.0.2", "127.0.0.1", "t", [ContainerView("c", "i", ready=True)])
    first = pod_status(view, "T1")
    view.previous_conditions = {c["type"]: c for c in first["conditions"]}
    second = pod_status(view, "T2")
    ready = next(c for c in second["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["lastTransitionTime"]) == ("True", "T1")
    assert second["podIP"] == "127.19.0.2"


def test_a_status_changed_by_another_component_is_seen_as_diverged() -> None:
    """The node lifecycle controller sets Ready=False on a pod the agent wrote Ready: the agent
    must write its own status again. Its own echo, and conditions of other owners, must not."""
    view = PodView("127.19.0.2", "127.0.0.1", "t", [ContainerView("c", "i", ready=True)])
    written = pod_status(view, "T1")
    assert not diverged(written, written)
    marked = copy.deepcopy(written)
    for condition in marked["conditions"]:
        if condition["type"] == "Ready":
            condition.update(status="False", reason="NodeNotReady")
    assert diverged(written, marked)
    others = copy.deepcopy(written)
    others["conditions"].append({"type": "DisruptionTarget", "status": "True"})
    others["qosClass"] = "BestEffort"
    assert not diverged(written, others)
    assert diverged(written, {**written, "phase": "Failed"})
    assert diverged(written, {"phase": written["phase"]})  # conditions dropped


def _pod(name: str, ip: str, ready: bool, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
        "spec": {"containers": [CONTAINER]},
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_endpoints_are_ready_selected_loopback_pods_at_the_named_target_port() -> None:
    service = {"metadata": {"namespace": "ns"}, "spec": {"selector": {"app": "m"}}}
    pods = [
        _pod("a", "127.19.0.2", True, {"app": "m"}),
        _pod("b", "127.19.0.3", False, {"app": "m"}),
        _pod("c", "127.19.0.4", True, {"app": "other"}),
        _pod("d", "198.18.0.5", True, {"app": "m"}),
    ]
    found = backends(service, "http", pods, ipaddress.IPv4Network("127.19.0.0/16"))
    assert found == [Backend("127.19.0.2", 8080, "a")]


def test_other_images_are_refused_with_the_reason() -> None:
    pod = {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}
    reason = refusal_reason(pod, "axiom-runtime")
    assert reason is not None and "nginx:1" in reason
    assert (
        refusal_reason(
            {"spec": {"containers": [{"name": "r", "image": "x/axiom-runtime:1"}]}}, "axiom-runtime"
        )
        is None
    )
