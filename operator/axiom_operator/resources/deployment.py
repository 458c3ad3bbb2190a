"""The runtime Deployment of one model version.

Choices that matter:
- ``replicas`` is left out when an HPA exists, so server-side apply never takes the field back
  from the HPA (field ownership, not a fight every reconcile).
- RollingUpdate with ``maxUnavailable: 0``: a plain update (image, resources, settings) first
  surges a new pod and only then removes an old one, so capacity never drops.
- The pod runs non-root with a read-only root filesystem and no capabilities; ``/tmp`` is an
  emptyDir because the runtime downloads packages there.
- Hashes of the runtime ConfigMap and of the certificate are pod-template annotations: a
  changed setting or a re-signed certificate rolls the pods (env from a ConfigMap and files
  read at start are not reloaded otherwise).
- ``AXIOM_HOST`` comes from ``status.podIP``: each pod binds its own address.
- An ``s3://`` package's credentials reach the pod as ``secretKeyRef`` variables, so the
  Deployment never holds them, and a rotated Secret takes effect on the next pod start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from axiom_operator import api
from axiom_operator.resources import labels as names
from axiom_operator.resources.owner import Owner, object_meta
from axiom_operator.values import DeploymentState, SourceRef

CERTIFICATE_DIR = "/etc/axiom/certificate"
TRUSTED_KEYS_DIR = "/etc/axiom/trusted-keys"
MODEL_DIR = "/etc/axiom/model"
MODEL_PVC_DIR = "/etc/axiom/model-pvc"
MODEL_IMAGE_DIR = "/etc/axiom/model-image"
OCI_DOCKER_CONFIG_ENV = "AXIOM_OCI_DOCKER_CONFIG_JSON"  # = registry_auth.DOCKER_CONFIG_ENV
OCI_DOCKER_CONFIG_KEY = ".dockerconfigjson"
TRAFFIC_DIR = "/etc/axiom/traffic"
RUNTIME_USER = 10001  # the UID the images create and run as (docker/*.Dockerfile, test_dockerfiles)
DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
DEFAULT_LIMITS = {"memory": "512Mi"}
CONFIG_HASH_ANNOTATION = "axiom.dev/config-hash"
CERTIFICATE_HASH_ANNOTATION = "axiom.dev/certificate-hash"


@dataclass(frozen=True)
class VersionInputs:
    """Everything the Deployment of one version depends on, resolved by the handler."""

    owner: Owner
    spec: api.AxiomModelSpec
    image: str
    certificate: SourceRef
    trusted_keys: SourceRef
    config_hash: str
    certificate_hash: str
    # The traffic-split ConfigMap, mounted at TRAFFIC_DIR: a pod serving as stable forwards
    # the canary's share by it. None: nothing mounted.
    traffic_config_map: str | None = None

    @property
    def version(self) -> str:
        return self.spec.version


def certificate_source(spec: api.AxiomModelSpec) -> SourceRef:
    ref = spec.certificate.secret_ref or spec.certificate.config_map_ref
    assert ref is not None  # the API model guarantees exactly one
    kind = "Secret" if spec.certificate.secret_ref is not None else "ConfigMap"
    return SourceRef(kind, ref.name, ref.key)


def certificate_keys(spec: api.AxiomModelSpec) -> list[str]:
    """The keys of the certificate object the pods mount: the certificate (or OMS bundle),
    and with AxiomAndOMS the bundle too."""
    keys = [certificate_source(spec).key or ""]
    if spec.certificate.format == "AxiomAndOMS":
        keys.append(spec.certificate.oms_bundle_key)
    return list(dict.fromkeys(keys))


def configmap_model_location(uri: str) -> tuple[str, str] | None:
    """configmap://name/key -> (name, key); None for other schemes."""
    prefix = "configmap://"
    if not uri.startswith(prefix):
        return None
    name, _, key = uri[len(prefix) :].partition("/")
    return name, key


def pvc_model_location(uri: str) -> tuple[str, str] | None:
    """pvc://claim/path/in/volume -> (claim, path); None for other schemes."""
    prefix = "pvc://"
    if not uri.startswith(prefix):
        return None
    claim, _, path = uri[len(prefix) :].partition("/")
    return claim, path


