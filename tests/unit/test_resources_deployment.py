"""The runtime Deployment builder, pinned against literal manifests."""

from __future__ import annotations

from typing import Any

import pytest

from axiom_operator import api
from axiom_operator.resources.deployment import VersionInputs, build_deployment
from axiom_operator.resources.owner import Owner
from axiom_operator.values import SourceRef

SHA = "ab" * 32
OWNER = Owner(name="mnist", namespace="ml", uid="uid-1")


def spec(**overrides: Any) -> api.AxiomModelSpec:
    base: dict[str, Any] = {
        "version": "1.2.3",
        "model": {"uri": "https://models.example/mnist.axiom", "sha256": SHA},
        "certificate": {"secretRef": {"name": "mnist-cert"}},
    }
    base.update(overrides)
    return api.AxiomModelSpec.model_validate(base)


def inputs(model_spec: api.AxiomModelSpec) -> VersionInputs:
    return VersionInputs(
        owner=OWNER,
        spec=model_spec,
        image="axiom-runtime:0.1.0",
        certificate=SourceRef("Secret", "mnist-cert", "certificate.json"),
        trusted_keys=SourceRef("Secret", "axiom-trusted-keys"),
        config_hash="c0ffee",
        certificate_hash="cafe",
    )


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return result


def env(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment)["env"]}


def test_name_carries_the_version_with_dashes() -> None:
    assert build_deployment(inputs(spec()))["metadata"]["name"] == "mnist-v1-2-3"


def test_owned_by_the_axiom_model_as_controller() -> None:
    refs = build_deployment(inputs(spec()))["metadata"]["ownerReferences"]
    assert refs == [
        {
            "apiVersion": "axiom.dev/v1alpha1",
            "kind": "AxiomModel",
            "name": "mnist",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_labels_are_standard_plus_model_and_version() -> None:
    assert build_deployment(inputs(spec()))["metadata"]["labels"] == {
        "app.kubernetes.io/name": "axiom-runtime",
        "app.kubernetes.io/instance": "mnist",
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/part-of": "axiom",
        "app.kubernetes.io/managed-by": "axiom-operator",
        "app.kubernetes.io/version": "1.2.3",
        "axiom.dev/model": "mnist",
        "axiom.dev/version": "1.2.3",
    }


def test_selector_is_model_and_version_only() -> None:
    selector = build_deployment(inputs(spec()))["spec"]["selector"]
    assert selector == {"matchLabels": {"axiom.dev/model": "mnist", "axiom.dev/version": "1.2.3"}}


def test_runtime_env_follows_the_server_contract() -> None:
    assert env(build_deployment(inputs(spec()))) == {
        "AXIOM_MODEL_URI": "https://models.example/mnist.axiom",
        "AXIOM_MODEL_SHA256": SHA,
        "AXIOM_MODEL_NAME": "mnist",
        "AXIOM_EXPECTED_VERSION": "1.2.3",
        "AXIOM_CERTIFICATE": "/etc/axiom/certificate/certificate.json",
        "AXIOM_TRUSTED_KEYS": "/etc/axiom/trusted-keys",
        "AXIOM_CERTIFICATE_POLICY": "enforce",
        "AXIOM_HOST": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}},
        "AXIOM_PORT": "8080",
        "AXIOM_GRPC_PORT": "8081",
        "TMPDIR": "/tmp",
        "AXIOM_DOWNLOAD_DIR": "/tmp/axiom-models",
    }


def test_command_and_port() -> None:
    c = container(build_deployment(inputs(spec())))
    assert c["command"] == ["axiom", "serve"]
    assert c["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 8081, "protocol": "TCP"},
    ]


def test_configmap_package_is_mounted_and_uri_points_at_the_file() -> None:
    d = build_deployment(
        inputs(spec(model={"uri": "configmap://mnist-pkg/model.axiom", "sha256": SHA}))
    )
    assert env(d)["AXIOM_MODEL_URI"] == "/etc/axiom/model/model.axiom"
    assert {
        "name": "model",
        "configMap": {
            "name": "mnist-pkg",
            "items": [{"key": "model.axiom", "path": "model.axiom"}],
        },
    } in d["spec"]["template"]["spec"]["volumes"]


