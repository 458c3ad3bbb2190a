"""The AxiomModel API (axiom.dev/v1alpha1) as pydantic models: the one source of its schema.

Why pydantic is the source and not the YAML: the operator must validate a spec exactly as
the apiserver does (a CRD installed without CEL support, an object created before a rule
existed, or a unit test without a cluster must all reach the same verdict), so the field
list, types, bounds, defaults and descriptions live here once. ``axiom_operator.crd``
turns these models into ``crds/axiommodels.axiom.dev.yaml``; a unit test proves the file on
disk is exactly what the models generate. Cross-field rules are written twice on purpose,
as a CEL rule (``x-kubernetes-validations``, enforced by the apiserver) and as a pydantic
validator next to it (enforced by the operator), and the invalid-manifest catalogue checks
that both reject the same manifests.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict, JsonValue

GROUP = "axiom.dev"
VERSION = "v1alpha1"
KIND = "AxiomModel"
PLURAL = "axiommodels"
SINGULAR = "axiommodel"
SHORT_NAMES = ("axm",)

# The version becomes part of object names (dots -> dashes) and of label values, so it is a
# semantic version restricted to characters both allow: no build metadata ("+"), lower case.
SEMVER_PATTERN = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9a-z]+(\.[0-9a-z]+)*)?$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
MODEL_URI_PATTERN = (
    r"^(https?://[^\s]+|file:///[^\s]*|configmap://[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[-._a-zA-Z0-9]+"
    r"|s3://[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]/[^\s?#]+"
    r"|pvc://[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[-._a-zA-Z0-9/]+"
    r"|oci://[A-Za-z0-9.-]+(:[0-9]{1,5})?/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"@sha256:[0-9a-f]{64})$"
)
_DOT_DOT_SEGMENT = r"(^|/)[.][.](/|$)"
# The keys of an S3 credentials Secret: the AWS SDKs' environment variable names, which the
# runtime pods receive them as.
S3_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CONFIG_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
QUANTITY_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
# Model names must leave room for "-v<version>" in a 63-character DNS-1035 Service name.
MAX_MODEL_NAME_LENGTH = 40
MODEL_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"


def cel(rule: str, message: str, field_path: str | None = None) -> JsonDict:
    """One x-kubernetes-validations entry; fieldPath makes the apiserver name the field."""
    entry: JsonDict = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


Quantity = Annotated[
    int | str,
    Field(description="A Kubernetes quantity, e.g. 500m, 2, 256Mi, 1Gi."),
]
Duration = Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)]
# An image reference: [registry[:port]/]path[:tag][@sha256:digest], as the container runtime
# parses it (path components lower case, a tag of at most 128 characters).
IMAGE_PATTERN = (
    r"^((([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(:[0-9]+)?)/)?"
    r"[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
# A URL whose authority carries user:password@ (credentials belong in a Secret).
_URL_WITH_CREDENTIALS = r"^[a-z]+://[^/?#]*@"
NO_CREDENTIALS_MESSAGE = "must not carry credentials (user:password@): keep them in a Secret"


_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    """``1h30m`` -> 5400.0. The CRD pattern guarantees the shape; this re-checks it."""
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"duration {text!r} is not like 30s, 1m, 1h30m or 500ms")
    return total


def _longer_than_zero(text: str) -> str:
    if re.fullmatch(DURATION_PATTERN, text) and duration_seconds(text) <= 0:
        raise ValueError(f"{text!r} must be longer than 0s")
    return text


def _no_credentials(url: str) -> str:
    if re.match(_URL_WITH_CREDENTIALS, url):
        raise ValueError(NO_CREDENTIALS_MESSAGE)
    return url


def _no_pvc_dot_dot(uri: str) -> str:
    if uri.startswith("pvc://") and re.search(_DOT_DOT_SEGMENT, uri[len("pvc://") :]):
        raise ValueError("a pvc:// path must not contain '..' segments")
    return uri


PositiveDuration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        max_length=32,
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("duration(self) > duration('0s')", "must be longer than 0s")
            ]
        },
    ),
    AfterValidator(_longer_than_zero),
]
NO_CREDENTIALS_CEL: list[JsonValue] = [
    cel(f"!self.matches('{_URL_WITH_CREDENTIALS}')", NO_CREDENTIALS_MESSAGE)
]


class ApiModel(BaseModel):
    """Camel-case on the wire, snake_case in Python; unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


# --------------------------------------------------------------------------------------- spec


class S3CredentialsRef(ApiModel):
    """The Secret with the S3 credentials: keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and,
    for temporary credentials, AWS_SESSION_TOKEN."""

    name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Name of the Secret, in the AxiomModel's namespace. Keys AWS_ACCESS_KEY_ID "
        "and AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN. The runtime pods get them as "
        "environment variables; the operator reads them to hash the package itself.",
    )


class S3Source(ApiModel):
    """How to reach an s3:// package: an S3-compatible endpoint, its region, the credentials."""

    endpoint: Annotated[str, AfterValidator(_no_credentials)] = Field(
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        max_length=2048,
        json_schema_extra={"x-kubernetes-validations": NO_CREDENTIALS_CEL},
        description="Base URL of the S3 API, e.g. https://s3.eu-west-1.amazonaws.com or a "
        "MinIO/Ceph/versitygw Service; objects are read path-style (<endpoint>/<bucket>/<key>).",
    )
    region: str = Field(
        default="us-east-1",
        pattern=r"^[a-z0-9-]{1,64}$",
        description="Region the requests are signed for (SigV4).",
    )
    credentials_secret_ref: S3CredentialsRef = Field(
        description="Secret with the credentials (anonymous reads are not supported)."
    )


