"""Service, HPA and runtime ConfigMap builders, pinned against literal manifests."""

from __future__ import annotations

from axiom_operator import api
from axiom_operator.resources.configmap import build_runtime_configmap, config_hash
from axiom_operator.resources.hpa import build_hpa
from axiom_operator.resources.owner import Owner, owner_of
from axiom_operator.resources.service import build_model_service, build_version_service

OWNER = Owner(name="mnist", namespace="ml", uid="uid-1")
SHA = "ab" * 32


def test_model_service_selects_the_serving_version() -> None:
    service = build_model_service(OWNER, "1.2.3")
    assert service["metadata"]["name"] == "mnist"
    assert service["spec"] == {
        "type": "ClusterIP",
        "selector": {"axiom.dev/model": "mnist", "axiom.dev/version": "1.2.3"},
        "ports": [
            {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"},
            {
                "name": "grpc",
                "port": 8081,
                "targetPort": "grpc",
                "protocol": "TCP",
                "appProtocol": "grpc",
            },
        ],
    }


def test_model_service_has_no_version_label() -> None:
    assert "axiom.dev/version" not in build_model_service(OWNER, "1.2.3")["metadata"]["labels"]


def test_version_service_is_named_after_the_version() -> None:
    service = build_version_service(OWNER, "2.0.0")
    assert service["metadata"]["name"] == "mnist-v2-0-0"
    assert service["spec"]["selector"] == {"axiom.dev/model": "mnist", "axiom.dev/version": "2.0.0"}
    # The canary's address for forwarded gRPC calls, as for HTTP.
    assert [port["name"] for port in service["spec"]["ports"]] == ["http", "grpc"]


def test_hpa_targets_the_version_deployment_on_cpu() -> None:
    hpa = build_hpa(OWNER, "1.2.3", api.AutoscalingSpec(min_replicas=2, max_replicas=5))
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "mnist-v1-2-3"},
        "minReplicas": 2,
        "maxReplicas": 5,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ],
    }


def test_runtime_configmap_holds_the_runtime_settings() -> None:
    spec = api.AxiomModelSpec.model_validate(
        {
            "version": "1.0.0",
            "model": {"uri": "file:///models/m.axiom", "sha256": SHA},
            "certificate": {"secretRef": {"name": "c"}},
            "runtime": {
                "maxBatchSize": 32,
                "maxBatchWaitMs": 2.5,
                "logLevel": "debug",
                "env": [{"name": "OMP_NUM_THREADS", "value": "1"}],
            },
        }
    )
    configmap = build_runtime_configmap(OWNER, spec)
    assert configmap["metadata"]["name"] == "mnist-runtime"
    assert configmap["data"] == {
        "AXIOM_MAX_BATCH_SIZE": "32",
        "AXIOM_MAX_BATCH_WAIT_MS": "2.5",
        "AXIOM_LOG_LEVEL": "debug",
        "OMP_NUM_THREADS": "1",
    }


def test_config_hash_changes_with_the_settings() -> None:
    assert config_hash({"A": "1"}) != config_hash({"A": "2"})


def test_owner_of_finds_the_axiom_model() -> None:
    assert owner_of(build_version_service(OWNER, "1.0.0")) == "mnist"


def test_owner_of_ignores_other_owners() -> None:
    child = {
        "metadata": {
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x"}]
        }
    }
    assert owner_of(child) is None
