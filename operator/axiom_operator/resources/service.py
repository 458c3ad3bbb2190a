"""Services of a model: the model Service users call (selects the stable version's pods) and
one Service per version (the canary's address for forwarding and analysis)."""

from __future__ import annotations

from typing import Any

from axiom_operator.resources import labels as names
from axiom_operator.resources.owner import Owner, object_meta


def _service(owner: Owner, name: str, labels: dict[str, str], version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(owner, name, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": names.pod_selector(owner.name, version),
            "ports": [
                {
                    "name": names.RUNTIME_PORT_NAME,
                    "port": names.RUNTIME_PORT,
                    "targetPort": names.RUNTIME_PORT_NAME,
                    "protocol": "TCP",
                },
                {
                    # appProtocol tells meshes and gateways to speak HTTP/2 (gRPC) here.
                    "name": names.RUNTIME_GRPC_PORT_NAME,
                    "port": names.RUNTIME_GRPC_PORT,
                    "targetPort": names.RUNTIME_GRPC_PORT_NAME,
                    "protocol": "TCP",
                    "appProtocol": "grpc",
                },
            ],
        },
    }


def build_model_service(owner: Owner, serving_version: str | None) -> dict[str, Any]:
    """``<model>``: what clients call; it selects only ``serving_version``'s pods, or every
    version of the model when None (Replicas mode: the split follows the replica counts)."""
    service = _service(
        owner, names.model_service_name(owner.name), names.model_labels(owner.name), ""
    )
    service["spec"]["selector"] = (
        {names.MODEL_LABEL: owner.name}
        if serving_version is None
        else names.pod_selector(owner.name, serving_version)
    )
    return service


def build_version_service(owner: Owner, version: str) -> dict[str, Any]:
    """``<model>-v<version>``: the pods of exactly one version."""
    return _service(
        owner,
        names.version_object_name(owner.name, version),
        names.version_labels(owner.name, version),
        version,
    )