class OciCredentialsRef(ApiModel):
    """A Secret of type kubernetes.io/dockerconfigjson: the kind pods name in imagePullSecrets."""

    name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Name of the Secret (type kubernetes.io/dockerconfigjson, key "
        ".dockerconfigjson, as `kubectl create secret docker-registry` writes it), in the "
        "AxiomModel's namespace. Its auths entry for the registry is used for Basic auth or "
        "the Bearer token flow; the runtime pods get the key as a secretKeyRef variable and, "
        "with imageVolume, the Secret as an imagePullSecret; the operator reads it to verify.",
    )


class OciSource(ApiModel):
    """How to reach an oci:// package: credentials, plain HTTP, and who pulls it."""

    credentials_secret_ref: OciCredentialsRef | None = Field(
        default=None,
        description="Registry credentials. Without it the registry is asked anonymously.",
    )
    plain_http: bool = Field(
        default=False,
        description="Speak plain HTTP to the registry (the runtime and the operator; loopback "
        "registries always are). For imageVolume the node's container runtime decides (for "
        "containerd: a hosts.toml for the registry).",
    )
    image_volume: bool = Field(
        default=False,
        description="Let the kubelet pull and mount the package as an image volume instead of "
        "the runtime downloading it. Needs the image form (`axiom model push --as-image`: one "
        "tar layer holding model.axiom): containerd mounts a plain artifact as an empty "
        "directory. The pods then read file:///etc/axiom/model-image/model.axiom and check its "
        "sha256 as for any file.",
    )


class ModelSource(ApiModel):
    """Where the model package is and which bytes it must be."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    f"!self.uri.startsWith('pvc://') || !self.uri.substring(6).matches('{_DOT_DOT_SEGMENT}')",
                    "a pvc:// path must not contain '..' segments",
                    ".uri",
                ),
                cel(
                    "!has(self.oci) || self.uri.startsWith('oci://')",
                    "model.oci is allowed only with an oci:// uri",
                ),
                cel(
                    "self.uri.startsWith('s3://') == has(self.s3)",
                    "model.s3 (endpoint, credentialsSecretRef) is required for an s3:// uri "
                    "and allowed only with one",
                ),
            ]
        }
    )

    uri: Annotated[str, AfterValidator(_no_credentials), AfterValidator(_no_pvc_dot_dot)] = Field(
        pattern=MODEL_URI_PATTERN,
        max_length=2048,
        json_schema_extra={"x-kubernetes-validations": NO_CREDENTIALS_CEL},
        description=(
            "Location of the .axiom package: https://... or http://... (downloaded by the runtime), "
            "file:///path (a volume or a path baked into the runtime image) or "
            "configmap://<configmap-name>/<key> (binaryData of a ConfigMap in the model's "
            "namespace, mounted into the pods; the operator also hashes those bytes) or "
            "s3://<bucket>/<key> (an S3-compatible store, see model.s3; the runtime and the "
            "operator stream and hash it) or pvc://<claim>/<path> (a PersistentVolumeClaim in "
            "the model's namespace, mounted read-only into the pods, which hash the file) or "
            "oci://<registry>/<repository>[:<tag>]@sha256:<manifest digest> (an OCI artifact "
            "or image pushed by `axiom model push [--as-image]`, pulled by digest, see "
            "model.oci; the operator streams and hashes it as the pods will)."
        ),
    )
    sha256: str = Field(
        pattern=SHA256_PATTERN,
        description="Lower-case hex SHA-256 of the package bytes. The certificate must bind this "
        "hash; the runtime refuses a package with another hash.",
    )
    name: str | None = Field(
        default=None,
        max_length=253,
        description="Model name the certificate must name. Default: the AxiomModel's metadata.name.",
    )
    s3: S3Source | None = Field(
        default=None, description="Endpoint, region and credentials of an s3:// uri."
    )
    oci: OciSource | None = Field(
        default=None,
        description="Credentials, plain HTTP and image-volume delivery of an oci:// uri.",
    )

    @model_validator(mode="after")
    def _settings_fit_the_scheme(self) -> ModelSource:
        if self.uri.startswith("s3://") != (self.s3 is not None):
            raise ValueError(
                "model.s3 (endpoint, credentialsSecretRef) is required for an s3:// uri "
                "and allowed only with one"
            )
        if self.oci is not None and not self.uri.startswith("oci://"):
            raise ValueError("model.oci is allowed only with an oci:// uri")

        return self


class ObjectKeyRef(ApiModel):
    """A key of a Secret or ConfigMap in the model's namespace."""

    name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Name of the Secret or ConfigMap, in the AxiomModel's namespace.",
    )
    key: str = Field(
        default="certificate.json",
        pattern=CONFIG_KEY_PATTERN,
        max_length=253,
        description="Key holding the certificate JSON.",
    )


class TrustedKeysRef(ApiModel):
    """Where the trusted Ed25519 public keys are: one key per entry, the entry's key is the key id."""

    kind: Literal["Secret", "ConfigMap"] = Field(
        default="Secret", description="Kind of the object holding the trusted keys."
    )
    name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Name of the Secret or ConfigMap (model's namespace); each entry is one key "
        "id -> public key (PEM or raw base64).",
    )


