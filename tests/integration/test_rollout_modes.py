"""The two other traffic modes on the real control plane (kwok pods: no data path needed).

Replicas: the split is the replica ratio behind a model Service that selects every version,
and status.effectiveWeight reports the share achieved. GatewayAPI: the operator writes the
weights into an HTTPRoute it owns (Gateway API CRDs installed from their Go module).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rollout_support import RolloutWorld, gateway_api_crds

from axiom_devcluster.controlplane import ControlPlane
from axiom_devcluster.operator_fixtures import CRD_PATH, wait_established

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def world(
    control_plane: ControlPlane, namespace: str, start_operator: Any
) -> Iterator[RolloutWorld]:
    world = RolloutWorld(control_plane, namespace)
    world.publish("1.0.0", "2.0.0")
    with start_operator(namespace):
        yield world


@pytest.fixture(scope="session")
def gateway_crds(control_plane: ControlPlane) -> None:
    import urllib.error

    crds = gateway_api_crds()
    if crds is None:
        pytest.skip("Gateway API CRDs unavailable: Go or the Go module proxy is not reachable")
    for crd in crds:
        try:
            control_plane.api_request("POST", CRD_PATH, crd)
        except urllib.error.HTTPError as error:
            if error.code != 409:
                raise
    wait_established(control_plane, [crd["metadata"]["name"] for crd in crds])


def model_service_selector(world: RolloutWorld) -> dict[str, str]:
    service = world.get(f"/api/v1/namespaces/{world.namespace}/services/digits")
    return dict(service["spec"]["selector"])


def test_replicas_mode_splits_by_replica_count_and_reports_the_effective_weight(
    world: RolloutWorld,
) -> None:
    traffic = {"mode": "Replicas"}
    world.apply_model("1.0.0", replicas=2, traffic=traffic)
    world.wait_stable("1.0.0", timeout=60)
    world.apply_model(
        "2.0.0", replicas=2, traffic=traffic, rollout={"steps": [{"weight": 34, "pause": "4s"}]}
    )
    # the stable keeps its 2 replicas, the canary gets round(2 x 34 / 66) = 1: 1 of 3 pods
    status = world.wait(
        lambda s: s.get("canaryWeight") == 34 and s.get("effectiveWeight") == 33.33,
        60,
        "canary at 34% reporting the 33.33% its 1 of 3 pods achieve",
    )
    assert status["phase"] == "Canary"
    assert world.deployments() == {"digits-v1-0-0": 2, "digits-v2-0-0": 1}
    assert model_service_selector(world) == {"axiom.dev/model": "digits"}
    world.wait_stable("2.0.0", timeout=60)
    assert model_service_selector(world) == {
        "axiom.dev/model": "digits",
        "axiom.dev/version": "2.0.0",
    }


def route_backends(world: RolloutWorld) -> list[tuple[str, int]]:
    route = world.get(
        f"/apis/gateway.networking.k8s.io/v1/namespaces/{world.namespace}/httproutes/digits"
    )
    return [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]]


def test_gateway_api_mode_writes_the_weights_into_an_httproute(
    gateway_crds: None, world: RolloutWorld
) -> None:
    traffic = {"mode": "GatewayAPI", "gatewayRef": {"name": "public"}}
    world.apply_model("1.0.0", replicas=1, traffic=traffic)
    world.wait_stable("1.0.0", timeout=60)
    assert route_backends(world) == [("digits-v1-0-0", 10000)]
    steps = [{"weight": 25, "pause": "3s"}, {"weight": 50, "pause": "3s"}]
    world.apply_model("2.0.0", replicas=1, traffic=traffic, rollout={"steps": steps})
    world.wait(lambda s: s.get("effectiveWeight") == 25, 60, "25% live on the route")
    assert route_backends(world) == [("digits-v1-0-0", 7500), ("digits-v2-0-0", 2500)]
    world.wait(lambda s: s.get("effectiveWeight") == 50, 60, "50% live on the route")
    assert route_backends(world) == [("digits-v1-0-0", 5000), ("digits-v2-0-0", 5000)]
    world.wait_stable("2.0.0", timeout=60)
    assert route_backends(world) == [("digits-v2-0-0", 10000)]
    route = world.get(
        f"/apis/gateway.networking.k8s.io/v1/namespaces/{world.namespace}/httproutes/digits"
    )
    assert route["spec"]["parentRefs"][0]["name"] == "public"
    assert route["metadata"]["ownerReferences"][0]["kind"] == "AxiomModel"
