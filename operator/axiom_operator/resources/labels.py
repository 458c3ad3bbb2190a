"""Names and labels of the children of an AxiomModel.

Each version gets its own Deployment and Service (``<model>-v<version>``) because a canary runs
next to the stable version; the model Service (``<model>``) selects the stable version's pods
by the version label. The standard ``app.kubernetes.io/*`` labels let generic tools group them;
``axiom.dev/model`` and ``axiom.dev/version`` are what selectors and the operator's own
watches use (labels are the only index the apiserver offers).
"""

from __future__ import annotations

MANAGED_BY = "axiom-operator"
MODEL_LABEL = "axiom.dev/model"
VERSION_LABEL = "axiom.dev/version"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
RUNTIME_PORT = 8080
RUNTIME_PORT_NAME = "http"
# The Open Inference Protocol over gRPC, on every runtime pod (the runtime's own default is
# off, so this is set explicitly). 8081 is KServe's gRPC port for the same protocol.
RUNTIME_GRPC_PORT = 8081
RUNTIME_GRPC_PORT_NAME = "grpc"


def version_slug(version: str) -> str:
    """1.2.3-rc.1 -> 1-2-3-rc-1: a version as it may appear inside an object name."""
    return version.replace(".", "-").lower()


def version_object_name(model: str, version: str) -> str:
    """Name of the Deployment, per-version Service and HPA of one version."""
    return f"{model}-v{version_slug(version)}"


def model_service_name(model: str) -> str:
    return model


def runtime_config_name(model: str) -> str:
    return f"{model}-runtime"


def trusted_keys_config_name(model: str) -> str:
    """The ConfigMap mirroring pinned trusted keys into the model's namespace, for its pods
    (only with AXIOM_OPERATOR_TRUSTED_KEYS_NAMESPACE; public keys, so not a Secret)."""
    return f"{model}-trusted-keys"


def traffic_config_name(model: str) -> str:
    """The ConfigMap holding ``traffic.json``, mounted by every runtime pod of the model."""
    return f"{model}-traffic"


def route_name(model: str) -> str:
    """The HTTPRoute the operator owns in GatewayAPI mode."""
    return model


def model_labels(model: str) -> dict[str, str]:
    """Labels every child of the model carries."""
    return {
        "app.kubernetes.io/name": "axiom-runtime",
        "app.kubernetes.io/instance": model,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/part-of": "axiom",
        MANAGED_BY_LABEL: MANAGED_BY,
        MODEL_LABEL: model,
    }


def version_labels(model: str, version: str) -> dict[str, str]:
    """Labels of the children (and pods) of one version."""
    return {**model_labels(model), "app.kubernetes.io/version": version, VERSION_LABEL: version}


def pod_selector(model: str, version: str) -> dict[str, str]:
    """The immutable Deployment selector and the Service selectors: model and version only."""
    return {MODEL_LABEL: model, VERSION_LABEL: version}


def selector_string(model: str, version: str) -> str:
    return ",".join(f"{k}={v}" for k, v in pod_selector(model, version).items())
