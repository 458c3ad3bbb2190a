"""The writes a pass plans, in the order they are sent, scenario by scenario (the pure stages
of the pipeline on a stand-in for the apiserver's storage: tests/unit/plan_world.py)."""

from __future__ import annotations

import json
from typing import Any

from plan_world import REFUSED, PlanWorld, model_spec

STEPS: dict[str, Any] = {
    "steps": [{"weight": 20, "pause": "5s"}, {"weight": 50, "pause": "5s"}],
    "scaleDownDelay": "0s",
    "rollbackWindow": "60s",
}


def stable_on_v1(**extra: Any) -> PlanWorld:
    world = PlanWorld(model_spec("1.0.0", **extra))
    world.until("Stable")
    return world


def change_version(world: PlanWorld, version: str, **extra: Any) -> None:
    world.spec = model_spec(version, **extra)
    world.generation += 1


def first_manifest(world: PlanWorld) -> dict[str, Any]:
    """The spec of the Deployment of 1.0.0 as the operator's main field manager sends it."""
    from axiom_operator.diff import APPLIED_HASH_ANNOTATION

    live = world.children[("Deployment", "m-v1-0-0")]
    assert APPLIED_HASH_ANNOTATION in live["metadata"]["annotations"]
    return dict(world.applied_specs[("Deployment", "m-v1-0-0")])


def test_a_first_deploy_writes_its_deployment_and_service_and_one_event() -> None:
    first = PlanWorld(model_spec("1.0.0")).tick()
    # No per-version Service, runtime-settings or traffic ConfigMap: nothing uses them yet.
    assert first.changes == ["apply Deployment m-v1-0-0", "apply Service m"]
    assert first.report == ["patch status", "event Deploying"], "status first, one Event"


def test_a_new_model_costs_at_most_six_writes_until_it_is_stable() -> None:
    """The floor of docs/operator-at-scale.md, pass by pass: Deployment, model Service, the
    Deploying status and Event, the Stable status and Event."""
    passes = PlanWorld(model_spec("1.0.0")).until("Stable")
    writes = [w for p in passes for w in [*p.changes, *p.report]]
    assert writes == [
        "apply Deployment m-v1-0-0",
        "apply Service m",
        "patch status",
        "event Deploying",
        "patch status",
        "event Stable",
    ]


def test_runtime_settings_get_their_configmap_before_the_deployment_that_reads_it() -> None:
    first = PlanWorld(model_spec("1.0.0", runtime={"maxBatchSize": 8})).tick()
    assert first.changes[:2] == ["apply ConfigMap m-runtime", "apply Deployment m-v1-0-0"]


def test_gateway_api_routes_need_a_service_per_version_from_the_start() -> None:
    first = PlanWorld(
        model_spec("1.0.0", traffic={"mode": "GatewayAPI", "gatewayRef": {"name": "gw"}})
    ).tick()
    assert "apply Service m-v1-0-0" in first.changes


def test_a_passes_news_join_the_machines_first_event_and_warnings_stay_apart() -> None:
    from axiom_operator.plan import fold_news
    from axiom_operator.values import Event

    machine = [
        Event("Normal", "StepAdvanced", "step 2"),
        Event("Normal", "Promoted", "2.0.0 is stable"),
    ]
    news = [
        Event("Normal", "Reconciled", "updated Service m"),
        Event("Warning", "Stalled", "quota"),
        Event("Normal", "AvailableTrue", "2/2 pods"),
    ]
    assert fold_news(machine, news) == [
        Event("Normal", "StepAdvanced", "step 2; updated Service m; 2/2 pods"),
        Event("Normal", "Promoted", "2.0.0 is stable"),
        Event("Warning", "Stalled", "quota"),
    ], "each machine Event stays (notifications act on each); the news join the first"
    alone = fold_news([], [Event("Normal", "Reconciled", "a"), Event("Normal", "X", "b")])
    assert alone == [Event("Normal", "Reconciled", "a; b")]
    long = [Event("Normal", "A", "x" * 800), Event("Normal", "B", "y" * 800)]
    (merged,) = fold_news([], long)
    assert len(merged.message) == 1024 and merged.message.endswith("...")