def runtime_model_uri(uri: str) -> str:
    """The URI as the runtime sees it: a ConfigMap or PVC package becomes its mounted file."""
    location = configmap_model_location(uri)
    if location is not None:
        return f"{MODEL_DIR}/{location[1]}"
    claim = pvc_model_location(uri)
    return uri if claim is None else f"{MODEL_PVC_DIR}/{claim[1]}"


def image_volume_reference(model: api.ModelSource) -> str | None:
    """``registry/repository@sha256:...`` when the kubelet mounts the oci:// package as an
    image volume (``spec.model.oci.imageVolume``); None otherwise."""
    if model.oci is None or not model.oci.image_volume:
        return None
    rest = model.uri.removeprefix("oci://")
    name, _, digest = rest.partition("@")
    registry, _, repository = name.partition("/")
    if ":" in repository:  # a tag next to the digest: the digest decides
        repository = repository.rsplit(":", 1)[0]
    return f"{registry}/{repository}@{digest}"


def _pod_model_uri(model: api.ModelSource) -> str:
    if image_volume_reference(model) is not None:
        return f"file://{MODEL_IMAGE_DIR}/model.axiom"
    return runtime_model_uri(model.uri)


def _volume_source(ref: SourceRef, items: list[dict[str, str]] | None) -> dict[str, Any]:
    if ref.kind == "Secret":
        source: dict[str, Any] = {"secretName": ref.name}
        field = "secret"
    else:
        source = {"name": ref.name}
        field = "configMap"
    if items is not None:
        source["items"] = items
    return {field: source}


def _volumes(inputs: VersionInputs) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    cert = inputs.certificate
    assert cert.key is not None
    cert_items = [{"key": key, "path": key} for key in certificate_keys(inputs.spec)]
    volumes: list[dict[str, Any]] = [
        {"name": "certificate", **_volume_source(cert, cert_items)},
        {"name": "trusted-keys", **_volume_source(inputs.trusted_keys, None)},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "certificate", "mountPath": CERTIFICATE_DIR, "readOnly": True},
        {"name": "trusted-keys", "mountPath": TRUSTED_KEYS_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    location = configmap_model_location(inputs.spec.model.uri)
    if location is not None:
        name, key = location
        volumes.append(
            {"name": "model", "configMap": {"name": name, "items": [{"key": key, "path": key}]}}
        )
        mounts.append({"name": "model", "mountPath": MODEL_DIR, "readOnly": True})
    claim = pvc_model_location(inputs.spec.model.uri)
    if claim is not None:
        # readOnly twice: on the claim (the volume is attached read-only where the driver
        # supports it, so ReadOnlyMany claims work) and on the mount (enforced by the kubelet).
        volumes.append(
            {"name": "model", "persistentVolumeClaim": {"claimName": claim[0], "readOnly": True}}
        )
        mounts.append({"name": "model", "mountPath": MODEL_PVC_DIR, "readOnly": True})
    image = image_volume_reference(inputs.spec.model)
    if image is not None:
        # Pulled by the kubelet (with the pod's imagePullSecrets), mounted read-only; the
        # runtime hashes model.axiom as any file. Pinned by digest, so IfNotPresent is exact.
        volumes.append(
            {"name": "model", "image": {"reference": image, "pullPolicy": "IfNotPresent"}}
        )
        mounts.append({"name": "model", "mountPath": MODEL_IMAGE_DIR, "readOnly": True})
    if inputs.traffic_config_map is not None:
        # Optional: the ConfigMap is written when the first canary starts (plan/__init__.py),
        # not with the model; until then there is no split and no file (the runtime serves
        # every request itself). The kubelet fills the volume once the ConfigMap appears.
        volumes.append(
            {
                "name": "traffic",
                "configMap": {"name": inputs.traffic_config_map, "optional": True},
            }
        )
        mounts.append({"name": "traffic", "mountPath": TRAFFIC_DIR, "readOnly": True})
    return volumes, mounts


def _env(inputs: VersionInputs) -> list[dict[str, Any]]:
    spec = inputs.spec
    assert inputs.certificate.key is not None
    env: list[dict[str, Any]] = [
        {"name": "AXIOM_MODEL_URI", "value": _pod_model_uri(spec.model)},
        {"name": "AXIOM_MODEL_SHA256", "value": spec.model.sha256},
        {"name": "AXIOM_MODEL_NAME", "value": inputs.owner.name},
        {"name": "AXIOM_EXPECTED_VERSION", "value": spec.version},
        {"name": "AXIOM_CERTIFICATE", "value": f"{CERTIFICATE_DIR}/{inputs.certificate.key}"},
        {"name": "AXIOM_TRUSTED_KEYS", "value": TRUSTED_KEYS_DIR},
        {"name": "AXIOM_CERTIFICATE_POLICY", "value": spec.certificate.policy.lower()},
        {
            "name": "AXIOM_HOST",
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}},
        },
        {"name": "AXIOM_PORT", "value": str(names.RUNTIME_PORT)},
        {"name": "AXIOM_GRPC_PORT", "value": str(names.RUNTIME_GRPC_PORT)},
        {"name": "TMPDIR", "value": "/tmp"},
    ]
    if not spec.model.uri.startswith(("configmap://", "file://", "pvc://")) and (
        image_volume_reference(spec.model) is None
    ):
        # In the /tmp emptyDir: a restarted container finds its package already downloaded.
        env.append({"name": "AXIOM_DOWNLOAD_DIR", "value": "/tmp/axiom-models"})
    # Only when not the runtime's default, so that pods of existing models keep their template.
    if spec.certificate.format == "OMS":
        env.append({"name": "AXIOM_CERTIFICATE_FORMAT", "value": "oms"})
    if inputs.traffic_config_map is not None:
        env.append({"name": "AXIOM_TRAFFIC_CONFIG", "value": f"{TRAFFIC_DIR}/traffic.json"})
    if spec.certificate.format == "AxiomAndOMS":
        bundle = f"{CERTIFICATE_DIR}/{spec.certificate.oms_bundle_key}"
        env.append({"name": "AXIOM_OMS_BUNDLE", "value": bundle})
    env.extend(s3_env(spec.model))
    env.extend(oci_env(spec.model))
    return env