class CertificateSpec(ApiModel):
    """The signed certificate of this version and how strictly it is enforced."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.secretRef) != has(self.configMapRef)",
                    "exactly one of certificate.secretRef and certificate.configMapRef must be set",
                )
            ]
        }
    )

    secret_ref: ObjectKeyRef | None = Field(
        default=None, description="Secret key holding the certificate JSON (one source only)."
    )
    config_map_ref: ObjectKeyRef | None = Field(
        default=None, description="ConfigMap key holding the certificate JSON (one source only)."
    )
    format: Literal["Axiom", "OMS", "AxiomAndOMS"] = Field(
        default="Axiom",
        description="Which signatures this version carries. Axiom: the referenced key holds a "
        "property certificate (JSON, Ed25519), which says what was checked on data. OMS: the "
        "referenced key holds an OpenSSF Model Signing bundle (a Sigstore bundle of the package "
        "file, ECDSA key or certificate chain, e.g. written by `model_signing sign` or `axiom "
        "cert sign --format oms`), which says who published these bytes; verified offline "
        "against the EC public keys and CA certificates among the trusted keys (set key, e.g. "
        "model.sig). AxiomAndOMS: both, in the same Secret/ConfigMap (the certificate at key, "
        "the bundle at omsBundleKey), and both must pass.",
    )
    oms_bundle_key: str = Field(
        default="model.sig",
        pattern=CONFIG_KEY_PATTERN,
        max_length=253,
        description="With format AxiomAndOMS: the key of the same Secret/ConfigMap that holds "
        "the OMS bundle.",
    )
    policy: Literal["Enforce", "Audit"] = Field(
        default="Enforce",
        description="Enforce: a version whose certificate does not verify is never deployed and "
        "the running version keeps serving. Audit: deploy anyway, but report the failure in the "
        "CertificateValid condition and a Warning Event.",
    )
    trusted_keys_ref: TrustedKeysRef | None = Field(
        default=None,
        description="Trusted public keys. Default: the operator's setting "
        "(AXIOM_OPERATOR_TRUSTED_KEYS_KIND/_NAME, a Secret named axiom-trusted-keys).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> CertificateSpec:
        if (self.secret_ref is None) == (self.config_map_ref is None):
            raise ValueError(
                "exactly one of certificate.secretRef and certificate.configMapRef must be set"
            )
        return self


class AutoscalingSpec(ApiModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) on CPU for the serving Deployment."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.minReplicas <= self.maxReplicas",
                    "autoscaling.minReplicas must be <= autoscaling.maxReplicas",
                    ".minReplicas",
                )
            ]
        }
    )

    min_replicas: int = Field(default=1, ge=1, le=1000, description="Lower bound for the HPA.")
    max_replicas: int = Field(ge=1, le=1000, description="Upper bound for the HPA.")
    target_cpu_utilization_percentage: int = Field(
        default=80,
        ge=1,
        le=1000,
        description="Average CPU utilisation (percent of requests) the HPA aims for.",
    )

    @model_validator(mode="after")
    def _bounds_ordered(self) -> AutoscalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscaling.minReplicas must be <= autoscaling.maxReplicas")
        return self


class ResourcesSpec(ApiModel):
    """Compute resources of the runtime container."""

    requests: dict[str, Quantity] | None = Field(
        default=None,
        description="Resource requests, e.g. {cpu: 100m, memory: 128Mi}.",
        max_length=16,
    )
    limits: dict[str, Quantity] | None = Field(
        default=None,
        description="Resource limits, e.g. {memory: 256Mi}.",
        max_length=16,
    )

    @field_validator("requests", "limits")
    @classmethod
    def _quantities(cls, values: dict[str, int | str] | None) -> dict[str, int | str] | None:
        for name, value in (values or {}).items():
            if not re.fullmatch(QUANTITY_PATTERN, str(value)):
                raise ValueError(f"resources {name}={value!r} is not a quantity")
        return values


class EnvVar(ApiModel):
    """An extra environment variable for the runtime container."""

    name: str = Field(pattern=ENV_NAME_PATTERN, max_length=128, description="Variable name.")
    value: str = Field(default="", max_length=4096, description="Variable value.")


class Toleration(ApiModel):
    """A pod toleration (same meaning as in a PodSpec)."""

    key: str | None = Field(default=None, max_length=316, description="Taint key to tolerate.")
    operator: Literal["Exists", "Equal"] | None = Field(
        default=None, description="Exists or Equal (default Equal)."
    )
    value: str | None = Field(default=None, max_length=63, description="Taint value for Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to tolerate; empty means all."
    )
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="For NoExecute: how long the pod stays bound."
    )


class RuntimeSpec(ApiModel):
    """How the runtime pods run (everything has a sensible default)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.env) || self.env.all(e, !e.name.startsWith('AXIOM_'))",
                    "runtime.env must not set AXIOM_* variables: the operator owns them",
                    ".env",
                )
            ]
        }
    )

    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        pattern=IMAGE_PATTERN,
        description="Runtime container image. Default: the operator's AXIOM_OPERATOR_RUNTIME_IMAGE.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="Image pull policy of the runtime container."
    )
    max_batch_size: int | None = Field(
        default=None, ge=1, le=4096, description="Micro-batch size limit (AXIOM_MAX_BATCH_SIZE)."
    )
    max_batch_wait_ms: float | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="How long a request may wait for a batch to fill (AXIOM_MAX_BATCH_WAIT_MS).",
    )
    max_body_bytes: int | None = Field(
        default=None,
        ge=1024,
        le=1073741824,
        description="Largest accepted request body (AXIOM_MAX_BODY_BYTES).",
    )
    log_level: Literal["debug", "info", "warning", "error"] | None = Field(
        default=None, description="Runtime log level (AXIOM_LOG_LEVEL)."
    )
    env: list[EnvVar] | None = Field(
        default=None,
        max_length=64,
        description="Extra environment variables (names must not start with AXIOM_).",
    )
    node_selector: dict[str, str] | None = Field(
        default=None, max_length=32, description="Node selector of the runtime pods."
    )
    tolerations: list[Toleration] | None = Field(
        default=None, max_length=32, description="Tolerations of the runtime pods."
    )
    termination_grace_period_seconds: int = Field(
        default=30,
        ge=5,
        le=3600,
        description="Grace period for in-flight requests when a pod stops.",
    )

    @model_validator(mode="after")
    def _no_axiom_env(self) -> RuntimeSpec:
        for env in self.env or ():
            if env.name.startswith("AXIOM_"):
                raise ValueError(
                    "runtime.env must not set AXIOM_* variables: the operator owns them"
                )
        return self