def test_an_unchanged_world_plans_no_write_at_all() -> None:
    world = stable_on_v1()
    for _ in range(3):
        again = world.tick(30)
        assert again.changes == [] and again.report == []


def test_a_canary_starts_with_its_service_and_deployment_and_its_split_follows_its_address() -> (
    None
):
    world = stable_on_v1()
    change_version(world, "2.0.0", rollout=STEPS)
    start = world.tick()
    assert start.changes == ["apply Service m-v2-0-0", "apply Deployment m-v2-0-0"]
    assert start.requeue == 2.0, "the split waits for the canary Service's address"
    assert "event CanaryStarted" in start.report
    split = world.tick()
    assert split.changes == ["apply ConfigMap m-traffic"]
    config = world.children[("ConfigMap", "m-traffic")]["data"]["traffic.json"]
    assert '"weight":20' in config.replace(" ", "") and "127.100.0." in config
    # gRPC calls of the canary's share go to the same Service's gRPC port.
    canary = json.loads(config)["canary"]
    assert canary["grpcTarget"] == canary["url"].removeprefix("http://").replace(":8080", ":8081")


def test_a_canary_step_rewrites_only_the_split() -> None:
    world = stable_on_v1()
    change_version(world, "2.0.0", rollout=STEPS)
    passes = [world.tick(3) for _ in range(8)]
    stepped = [p for p in passes if "event StepAdvanced" in p.report]
    assert stepped, [p.report for p in passes]
    assert stepped[0].changes == ["apply ConfigMap m-traffic"]
    config = world.children[("ConfigMap", "m-traffic")]["data"]["traffic.json"]
    assert '"weight":50' in config.replace(" ", "")


def test_promotion_sizes_the_canary_before_the_service_moves_and_keeps_the_old_version_warm() -> (
    None
):
    world = stable_on_v1()
    change_version(world, "2.0.0", rollout=STEPS)
    passes = world.until("Stable", seconds=3)
    promoting = next(p for p in passes if p.phase == "Promoting")
    assert "apply Deployment m-v2-0-0" in promoting.changes
    assert "apply Service m" not in promoting.changes, "users move only once it is full size"
    promoted = passes[-1]
    assert promoted.changes == ["apply ConfigMap m-traffic", "apply Service m"]
    assert "event Promoted" in promoted.report
    assert ("Deployment", "m-v1-0-0") in world.children, "1.0.0 stays warm for rollbackWindow"
    assert world.children[("Service", "m")]["spec"]["selector"]["axiom.dev/version"] == "2.0.0"


def test_a_rollback_moves_the_service_first_and_scales_the_rolled_back_version_after() -> None:
    world = stable_on_v1()
    change_version(world, "2.0.0", rollout=STEPS)
    world.until("Stable", seconds=3)
    world.annotations = {"axiom.dev/rollback": "previous"}
    rolled = world.tick()
    assert rolled.phase == "RolledBack"
    assert rolled.changes == ["apply Service m"], "the warm 1.0.0 needs no Deployment write"
    assert world.children[("Service", "m")]["spec"]["selector"]["axiom.dev/version"] == "1.0.0"
    after = world.tick(rolled.requeue or 1.0)
    assert after.changes == ["scale m-v2-0-0 0"]


def test_a_refused_certificate_writes_no_child_only_the_status_and_warnings() -> None:
    world = stable_on_v1()
    change_version(world, "3.0.0")
    world.outcome = REFUSED
    blocked = world.tick()
    assert blocked.phase == "Blocked"
    assert blocked.changes == []
    assert blocked.report[0] == "patch status"
    assert "event CertificateRefused" in blocked.report
    assert ("Deployment", "m-v3-0-0") not in world.children
    assert world.tick().report == [], "the refusal is said once"


