"""The two other traffic modes on the real control plane (kwok pods: no data path needed).

Replicas: the split is the replica ratio behind a model Service that selects every version,
and status.effectiveWeight reports the share achieved. GatewayAPI: the operator writes the
weights into an HTTPRoute it owns (Gateway API CRDs installed from their Go module).
"""

from __future__ import annotations

import threading

import pytest
from rollout_fixtures import kwok_world  # noqa: F401 (the world fixture)
from rollout_support import RolloutWorld, gateway_api_crds, install_crds

from axiom_devcluster.controlplane import ControlPlane

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="session")
def gateway_crds(control_plane: ControlPlane) -> None:
    crds = gateway_api_crds()
    if crds is None:
        pytest.skip("Gateway API CRDs unavailable: Go or the Go module proxy is not reachable")
    install_crds(control_plane, crds)


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
    route = world.get(ROUTE_PATH.format(namespace=world.namespace))
    return [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]]


ROUTE_PATH = "/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes/digits"


class GatewayController:
    """Plays the Gateway's controller (there is none in the test cluster): while running, it
    accepts every generation of the route for the parent ``public``, as a real one writes
    ``status.parents`` once it has programmed the route."""

    def __init__(self, world: RolloutWorld, gateway: str = "public") -> None:
        self.world, self.gateway = world, gateway
        self.accepted: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> GatewayController:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        path = ROUTE_PATH.format(namespace=self.world.namespace)
        while not self._stop.wait(0.2):
            try:
                route = self.world.get(path)
            except Exception:  # not written yet
                continue
            generation = route["metadata"]["generation"]
            if self.accepted and self.accepted[-1] == generation:
                continue
            condition = {
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": generation,
                "reason": "Accepted",
                "message": "accepted by the test's stand-in controller",
            }
            parent = {
                "parentRef": {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "name": self.gateway,
                },
                "controllerName": "axiom.dev/test-gateway-controller",
                "conditions": [
                    {**condition, "type": "Accepted", "status": "True"},
                    {
                        **condition,
                        "type": "ResolvedRefs",
                        "status": "True",
                        "reason": "ResolvedRefs",
                    },
                ],
            }
            self.world.merge_patch(path + "/status", {"status": {"parents": [parent]}})
            self.accepted.append(generation)


def test_gateway_api_mode_writes_the_weights_into_an_httproute(
    gateway_crds: None, world: RolloutWorld
) -> None:
    traffic = {"mode": "GatewayAPI", "gatewayRef": {"name": "public"}}
    with GatewayController(world) as gateway:
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
    assert len(gateway.accepted) >= 3, gateway.accepted  # each weight was accepted in turn
    route = world.get(ROUTE_PATH.format(namespace=world.namespace))
    assert route["spec"]["parentRefs"][0]["name"] == "public"
    assert route["metadata"]["ownerReferences"][0]["kind"] == "AxiomModel"


def test_gateway_api_weight_is_not_live_until_the_gateway_accepts_the_route(
    gateway_crds: None, world: RolloutWorld
) -> None:
    """No controller accepts the route: the first weight is never live, nothing is measured
    on it, and the canary fails at progressDeadline instead of advancing blind."""
    traffic = {"mode": "GatewayAPI", "gatewayRef": {"name": "public"}}
    with GatewayController(world):
        world.apply_model("1.0.0", replicas=1, traffic=traffic)
        world.wait_stable("1.0.0", timeout=60)
    steps = [{"weight": 25, "pause": "2s"}]
    world.apply_model(
        "2.0.0",
        replicas=1,
        traffic=traffic,
        rollout={"steps": steps, "progressDeadline": "15s"},
    )
    world.wait(lambda s: s.get("canaryWeight") == 25, 60, "25% written to the route")
    assert route_backends(world) == [("digits-v1-0-0", 7500), ("digits-v2-0-0", 2500)]
    status = world.wait(
        lambda s: s.get("phase") in ("RolledBack", "Failed"), 90, "the canary given up"
    )
    assert "not live within progressDeadline" in status.get("message", ""), status
    assert status.get("stableVersion") == "1.0.0"
    assert not any(
        h.get("version") == "2.0.0" and h.get("outcome") == "Promoted"
        for h in status.get("history") or []
    )