def test_certificate_and_trusted_keys_are_mounted_read_only() -> None:
    d = build_deployment(inputs(spec()))
    assert d["spec"]["template"]["spec"]["volumes"][:2] == [
        {
            "name": "certificate",
            "secret": {
                "secretName": "mnist-cert",
                "items": [{"key": "certificate.json", "path": "certificate.json"}],
            },
        },
        {"name": "trusted-keys", "secret": {"secretName": "axiom-trusted-keys"}},
    ]
    mounts = container(d)["volumeMounts"]
    assert all(m["readOnly"] for m in mounts if m["name"] in ("certificate", "trusted-keys"))


def test_probes_use_health_and_ready() -> None:
    c = container(build_deployment(inputs(spec())))
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["startupProbe"]["httpGet"]["path"] == "/health"


def test_security_context_is_restricted() -> None:
    d = build_deployment(inputs(spec()))
    assert container(d)["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert d["spec"]["template"]["spec"]["securityContext"]["seccompProfile"] == {
        "type": "RuntimeDefault"
    }


def test_prometheus_scrape_annotations() -> None:
    annotations = build_deployment(inputs(spec()))["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8080"
    assert annotations["prometheus.io/path"] == "/metrics"


def test_rolling_update_never_drops_below_available_replicas() -> None:
    strategy = build_deployment(inputs(spec()))["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }


def test_replicas_set_without_autoscaling() -> None:
    assert build_deployment(inputs(spec(replicas=3)))["spec"]["replicas"] == 3


def test_replicas_default_to_one() -> None:
    assert build_deployment(inputs(spec()))["spec"]["replicas"] == 1


def test_replicas_left_to_the_hpa_with_autoscaling() -> None:
    d = build_deployment(inputs(spec(autoscaling={"maxReplicas": 4})))
    assert "replicas" not in d["spec"]


def test_default_resources() -> None:
    assert container(build_deployment(inputs(spec())))["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    }


def test_integer_quantities_become_strings() -> None:
    d = build_deployment(inputs(spec(resources={"requests": {"cpu": 1}})))
    assert container(d)["resources"] == {"requests": {"cpu": "1"}}


def test_audit_policy_reaches_the_runtime() -> None:
    d = build_deployment(
        inputs(spec(certificate={"secretRef": {"name": "mnist-cert"}, "policy": "Audit"}))
    )
    assert env(d)["AXIOM_CERTIFICATE_POLICY"] == "audit"


def test_runtime_image_pull_policy_and_grace_period() -> None:
    d = build_deployment(
        inputs(spec(runtime={"imagePullPolicy": "Never", "terminationGracePeriodSeconds": 45}))
    )
    assert container(d)["imagePullPolicy"] == "Never"
    assert d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 45


@pytest.mark.parametrize("version", ["1.2.3", "10.0.0-rc.1"])
def test_names_fit_dns_labels_at_the_longest_model_name(version: str) -> None:
    owner = Owner(name="m" * api.MAX_MODEL_NAME_LENGTH, namespace="ml", uid="u")
    model_spec = spec(version=version)
    d = build_deployment(
        VersionInputs(
            owner,
            model_spec,
            "img",
            SourceRef("Secret", "c", "k"),
            SourceRef("Secret", "t"),
            "h",
            "h",
        )
    )
    assert len(d["metadata"]["name"]) <= 63


def test_pvc_package_is_mounted_read_only_and_uri_points_at_the_file() -> None:
    d = build_deployment(
        inputs(spec(model={"uri": "pvc://model-store/team/mnist-1.2.3.axiom", "sha256": SHA}))
    )
    pod = d["spec"]["template"]["spec"]
    assert env(d)["AXIOM_MODEL_URI"] == "/etc/axiom/model-pvc/team/mnist-1.2.3.axiom"
    assert {
        "name": "model",
        "persistentVolumeClaim": {"claimName": "model-store", "readOnly": True},
    } in pod["volumes"]
    assert {"name": "model", "mountPath": "/etc/axiom/model-pvc", "readOnly": True} in container(d)[
        "volumeMounts"
    ]


def test_s3_package_gets_endpoint_and_credentials_by_secret_reference() -> None:
    model = {
        "uri": "s3://models/mnist-1.2.3.axiom",
        "sha256": SHA,
        "s3": {"endpoint": "http://127.0.0.1:9000", "credentialsSecretRef": {"name": "s3-creds"}},
    }
    d = build_deployment(inputs(spec(model=model)))
    variables = env(d)
    assert variables["AXIOM_MODEL_URI"] == "s3://models/mnist-1.2.3.axiom"
    assert variables["AXIOM_S3_ENDPOINT"] == "http://127.0.0.1:9000"
    assert variables["AXIOM_S3_REGION"] == "us-east-1"
    assert variables["AWS_ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "s3-creds", "key": "AWS_ACCESS_KEY_ID"}
    }
    assert variables["AWS_SESSION_TOKEN"] == {
        "secretKeyRef": {"name": "s3-creds", "key": "AWS_SESSION_TOKEN", "optional": True}
    }
    assert not any(v["name"] == "model" for v in d["spec"]["template"]["spec"]["volumes"])


@pytest.mark.parametrize(
    "model",
    [
        {"uri": "s3://models/m.axiom", "sha256": SHA},
        {
            "uri": "https://models.example/m.axiom",
            "sha256": SHA,
            "s3": {"endpoint": "http://127.0.0.1:9000", "credentialsSecretRef": {"name": "c"}},
        },
        {"uri": "pvc://store/../etc/passwd", "sha256": SHA},
        {"uri": "pvc://store/a/../../b", "sha256": SHA},
    ],
)
def test_model_source_settings_must_fit_the_scheme(model: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        spec(model=model)


def test_mounted_packages_need_no_download_dir_and_the_default_format_no_variable() -> None:
    variables = env(
        build_deployment(inputs(spec(model={"uri": "configmap://m/model.axiom", "sha256": SHA})))
    )
    assert "AXIOM_DOWNLOAD_DIR" not in variables
    assert "AXIOM_CERTIFICATE_FORMAT" not in variables


OCI_URI = "oci://registry.test:5000/team/mnist:1.2.3@sha256:" + "cd" * 32


def test_oci_credentials_reach_the_pod_as_a_secret_reference_only() -> None:
    model = {"uri": OCI_URI, "sha256": SHA, "oci": {"credentialsSecretRef": {"name": "regcred"}}}
    deployment = build_deployment(inputs(spec(model=model)))
    values = env(deployment)
    assert values["AXIOM_OCI_DOCKER_CONFIG_JSON"] == {
        "secretKeyRef": {"name": "regcred", "key": ".dockerconfigjson"}
    }
    assert values["AXIOM_MODEL_URI"] == OCI_URI
    assert values["AXIOM_DOWNLOAD_DIR"] == "/tmp/axiom-models"
    assert "AXIOM_OCI_PLAIN_HTTP" not in values
    assert "imagePullSecrets" not in deployment["spec"]["template"]["spec"]


def test_oci_image_volume_is_mounted_with_the_pull_secret_and_read_as_a_file() -> None:
    oci = {"credentialsSecretRef": {"name": "regcred"}, "imageVolume": True, "plainHttp": True}
    deployment = build_deployment(inputs(spec(model={"uri": OCI_URI, "sha256": SHA, "oci": oci})))
    pod = deployment["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "model")
    assert volume["image"] == {
        "reference": "registry.test:5000/team/mnist@sha256:" + "cd" * 32,
        "pullPolicy": "IfNotPresent",
    }
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    values = env(deployment)
    assert values["AXIOM_MODEL_URI"] == "file:///etc/axiom/model-image/model.axiom"
    for name in ("AXIOM_DOWNLOAD_DIR", "AXIOM_OCI_DOCKER_CONFIG_JSON", "AXIOM_OCI_PLAIN_HTTP"):
        assert name not in values
    mount = next(m for m in container(deployment)["volumeMounts"] if m["name"] == "model")
    assert mount == {"name": "model", "mountPath": "/etc/axiom/model-image", "readOnly": True}


def test_oci_settings_need_an_oci_uri() -> None:
    with pytest.raises(ValueError, match=r"model\.oci is allowed only with an oci:// uri"):
        spec(model={"uri": "https://m.test/x.axiom", "sha256": SHA, "oci": {}})