def oci_env(model: api.ModelSource) -> list[dict[str, Any]]:
    """An oci:// package's plain-HTTP switch and registry credentials (a reference to the
    .dockerconfigjson key of its Secret), for a package the runtime pulls itself."""
    if model.oci is None or model.oci.image_volume:
        return []
    env: list[dict[str, Any]] = []
    if model.oci.plain_http:
        env.append({"name": "AXIOM_OCI_PLAIN_HTTP", "value": "true"})
    if model.oci.credentials_secret_ref is not None:
        ref = {"name": model.oci.credentials_secret_ref.name, "key": OCI_DOCKER_CONFIG_KEY}
        env.append({"name": OCI_DOCKER_CONFIG_ENV, "valueFrom": {"secretKeyRef": ref}})
    return env


def s3_env(model: api.ModelSource) -> list[dict[str, Any]]:
    """An s3:// package's endpoint and region, and its credentials as references to their
    Secret: the manifest never holds a secret value, and the session token is optional."""
    if model.s3 is None:
        return []
    secret = model.s3.credentials_secret_ref.name
    env: list[dict[str, Any]] = [
        {"name": "AXIOM_S3_ENDPOINT", "value": model.s3.endpoint},
        {"name": "AXIOM_S3_REGION", "value": model.s3.region},
    ]
    for key in api.S3_CREDENTIAL_KEYS:
        ref: dict[str, Any] = {"name": secret, "key": key}
        if key == "AWS_SESSION_TOKEN":
            ref["optional"] = True
        env.append({"name": key, "valueFrom": {"secretKeyRef": ref}})
    return env


