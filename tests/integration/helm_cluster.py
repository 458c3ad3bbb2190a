"""Helpers for the chart's cluster tests: helm against the test cluster, object paths,
server-side dry runs, and the Prometheus Operator CRDs (from their Go module) for validating
the ServiceMonitor, PodMonitor and PrometheusRule the chart can render.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "chart"))  # the chart test helpers (no package)

from helmchart import CHART, OPTION_SETS, Helm, helm_binary, parse_manifests  # noqa: E402

from axiom_devcluster.controlplane import ControlPlane  # noqa: E402

__all__ = ["CHART", "OPTION_SETS", "Helm", "helm_binary", "parse_manifests"]

# Pinned for the monitoring.coreos.com CRDs only (example/prometheus-operator-crd/ of the module).
PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"

# kind -> (API path prefix, plural, namespaced) for every kind the chart can render.
KIND_PATHS: dict[str, tuple[str, str, bool]] = {
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Secret": ("/api/v1", "secrets", True),
    "Service": ("/api/v1", "services", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "KopfPeering": ("/apis/kopf.dev/v1", "kopfpeerings", True),
    "ClusterKopfPeering": ("/apis/kopf.dev/v1", "clusterkopfpeerings", False),
    "ServiceMonitor": ("/apis/monitoring.coreos.com/v1", "servicemonitors", True),
    "PodMonitor": ("/apis/monitoring.coreos.com/v1", "podmonitors", True),
    "PrometheusRule": ("/apis/monitoring.coreos.com/v1", "prometheusrules", True),
    "CustomResourceDefinition": (
        "/apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        False,
    ),
}


def collection_path(manifest: dict[str, Any]) -> str:
    prefix, plural, namespaced = KIND_PATHS[manifest["kind"]]
    if namespaced:
        return f"{prefix}/namespaces/{manifest['metadata']['namespace']}/{plural}"
    return f"{prefix}/{plural}"


def object_path(manifest: dict[str, Any]) -> str:
    return f"{collection_path(manifest)}/{manifest['metadata']['name']}"


def dry_run_create(plane: ControlPlane, manifest: dict[str, Any]) -> None:
    """Create with dryRun=All and strict field validation: the apiserver checks the object
    against its OpenAPI schema (unknown or misspelt fields are errors) and runs admission,
    but stores nothing. Raises AssertionError with the apiserver's message."""
    path = collection_path(manifest) + "?dryRun=All&fieldValidation=Strict"
    try:
        plane.api_request("POST", path, manifest)
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise AssertionError(
            f"{manifest['kind']}/{manifest['metadata']['name']} rejected ({error.code}): {detail}"
        ) from None


def apply_crd(plane: ControlPlane, crd: dict[str, Any]) -> None:
    """Create a CRD (or leave an existing one) and wait until it is established."""
    try:
        plane.api_request("POST", collection_path(crd), crd)
    except urllib.error.HTTPError as error:
        if error.code != 409:
            detail = error.read().decode(errors="replace")
            raise AssertionError(f"CRD {crd['metadata']['name']}: {error.code} {detail}") from None
    wait_established(plane, crd["metadata"]["name"])


def wait_established(plane: ControlPlane, name: str, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        crd = plane.api_request(
            "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        )
        found = (crd.get("status") or {}).get("conditions") or []
        conditions = {c["type"]: c["status"] for c in found}
        if conditions.get("Established") == "True":
            return
        time.sleep(0.2)
    raise TimeoutError(f"CRD {name} not established after {timeout}s")


def monitoring_crds() -> list[dict[str, Any]] | None:
    """The pinned Prometheus Operator CRDs, from the Go module cache (downloaded through the Go
    module proxy if needed); None when Go is unavailable or the download fails."""
    go = shutil.which("go")
    if go is None:
        return None
    result = subprocess.run(
        [
            go,
            "mod",
            "download",
            "-json",
            f"{PROMETHEUS_OPERATOR_MODULE}@{PROMETHEUS_OPERATOR_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**_go_env(), "GOFLAGS": "-mod=mod"},
        cwd=REPO_ROOT,
    )
    if result.returncode != 0:
        return None
    directory = Path(json.loads(result.stdout)["Dir"]) / "example" / "prometheus-operator-crd"
    wanted = ("servicemonitors", "podmonitors", "prometheusrules")
    return [
        yaml.safe_load((directory / f"monitoring.coreos.com_{name}.yaml").read_text())
        for name in wanted
    ]


def _go_env() -> dict[str, str]:
    import os

    return {**os.environ, "GOTOOLCHAIN": "local"}


def service_account_token(plane: ControlPlane, namespace: str, name: str) -> str:
    """A short-lived token of the ServiceAccount, from the TokenRequest API (as the kubelet
    would mount it into the operator's pod)."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    answer = plane.api_request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", body
    )
    return str(answer["status"]["token"])


def token_kubeconfig(plane: ControlPlane, token: str, path: Path) -> Path:
    """A kubeconfig that authenticates only with ``token``: no client certificate, so the
    apiserver authorizes every request as the ServiceAccount."""
    import base64

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "test",
                "cluster": {
                    "server": plane.server,
                    "certificate-authority-data": base64.b64encode(
                        plane.pki.ca_cert.read_bytes()
                    ).decode(),
                },
            }
        ],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "operator"}}],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