class GatewayRef(ApiModel):
    """The Gateway the operator's HTTPRoute attaches to (GatewayAPI mode)."""

    name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN, max_length=253, description="Name of the Gateway."
    )
    namespace: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=63,
        description="Namespace of the Gateway. Default: the AxiomModel's namespace.",
    )
    section_name: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Listener of the Gateway to attach to. Default: every listener that allows it.",
    )


class TrafficSpec(ApiModel):
    """How requests are split between the stable and the canary version."""

    mode: Literal["Runtime", "Replicas", "GatewayAPI"] = Field(
        default="Runtime",
        description="Runtime: stable pods forward an exact share to the canary (no mesh). "
        "Replicas: the share follows the replica ratio behind the model Service. "
        "GatewayAPI: weights are written into an HTTPRoute.",
    )
    canary_percent: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Manual A/B split: the percent (up to 2 decimals) of requests sent to the new "
        "version, held for as long as it is set (phase Experiment). Analysis runs for the figures "
        "only: no automatic promotion or rollback. Wins over rollout.steps when both are set. "
        "100 promotes; setting spec.version back to the stable version ends the experiment; "
        "removing the field continues with rollout.steps from the current weight.",
    )
    request_id_header: str = Field(
        default="X-Request-ID",
        pattern=HEADER_NAME_PATTERN,
        max_length=128,
        description="Header whose hash decides, deterministically, which version answers a "
        "request; requests without it are split at random.",
    )
    gateway_ref: GatewayRef | None = Field(
        default=None,
        description="GatewayAPI mode: the Gateway the HTTPRoute <model> attaches to (its "
        "parentRef). Without it the route is written but attached to no Gateway.",
    )
    pin_header: str | None = Field(
        default=None,
        pattern=HEADER_NAME_PATTERN,
        max_length=128,
        description="Opt-in pinning for testers (Runtime mode): a request carrying this header "
        "(e.g. X-Axiom-Pin) with the value `canary` or `stable` is answered by that version, "
        "also at canary weight 0. Pinned requests are counted apart (a series of their own, "
        "docs/metrics.md) and never feed the analysis. Absent: the header is "
        "ignored, nobody can choose a version.",
    )


class RolloutStep(ApiModel):
    """One step of a progressive rollout."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.weight > 0 || has(self.mirror)",
                    "a rollout step with weight 0 needs mirror (a shadow step)",
                )
            ]
        }
    )

    weight: float = Field(
        ge=0,
        le=100,
        description="Percent of requests sent to the canary during this step (its answers "
        "reach users). 0 only with mirror: a shadow step.",
    )
    mirror: float | None = Field(
        default=None,
        gt=0,
        le=100,
        description="Shadow traffic (Runtime mode): percent of the requests the stable answers "
        "that are also sent to the canary, chosen by request id. The user always gets the "
        "stable's answer, never delayed (a full mirror queue drops copies, counted); the stable "
        "pod compares both answers (agreement, label flips, confidence delta, distribution "
        "shift) for the analysis. e.g. {weight: 0, mirror: 100, pause: 2m}.",
    )
    pause: Duration | None = Field(
        default=None,
        description="How long to hold this step (e.g. 30s, 1m, 1h30m) before the next; "
        "absent: wait for the axiom.dev/promote annotation.",
    )

    @model_validator(mode="after")
    def _sends_something(self) -> RolloutStep:
        if self.weight <= 0 and not self.mirror:
            raise ValueError("a rollout step with weight 0 needs mirror (a shadow step)")
        return self


class PrometheusCredentialsRef(ApiModel):
    """The Secret holding the credentials the operator sends to Prometheus."""

    name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Name of the Secret, in the AxiomModel's namespace.",
    )


class PrometheusSource(ApiModel):
    """Read the analysis figures from a Prometheus server (PromQL) instead of the pods.

    The server must scrape the runtime pods' /metrics and attach the pod's namespace as the
    label ``namespaceLabel`` (what a ``kubernetes_sd_configs`` pod job with the usual
    relabelling does). Each window is then ``increase(...[<window>])`` of the runtime's own
    series for the model and version: the same figures the direct scrape gives, kept by
    Prometheus across pod restarts and operator restarts.
    """

    address: Annotated[str, AfterValidator(_no_credentials)] = Field(
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        max_length=2048,
        json_schema_extra={"x-kubernetes-validations": NO_CREDENTIALS_CEL},
        description="Base URL of the Prometheus HTTP API, e.g. "
        "http://prometheus.monitoring.svc:9090 (the operator calls <address>/api/v1/query).",
    )
    namespace_label: str = Field(
        default="namespace",
        pattern=r"^([a-zA-Z_][a-zA-Z0-9_]*)?$",
        max_length=128,
        description="Label holding the pod's namespace on the scraped series; empty: the "
        "series carry none, and model/version labels alone select them.",
    )
    timeout: PositiveDuration = Field(
        default="5s", description="Per-query timeout; a query that times out is inconclusive."
    )
    credentials_secret_ref: PrometheusCredentialsRef | None = Field(
        default=None,
        description="A Secret in the model's namespace with the credentials to send: key "
        "`token` (sent as `Authorization: Bearer <token>`), or keys `username` and `password` "
        "(HTTP basic auth). Absent: no Authorization header.",
    )
    headers: dict[str, str] | None = Field(
        default=None,
        max_length=8,
        description="Extra request headers, e.g. X-Scope-OrgID for a multi-tenant Mimir or "
        "Cortex. Authorization is not allowed here: use credentialsSecretRef.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    'self.all(k, k.matches("' + HEADER_NAME_PATTERN + '") && '
                    "k.lowerAscii() != 'authorization' && !self[k].contains('\\n'))",
                    "headers: names must be HTTP header names, not Authorization (use "
                    "credentialsSecretRef), and values one line",
                )
            ]
        },
    )

    @field_validator("headers")
    @classmethod
    def _headers_are_plain(cls, headers: dict[str, str] | None) -> dict[str, str] | None:
        """The CRD's CEL rule, again for the operator (an apiserver without CEL)."""
        for name, value in (headers or {}).items():
            if not re.fullmatch(HEADER_NAME_PATTERN, name) or name.lower() == "authorization":
                raise ValueError(
                    f"headers: {name!r} is not allowed (HTTP header names only, and not "
                    "Authorization: use credentialsSecretRef)"
                )
            if "\n" in value or "\r" in value:
                raise ValueError(f"headers: the value of {name!r} must be one line")
        return headers