def _resources(spec: api.AxiomModelSpec) -> dict[str, Any]:
    if spec.resources is None:
        return {"requests": dict(DEFAULT_REQUESTS), "limits": dict(DEFAULT_LIMITS)}
    out: dict[str, Any] = {}
    if spec.resources.requests:
        out["requests"] = {k: str(v) for k, v in spec.resources.requests.items()}
    if spec.resources.limits:
        out["limits"] = {k: str(v) for k, v in spec.resources.limits.items()}
    return out


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": names.RUNTIME_PORT_NAME, "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _container(inputs: VersionInputs, mounts: list[dict[str, Any]]) -> dict[str, Any]:
    runtime = inputs.spec.runtime
    container: dict[str, Any] = {
        "name": "runtime",
        "image": inputs.image,
        "command": ["axiom", "serve"],
        "ports": [
            {
                "name": names.RUNTIME_PORT_NAME,
                "containerPort": names.RUNTIME_PORT,
                "protocol": "TCP",
            },
            {
                "name": names.RUNTIME_GRPC_PORT_NAME,
                "containerPort": names.RUNTIME_GRPC_PORT,
                "protocol": "TCP",
            },
        ],
        "env": _env(inputs),
        # Optional: the settings ConfigMap exists only when spec.runtime sets something.
        "envFrom": [
            {
                "configMapRef": {
                    "name": names.runtime_config_name(inputs.owner.name),
                    "optional": True,
                }
            }
        ],
        "resources": _resources(inputs.spec),
        "startupProbe": _probe("/health", 2, 60),
        "livenessProbe": _probe("/health", 10, 3),
        "readinessProbe": _probe("/ready", 5, 2),
        # Endpoints controllers need a moment to drop the pod before it stops listening.
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    if runtime is not None and runtime.image_pull_policy is not None:
        container["imagePullPolicy"] = runtime.image_pull_policy
    return container


def build_deployment(inputs: VersionInputs) -> dict[str, Any]:
    """The Deployment manifest of ``inputs.version``."""
    spec = inputs.spec
    model = inputs.owner.name
    version_labels = names.version_labels(model, spec.version)
    volumes, mounts = _volumes(inputs)
    runtime = spec.runtime or api.RuntimeSpec()
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": runtime.termination_grace_period_seconds,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_USER,
            "runAsGroup": RUNTIME_USER,
            "fsGroup": RUNTIME_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(inputs, mounts)],
        "volumes": volumes,
    }
    oci = spec.model.oci
    if oci is not None and oci.image_volume and oci.credentials_secret_ref is not None:
        pod_spec["imagePullSecrets"] = [{"name": oci.credentials_secret_ref.name}]
    if runtime.node_selector:
        pod_spec["nodeSelector"] = dict(runtime.node_selector)
    if runtime.tolerations:
        pod_spec["tolerations"] = [t.to_wire() for t in runtime.tolerations]
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": names.pod_selector(model, spec.version)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "revisionHistoryLimit": 3,
        "progressDeadlineSeconds": 600,
        "template": {
            "metadata": {
                "labels": version_labels,
                "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(names.RUNTIME_PORT),
                    "prometheus.io/path": "/metrics",
                    CONFIG_HASH_ANNOTATION: inputs.config_hash,
                    CERTIFICATE_HASH_ANNOTATION: inputs.certificate_hash,
                },
            },
            "spec": pod_spec,
        },
    }
    if spec.autoscaling is None:
        deployment_spec["replicas"] = 1 if spec.replicas is None else spec.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(
            inputs.owner, names.version_object_name(model, spec.version), version_labels
        ),
        "spec": deployment_spec,
    }


def read_deployment_state(live: Mapping[str, Any]) -> DeploymentState:
    """What matters about a live Deployment of one version (as the apiserver returned it)."""
    meta, spec, status = live["metadata"], live.get("spec", {}), live.get("status") or {}
    return DeploymentState(
        version=meta.get("labels", {}).get(names.VERSION_LABEL, ""),
        name=meta["name"],
        desired=int(spec.get("replicas", 1)),
        replicas=int(status.get("replicas", 0)),
        updated=int(status.get("updatedReplicas", 0)),
        available=int(status.get("availableReplicas", 0)),
        up_to_date=int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 0)),
    )
