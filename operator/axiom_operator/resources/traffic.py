"""Where the split is written: the traffic ConfigMap (Runtime mode) and the HTTPRoute
(GatewayAPI mode).

The ConfigMap ``<model>-traffic`` holds ``traffic.json`` in the runtime's format
(``axiom_runtime.traffic.config``). Every runtime pod of the model mounts it, not only the
stable ones: the runtime never forwards when the canary named is itself, and a pod template
that does not change at promotion or rollback means the Service can move to a warm version
without restarting a single pod. The canary URL is the canary Service's ClusterIP, not its
DNS name, because the operator must not assume cluster DNS (the local test cluster has none)
and a ClusterIP is stable for the Service's lifetime.

Gateway API weights are integers, so percentages with two decimals become parts of 10000.
"""

from __future__ import annotations

from typing import Any

from axiom_operator import api
from axiom_operator.resources import labels as names
from axiom_operator.resources.owner import Owner, object_meta
from axiom_runtime.traffic.config import CanaryTarget, TrafficConfig, render_traffic_config

TRAFFIC_KEY = "traffic.json"
TRAFFIC_GENERATION_ANNOTATION = "axiom.dev/traffic-generation"
GATEWAY_WEIGHT_SCALE = 100  # weight percent x 100 = integer backendRef weight (sum 10000)


def canary_url(cluster_ip: str, port: int = names.RUNTIME_PORT) -> str:
    host = f"[{cluster_ip}]" if ":" in cluster_ip else cluster_ip
    return f"http://{host}:{port}"


def canary_grpc_target(cluster_ip: str, port: int = names.RUNTIME_GRPC_PORT) -> str:
    """``host:port`` of the canary Service's gRPC port, where stable pods forward gRPC calls."""
    host = f"[{cluster_ip}]" if ":" in cluster_ip else cluster_ip
    return f"{host}:{port}"


def traffic_config_text(
    generation: int,
    canary: CanaryTarget | None,
    request_id_header: str,
    *,
    pin_header: str | None = None,
) -> str:
    return render_traffic_config(
        TrafficConfig(
            generation=generation,
            canary=canary,
            request_id_header=request_id_header,
            pin_header=pin_header,
        )
    )


def build_traffic_configmap(owner: Owner, text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(
            owner, names.traffic_config_name(owner.name), names.model_labels(owner.name)
        ),
        "data": {TRAFFIC_KEY: text},
    }


def gateway_weights(weight: float) -> tuple[int, int]:
    """(stable, canary) integer weights for a canary percentage."""
    canary = round(weight * GATEWAY_WEIGHT_SCALE)
    return 100 * GATEWAY_WEIGHT_SCALE - canary, canary


def _backend(owner: Owner, version: str, weight: int) -> dict[str, Any]:
    return {
        "group": "",
        "kind": "Service",
        "name": names.version_object_name(owner.name, version),
        "port": names.RUNTIME_PORT,
        "weight": weight,
    }


def build_httproute(
    owner: Owner,
    *,
    stable_version: str,
    canary_version: str | None,
    weight: float,
    generation: int,
    gateway: api.GatewayRef | None,
) -> dict[str, Any]:
    """HTTPRoute ``<model>``: stable and canary per-version Services with the split as weights."""
    backends = []
    if canary_version is None or weight <= 0:
        backends.append(_backend(owner, stable_version, 100 * GATEWAY_WEIGHT_SCALE))
    else:
        stable_weight, canary_weight = gateway_weights(weight)
        backends.append(_backend(owner, stable_version, stable_weight))
        backends.append(_backend(owner, canary_version, canary_weight))
    spec: dict[str, Any] = {
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": backends,
            }
        ]
    }
    if gateway is not None:
        parent: dict[str, Any] = {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": gateway.name,
        }
        if gateway.namespace is not None:
            parent["namespace"] = gateway.namespace
        if gateway.section_name is not None:
            parent["sectionName"] = gateway.section_name
        spec["parentRefs"] = [parent]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": object_meta(
            owner,
            names.route_name(owner.name),
            names.model_labels(owner.name),
            {TRAFFIC_GENERATION_ANNOTATION: str(generation)},
        ),
        "spec": spec,
    }