class SequentialSpec(ApiModel):
    """Sequential decisions (anytime-valid likelihood-ratio tests, docs/rollout.md). On by
    default: an absent ``sequential`` is ``{enabled: true}`` with the defaults below."""

    enabled: bool = Field(
        default=True,
        description="false: error rate and latency are judged window by window by the "
        "thresholds alone (the behaviour before sequential decisions).",
    )
    false_rollback_rate: float = Field(
        default=0.05,
        gt=0,
        le=0.5,
        description="Highest chance that a canary as good as the stable is rolled back by the "
        "sequential tests, however long it runs and however often it is checked (also the "
        "chance that a canary outside the guards is shown within them).",
    )
    min_sample: int = Field(
        default=100,
        ge=1,
        le=1_000_000,
        description="Canary requests over the whole canary before the sequential tests decide "
        "anything (rolled back or shown good); before that the thresholds judge each window.",
    )
    when_undecided: Literal["Thresholds", "Inconclusive"] = Field(
        default="Thresholds",
        description="While the sequential tests have decided neither way: Thresholds (default) "
        "lets a window of at least minRequests requests pass on the thresholds, as without "
        "sequential decisions; Inconclusive lets a step pass only once the tests show the "
        "canary within maxErrorRate and maxP99LatencyMs (several hundred canary requests, "
        "docs/rollout.md).",
    )


class AnalysisSpec(ApiModel):
    """Metric checks that decide whether a canary step passes."""

    interval: PositiveDuration = Field(default="30s", description="How often the analysis runs.")
    min_requests: int = Field(
        default=50,
        ge=0,
        description="Canary requests needed in an interval before a verdict is taken.",
    )
    max_error_rate: float = Field(
        default=0.01, ge=0, le=1, description="Highest tolerated canary error rate (0..1)."
    )
    max_p99_latency_ms: float | None = Field(
        default=None, gt=0, description="Highest tolerated canary p99 latency in milliseconds."
    )
    min_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Lowest tolerated mean prediction confidence of the canary (0..1).",
    )
    failure_limit: int = Field(
        default=2,
        ge=0,
        le=100,
        description="Failed analyses tolerated before the canary is rolled back.",
    )
    inconclusive_limit: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Consecutive inconclusive analyses (too few requests, metrics unreachable) "
        "after which the canary is paused (phase Paused, reason Inconclusive) at its weight; "
        "it is never promoted by time alone. Annotate axiom.dev/resume, promote or rollback.",
    )
    max_latency_ratio: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="Highest tolerated canary p99 latency as a multiple of the stable version's "
        "p99 in the same window (checked when the stable served at least minRequests).",
    )
    max_confidence_drop: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Highest tolerated drop of the canary's mean confidence below the stable "
        "version's in the same window (checked when the stable served at least minRequests).",
    )
    min_agreement: float | None = Field(
        default=0.95,
        ge=0,
        le=1,
        description="Shadow steps: lowest tolerated share of mirrored rows whose canary class "
        "equals the stable's on the same input (checked once minRequests rows were compared). "
        "null: not checked.",
    )
    max_confidence_delta: float | None = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Shadow steps: highest tolerated mean |canary - stable| top-class "
        "confidence on the same inputs. null: not checked.",
    )
    max_distribution_shift: float | None = Field(
        default=0.2,
        ge=0,
        description="Shadow steps: highest tolerated population stability index (PSI) of the "
        "canary's outputs against the stable's on the same inputs (the larger of the class "
        "mix's and the confidence histogram's; < 0.1 is no shift, > 0.25 a large one). null: "
        "not checked.",
    )
    sequential: SequentialSpec | None = Field(
        default=None,
        description="Sequential decisions on error rate and latency over the whole canary, on "
        "by default (absent: enabled with the defaults; enabled: false turns them off): a "
        "clearly worse canary is rolled back as soon as the evidence shows it, whatever the "
        "thresholds say, and a canary shown within maxErrorRate and maxP99LatencyMs passes its "
        "step. The thresholds stay as guards. docs/rollout.md gives the requests each decision "
        "takes.",
    )
    prometheus: PrometheusSource | None = Field(
        default=None,
        description="Where the figures come from: absent, the operator scrapes the Ready pods' "
        "/metrics itself at the start and end of each window (no extra tier); set, it asks "
        "this Prometheus server with PromQL.",
    )