def test_a_version_nothing_refers_to_is_deleted_service_before_deployment() -> None:
    world = stable_on_v1()
    change_version(world, "2.0.0")
    world.until("Stable")
    expired = world.tick(61)
    # 1.0.0 never was a canary, so it never had a Service of its own: its Deployment goes.
    assert expired.changes == ["delete Deployment m-v1-0-0"]
    # 2.0.0 was (its Service took the canary's share): when it goes, its Service goes first.
    change_version(world, "3.0.0")
    world.until("Stable")
    assert world.tick(61).changes == ["delete Service m-v2-0-0", "delete Deployment m-v2-0-0"]


def test_with_autoscaling_the_replicas_are_set_once_and_the_hpa_follows_the_deployment() -> None:
    world = PlanWorld(
        model_spec("1.0.0", replicas=None, autoscaling={"minReplicas": 2, "maxReplicas": 5})
    )
    first = world.tick()
    deployment = first.changes.index("apply Deployment m-v1-0-0")
    assert first.changes[deployment : deployment + 3] == [
        "apply Deployment m-v1-0-0",
        "initial-replicas m-v1-0-0 2",
        "apply HorizontalPodAutoscaler m-v1-0-0",
    ]
    assert "replicas" not in first_manifest(world), "the main manifest leaves replicas to the HPA"
    world.until("Stable")
    assert world.tick().changes == [], "the HPA owns replicas now: nothing is set again"


def users_service(name: str = "m", **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "annotations": dict(annotations),
            "managedFields": [{"manager": "kubectl-client-side-apply"}],
        },
        "spec": {"selector": {"app": "users-own"}},
    }


def test_a_name_taken_by_someone_else_holds_the_whole_pass() -> None:
    world = PlanWorld(model_spec("1.0.0"))
    world.others[("Service", "m")] = users_service()
    held = world.tick()
    assert held.changes == [], "nothing at all is written, not only the object in conflict"
    assert held.held is not None and held.held[0] == "ResourceConflict"
    assert (
        "Service m exists and is not this model's (managed by kubectl-client-side-apply)"
        in (held.held[1])
    )
    assert held.requeue == 30.0
    assert held.report[0] == "patch status" and "event Stalled" in held.report
    ready = next(c for c in world.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ResourceConflict")
    assert world.tick(30).report == [], "the conflict is said once, not every pass"
    assert ("Deployment", "m-v1-0-0") not in world.children


def test_the_model_proceeds_by_itself_once_the_name_is_free() -> None:
    world = PlanWorld(model_spec("1.0.0"))
    world.others[("Service", "m")] = users_service()
    world.tick()
    del world.others[("Service", "m")]
    free = world.tick(30)
    assert "apply Service m" in free.changes and free.held is None
    world.until("Stable")


def test_an_object_annotated_for_adoption_is_taken_over() -> None:
    world = PlanWorld(model_spec("1.0.0"))
    world.others[("Service", "m")] = users_service(**{"axiom.dev/adopt": "m"})
    first = world.tick()
    assert first.held is None and "apply Service m" in first.changes
    refs = world.children[("Service", "m")]["metadata"]["ownerReferences"]
    assert refs[0]["uid"] == "uid-1" and refs[0]["controller"] is True


def test_adoption_for_another_model_is_no_adoption() -> None:
    world = PlanWorld(model_spec("1.0.0"))
    world.others[("Service", "m")] = users_service(**{"axiom.dev/adopt": "someone-else"})
    assert world.tick().held is not None


def test_a_missing_cluster_api_holds_the_pass_and_says_which() -> None:
    world = PlanWorld(model_spec("1.0.0", traffic={"mode": "GatewayAPI"}))
    world.missing_apis = ("this cluster does not serve gateway.networking.k8s.io/v1 HTTPRoute",)
    held = world.tick()
    assert held.changes == [] and held.held is not None
    assert held.held[0] == "APIUnavailable"
    assert "gateway.networking.k8s.io/v1 HTTPRoute" in held.held[1]
