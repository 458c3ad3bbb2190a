"""The objects a user applies in the demo and the e2e tests, as plain data (pure functions).

A version of the example model travels as three objects: the package bytes in a ConfigMap
(``binaryData``; the digits packages are 10-20 KiB, far below the 1 MiB object limit), its
certificate in a Secret, and the AxiomModel that names both by ``configmap://`` URI and
``secretRef``. The trusted public keys are one Secret per namespace
(``axiom-trusted-keys``, the operator's default), one entry per key id.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_DIR = REPO_ROOT / "examples" / "digits"
TRUSTED_KEYS_DIR = REPO_ROOT / "examples" / "keys" / "trusted"
CHART_CRDS_DIR = REPO_ROOT / "charts" / "axiom-operator" / "crds"
TRUSTED_KEYS_SECRET = "axiom-trusted-keys"
MODEL_NAME = "digits"
PACKAGE_KEY = "model.axiom"
CERTIFICATE_KEY = "certificate.json"
# The image name only has to say "axiom runtime": the node agent runs it as a local process.
RUNTIME_IMAGE = "axiom-runtime:dev"


def slug(version: str) -> str:
    return version.replace(".", "-")


@dataclass(frozen=True)
class ExampleVersion:
    """One signed version of the example model on disk."""

    version: str
    package: Path
    certificate: Path

    @classmethod
    def of(cls, version: str, directory: Path = EXAMPLE_DIR) -> ExampleVersion:
        return cls(
            version,
            directory / f"{MODEL_NAME}-{version}.axiom",
            directory / f"{MODEL_NAME}-{version}.cert.json",
        )

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.package.read_bytes()).hexdigest()

    @property
    def package_configmap(self) -> str:
        return f"{MODEL_NAME}-{slug(self.version)}"

    @property
    def certificate_secret(self) -> str:
        return f"{MODEL_NAME}-{slug(self.version)}-cert"


def package_configmap(name: str, namespace: str, data: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "binaryData": {PACKAGE_KEY: base64.b64encode(data).decode()},
    }


def certificate_secret(name: str, namespace: str, certificate: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {CERTIFICATE_KEY: base64.b64encode(certificate).decode()},
    }


def trusted_keys_secret(namespace: str, directory: Path = TRUSTED_KEYS_DIR) -> dict[str, Any]:
    entries = {
        path.name: base64.b64encode(path.read_bytes()).decode()
        for path in sorted(directory.iterdir())
        if path.is_file()
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": TRUSTED_KEYS_SECRET, "namespace": namespace},
        "data": entries,
    }


def canary_rollout(
    *,
    steps: tuple[tuple[float, str], ...] = ((25, "8s"), (50, "8s")),
    interval: str = "4s",
    min_requests: int = 20,
    max_error_rate: float = 0.01,
    min_confidence: float = 0.6,
    failure_limit: int = 1,
) -> dict[str, Any]:
    """spec.rollout for a short but real canary: steps with pauses and metric analysis."""
    return {
        "steps": [{"weight": weight, "pause": pause} for weight, pause in steps],
        "analysis": {
            "interval": interval,
            "minRequests": min_requests,
            "maxErrorRate": max_error_rate,
            "minConfidence": min_confidence,
            "failureLimit": failure_limit,
        },
        "autoRollback": True,
        "scaleDownDelay": "5s",
    }


def shadow_rollout(
    *,
    shadow_pause: str = "8s",
    steps: tuple[tuple[float, str], ...] = ((25, "8s"), (50, "8s")),
    interval: str = "4s",
    min_requests: int = 20,
    min_agreement: float = 0.95,
) -> dict[str, Any]:
    """spec.rollout with a shadow step first: every request the stable answers is also sent
    to the canary and both answers are compared, before any user gets the canary's."""
    rollout = canary_rollout(steps=steps, interval=interval, min_requests=min_requests)
    rollout["steps"].insert(0, {"weight": 0, "mirror": 100, "pause": shadow_pause})
    rollout["analysis"]["minAgreement"] = min_agreement
    return rollout


def axiom_model(
    namespace: str,
    version: str,
    sha256: str,
    *,
    name: str = MODEL_NAME,
    package_uri: str | None = None,
    certificate_secret_name: str | None = None,
    replicas: int = 1,
    rollout: dict[str, Any] | None = None,
    runtime: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``runtime``: spec.runtime (default: the node agent's image name, which it ignores)."""
    spec: dict[str, Any] = {
        "version": version,
        "model": {
            "uri": package_uri or f"configmap://{name}-{slug(version)}/{PACKAGE_KEY}",
            "sha256": sha256,
        },
        "certificate": {
            "secretRef": {"name": certificate_secret_name or f"{name}-{slug(version)}-cert"},
            "policy": "Enforce",
        },
        "replicas": replicas,
        "runtime": runtime or {"image": RUNTIME_IMAGE},
        "traffic": {"mode": "Runtime"},
    }
    if rollout is not None:
        spec["rollout"] = rollout
    return {
        "apiVersion": "axiom.dev/v1alpha1",
        "kind": "AxiomModel",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def to_yaml(*documents: dict[str, Any]) -> str:
    return "---\n".join(yaml.safe_dump(doc, sort_keys=False) for doc in documents)