def _steps_strictly_increasing(steps: list[RolloutStep]) -> bool:
    weights = [step.weight for step in steps]
    return all(a < b for a, b in pairwise(weights))


class RolloutSpec(ApiModel):
    """How a new version reaches users."""

    steps: list[RolloutStep] | None = Field(
        default=None,
        max_length=20,
        description="Canary steps with strictly increasing weights; a step advances when its "
        "pause has elapsed and an analysis in it passed; after the last step the canary is "
        "promoted. Neither steps nor traffic.canaryPercent: a blue-green switch (the new "
        "version starts beside the stable one and the Service moves once all its replicas are "
        "available). Ignored while traffic.canaryPercent is set.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.map(s, s.weight).isSorted() && "
                    "self.all(a, self.exists_one(b, b.weight == a.weight))",
                    "rollout.steps weights must be strictly increasing",
                )
            ]
        },
    )
    analysis: AnalysisSpec | None = Field(
        default=None, description="Metric analysis run during each step."
    )
    auto_rollback: bool = Field(
        default=True, description="Roll back automatically when the analysis fails."
    )
    scale_down_delay: Duration = Field(
        default="30s",
        description="How long the previous version keeps running after a promotion (fast rollback).",
    )
    rollback_window: Duration = Field(
        default="1h",
        description="How long a previous version is kept warm so a manual rollback is instant.",
    )
    progress_deadline: PositiveDuration = Field(
        default="10m",
        description="How long a new version may take to become available (and its first "
        "weight to become live) before the canary counts as failed.",
    )

    @model_validator(mode="after")
    def _increasing(self) -> RolloutSpec:
        if self.steps and not _steps_strictly_increasing(self.steps):
            raise ValueError("rollout.steps weights must be strictly increasing")
        return self


NOTIFICATION_EVENTS = (
    "Started",
    "StepAdvanced",
    "AnalysisFailed",
    "Promoted",
    "RolledBack",
    "CertificateBlocked",
)
NotificationEvent = Annotated[
    Literal[
        "Started", "StepAdvanced", "AnalysisFailed", "Promoted", "RolledBack", "CertificateBlocked"
    ],
    Field(description="One rollout event."),
]
SecretKey = Annotated[str, Field(pattern=CONFIG_KEY_PATTERN, max_length=253)]


class SecretNameRef(ApiModel):
    """A Secret in the AxiomModel's namespace."""

    name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Name of the Secret, in the AxiomModel's namespace.",
    )


class HookTarget(ApiModel):
    """Where a hook is sent: a URL (and optional bearer token) read from
    notifications.secretRef, never written in the spec."""

    url_key: SecretKey = Field(description="Key of notifications.secretRef holding the URL.")
    token_key: SecretKey | None = Field(
        default=None,
        description="Key of notifications.secretRef holding a token, sent as "
        "'Authorization: Bearer <token>'.",
    )
    timeout: PositiveDuration = Field(default="5s", description="Per request.")
    retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Further attempts after a failed one (no answer, a timeout, or not 2xx), "
        "with a doubling delay from 1s.",
    )


class WebhookSpec(HookTarget):
    """A receiver of rollout notifications (docs/notifications.md)."""

    name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN, max_length=63, description="Names the receiver in logs."
    )
    format: Literal["Generic", "Slack"] = Field(
        default="Generic",
        description="Generic: the operator's JSON payload; Slack: an incoming-webhook message "
        "({text, attachments}).",
    )
    events: list[NotificationEvent] | None = Field(
        default=None,
        max_length=len(NOTIFICATION_EVENTS),
        description="Which events to send: Started, StepAdvanced, AnalysisFailed, Promoted, "
        "RolledBack, CertificateBlocked. Absent: all.",
    )


class GateSpec(HookTarget):
    """A hook the rollout waits on: it goes on once the hook answers 2xx for the version."""

    interval: PositiveDuration = Field(
        default="10s", description="While the gate is closed, how often it is asked again."
    )


class GatesSpec(ApiModel):
    """Hooks a rollout waits on (docs/notifications.md)."""

    pre_rollout: GateSpec | None = Field(
        default=None,
        description="Asked before a new version's canary starts: the version is not deployed "
        "until it answers 2xx.",
    )
    confirm_promotion: GateSpec | None = Field(
        default=None,
        description="Asked once the canary passed its steps: it is promoted only after a 2xx "
        "(axiom.dev/promote=true, a person's decision, does not wait for it).",
    )


class NotificationsSpec(ApiModel):
    """Webhooks on rollout events, and gates the rollout waits on."""

    secret_ref: SecretNameRef = Field(
        description="The Secret holding every hook's URL and token (keys named by urlKey, "
        "tokenKey)."
    )
    webhooks: list[WebhookSpec] | None = Field(
        default=None, max_length=8, description="Receivers of rollout events."
    )
    gates: GatesSpec | None = Field(default=None, description="Hooks the rollout waits on.")


class AxiomModelSpec(ApiModel):
    """Desired state: which verified model version serves, how, and how versions change."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.replicas) || !has(self.autoscaling) || "
                    "(self.replicas >= self.autoscaling.minReplicas && "
                    "self.replicas <= self.autoscaling.maxReplicas)",
                    "replicas must lie within autoscaling.minReplicas..maxReplicas",
                    ".replicas",
                )
            ]
        }
    )

    version: str = Field(
        pattern=SEMVER_PATTERN,
        max_length=20,
        description="Semantic version to serve (lower case, no build metadata). Changing it rolls "
        "the model to the new version after its certificate verifies.",
    )
    model: ModelSource = Field(description="The package of this version.")
    certificate: CertificateSpec = Field(description="The signed certificate of this version.")
    replicas: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Pods per version when autoscaling is absent (default 1); with autoscaling, "
        "the initial count only: the HPA owns the replica count.",
    )
    autoscaling: AutoscalingSpec | None = Field(
        default=None, description="Create a HorizontalPodAutoscaler."
    )
    resources: ResourcesSpec | None = Field(
        default=None,
        description="Runtime container resources. Default: requests cpu 100m, memory 128Mi; "
        "limits memory 512Mi.",
    )
    runtime: RuntimeSpec | None = Field(default=None, description="Runtime pod settings.")
    traffic: TrafficSpec | None = Field(default=None, description="Traffic split settings.")
    rollout: RolloutSpec | None = Field(default=None, description="Progressive rollout settings.")
    notifications: NotificationsSpec | None = Field(
        default=None, description="Webhooks on rollout events and gates (docs/notifications.md)."
    )

    @model_validator(mode="after")
    def _replicas_within_autoscaling(self) -> AxiomModelSpec:
        if self.replicas is not None and self.autoscaling is not None:
            low, high = self.autoscaling.min_replicas, self.autoscaling.max_replicas
            if not low <= self.replicas <= high:
                raise ValueError("replicas must lie within autoscaling.minReplicas..maxReplicas")
        return self


# ------------------------------------------------------------------------------------- status


class Condition(ApiModel):
    """A standard Kubernetes condition."""

    type: str = Field(
        max_length=64,
        description="Ready, CertificateValid, Available, Progressing, or kstatus' Reconciling "
        "and Stalled (present only while True); more may be added.",
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(max_length=128, description="CamelCase reason a program can match on.")
    message: str = Field(max_length=4096, description="What happened and what to do, for people.")
    last_transition_time: str = Field(
        description="When status last changed (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation this condition was computed for."
    )


class HistoryEntry(ApiModel):
    """One version's rollout outcome, newest last."""

    version: str = Field(max_length=64, description="The version.")
    outcome: Literal["Promoted", "RolledBack", "Failed", "Superseded"] = Field(
        description="Promoted (became stable), RolledBack (left by a rollback), Failed (its "
        "canary failed analysis, its progress deadline or its certificate) or Superseded "
        "(spec.version moved on before it finished)."
    )
    at: str = Field(
        description="When it happened (RFC 3339).", json_schema_extra={"format": "date-time"}
    )
    reason: str | None = Field(default=None, max_length=1024, description="Why, for people.")


class AnalysisFigures(ApiModel):
    """What one version's pods did during the analysed window."""

    requests: int = Field(
        ge=0, description="Requests in the window (canary: plus unanswered forwards)."
    )
    errors: int = Field(ge=0, description="5xx answers (canary: plus unanswered forwards).")
    error_rate: float | None = Field(default=None, ge=0, description="errors / requests.")
    p99_latency_ms: float | None = Field(default=None, ge=0, description="p99 latency, ms.")
    mean_confidence: float | None = Field(
        default=None, ge=0, description="Mean prediction confidence (0..1)."
    )


class LabelFlip(ApiModel):
    """Mirrored rows the stable classed ``from`` and the canary ``to``."""

    from_: str = Field(alias="from", max_length=128, description="The stable's class.")
    to: str = Field(max_length=128, description="The canary's class.")
    count: int = Field(ge=0, description="Rows in the window.")


class AnalysisComparison(ApiModel):
    """Same-input comparison of mirrored requests in the analysed window."""

    compared: int = Field(ge=0, description="Mirrored requests compared.")
    rows: int = Field(ge=0, description="Rows compared.")
    dropped: int = Field(ge=0, description="Copies dropped because the mirror queue was full.")
    agreement: float | None = Field(
        default=None, ge=0, le=1, description="Share of rows whose class agreed (0..1)."
    )
    mean_confidence_delta: float | None = Field(
        default=None, ge=0, description="Mean |canary - stable| confidence per row."
    )
    max_output_distance: float | None = Field(
        default=None, ge=0, description="Upper bound of the largest output difference."
    )
    distribution_shift: float | None = Field(
        default=None, ge=0, description="PSI of the canary's outputs against the stable's."
    )
    top_flips: list[LabelFlip] | None = Field(
        default=None, max_length=3, description="The most frequent label flips."
    )


class AnalysisSequential(ApiModel):
    """The sequential tests over the whole canary so far."""

    canary_requests: int = Field(ge=0, description="Canary requests in the evidence.")
    canary_errors: int = Field(ge=0, description="Canary errors in the evidence.")
    stable_requests: int = Field(ge=0, description="Stable requests in the evidence.")
    stable_errors: int = Field(ge=0, description="Stable errors in the evidence.")
    error_harm: float = Field(
        ge=0, description="e-value that the canary errs more than the stable (rollback at 2/rate)."
    )
    latency_harm: float = Field(
        ge=0, description="e-value that the canary is slower than the stable (rollback at 2/rate)."
    )
    error_good: float = Field(
        ge=0, description="e-value that the canary's error rate is below maxErrorRate."
    )
    latency_good: float = Field(
        ge=0, description="e-value that the canary's p99 is below maxP99LatencyMs."
    )


class AnalysisResult(ApiModel):
    """The last canary analysis."""

    time: str | None = Field(
        default=None,
        description="When the analysis ran (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    version: str | None = Field(default=None, max_length=64, description="Canary version analysed.")
    step: int | None = Field(default=None, ge=0, description="Rollout step index analysed.")
    verdict: Literal["Pass", "Fail", "Inconclusive"] | None = Field(
        default=None,
        description="Pass, Fail or Inconclusive (too few requests, or metrics unreachable).",
    )
    reasons: (
        list[Annotated[str, Field(max_length=1024, description="One check and its outcome.")]]
        | None
    ) = Field(default=None, max_length=16, description="Why, one line per check, for people.")
    message: str | None = Field(default=None, max_length=4096, description="The reasons, joined.")
    requests: int | None = Field(default=None, ge=0, description="Canary requests in the window.")
    error_rate: float | None = Field(default=None, ge=0, description="Canary error rate (0..1).")
    p99_latency_ms: float | None = Field(default=None, ge=0, description="Canary p99 latency, ms.")
    mean_confidence: float | None = Field(
        default=None, ge=0, description="Canary mean prediction confidence (0..1)."
    )
    failures: int | None = Field(
        default=None, ge=0, description="Failed analyses of this canary so far."
    )
    canary: AnalysisFigures | None = Field(default=None, description="The canary's figures.")
    stable: AnalysisFigures | None = Field(default=None, description="The stable's figures.")
    comparison: AnalysisComparison | None = Field(
        default=None,
        description="Shadow steps: the canary's answers against the stable's on the same inputs.",
    )
    sequential: AnalysisSequential | None = Field(
        default=None, description="The sequential tests' evidence over the whole canary."
    )


PHASES = (
    "Pending",
    "Deploying",
    "Stable",
    "Canary",
    "Experiment",
    "Paused",
    "Promoting",
    "RollingBack",
    "RolledBack",
    "Failed",
    "Blocked",
    "Invalid",
)


class AxiomModelStatus(ApiModel):
    """Observed state, written only by the operator."""

    phase: str | None = Field(
        default=None,
        max_length=32,
        description="The rollout phase (docs/rollout.md): Pending (nothing deployed yet), "
        "Deploying (first version starting), Stable (spec.version serves all traffic), Canary "
        "(progressive steps with analysis), Experiment (A/B split held by "
        "traffic.canaryPercent), Paused (weight held: axiom.dev/pause or too many inconclusive "
        "analyses), Promoting (canary scaling to full size), RollingBack (a cold rollback "
        "target is starting), RolledBack (the stable serves; spec.version is blocked), Failed "
        "(analysis failed with autoRollback off; canary held at 0%), Blocked (the certificate "
        "of spec.version is refused or not found) or Invalid (the spec cannot be acted on).",
    )
    message: str | None = Field(
        default=None, max_length=4096, description="What the rollout is doing, for people."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the status reflects."
    )
    stable_version: str | None = Field(
        default=None, max_length=64, description="Version the model Service sends users to."
    )
    canary_version: str | None = Field(
        default=None, max_length=64, description="Version being rolled out, if any."
    )
    canary_weight: float | None = Field(
        default=None, ge=0, le=100, description="Percent of requests the canary should receive."
    )
    effective_weight: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Percent the canary receives now: the written weight once every stable pod "
        "applied it (Runtime), or the share of available replicas (Replicas mode).",
    )
    step: int | None = Field(
        default=None, ge=0, description="Current rollout step index (0-based)."
    )
    history: list[HistoryEntry] | None = Field(
        default=None, max_length=50, description="Rollout outcomes of versions, newest last."
    )
    last_analysis: AnalysisResult | None = Field(
        default=None, description="Result of the most recent canary analysis."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        max_length=16,
        description="Ready, CertificateValid, Available, Progressing; Reconciling and Stalled "
        "(kstatus) while True.",
    )
    blocked_versions: (
        list[Annotated[str, Field(max_length=64, description="A version kept off (rolled back).")]]
        | None
    ) = Field(
        default=None,
        max_length=50,
        description="Versions rolled back or failed, kept off while spec.version names them.",
    )
    draining_versions: (
        list[Annotated[str, Field(max_length=64, description="A version leaving the split.")]]
        | None
    ) = Field(
        default=None,
        max_length=8,
        description="Versions out of the traffic split (a canary rolled back or superseded) "
        "that stable pods may still forward to until each applied the new split (the kubelet "
        "refreshes their traffic ConfigMap at its pod sync); their pods run until then, at "
        "most AXIOM_OPERATOR_TRAFFIC_DRAIN_SECONDS (180 s).",
    )
    handled_requests: (
        list[Annotated[str, Field(max_length=300, description="e.g. rollback=previous.")]] | None
    ) = Field(
        default=None,
        max_length=8,
        description="axiom.dev/* annotations already acted on (each acts once per appearance).",
    )
    waiting_for: Literal["PreRollout", "ConfirmPromotion"] | None = Field(
        default=None,
        description="The gate (spec.notifications.gates) the rollout waits on until its hook "
        "answers 2xx: PreRollout (the new version is not deployed yet) or ConfirmPromotion "
        "(the canary passed its steps).",
    )
    replicas: int | None = Field(
        default=None, ge=0, description="Pods of the stable version (scale subresource)."
    )
    selector: str | None = Field(
        default=None, max_length=1024, description="Label selector of the stable pods (scale)."
    )
    rollout: dict[str, Any] | None = Field(
        default=None,
        description="The rollout state machine's memory (operator-internal; its layout may "
        "change between releases: read the fields above instead).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


def model_name_errors(name: str) -> list[str]:
    """Rules on metadata.name the CRD enforces by CEL; the operator re-checks them."""
    errors = []
    if len(name) > MAX_MODEL_NAME_LENGTH:
        errors.append(f"metadata.name must be at most {MAX_MODEL_NAME_LENGTH} characters")
    if not re.fullmatch(MODEL_NAME_PATTERN, name):
        errors.append(
            "metadata.name must be a DNS-1035 label (a-z, 0-9, '-', starting with a letter)"
        )
    return errors
