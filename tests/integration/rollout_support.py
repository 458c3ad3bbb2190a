"""Helpers for the rollout integration tests: the example model's signed versions in a
namespace whose pods the node agent really runs, the AxiomModel applied like a user would,
and a steady client that calls the model Service's ClusterIP the whole time.

Everything is synchronous (the operator runs in its own thread through ``start_operator``);
every wait is bounded and fails with the trail of statuses it saw.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axiom_devcluster.controlplane import ControlPlane

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "digits"
TRUSTED = REPO / "examples" / "keys" / "trusted"
SAMPLE = (EXAMPLES / "sample-digit-3.json").read_bytes()
MODEL = "digits"
MODELS_PATH = "/apis/axiom.dev/v1alpha1/namespaces/{ns}/axiommodels"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Settings for the in-process operator: short timeouts, never leave loopback.
OPERATOR_ENV = {"AXIOM_OPERATOR_POD_REQUEST_TIMEOUT": "1"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def short_canary(
    steps: tuple[tuple[float, str], ...] = ((20, "6s"), (60, "6s")),
    *,
    min_confidence: float = 0.6,
    min_requests: int = 20,
    failure_limit: int = 0,
) -> dict[str, Any]:
    return {
        "steps": [{"weight": weight, "pause": pause} for weight, pause in steps],
        "analysis": {
            "interval": "3s",
            "minRequests": min_requests,
            "maxErrorRate": 0.01,
            "minConfidence": min_confidence,
            "failureLimit": failure_limit,
        },
        "scaleDownDelay": "3s",
        "rollbackWindow": "5m",
    }


@dataclass
class RolloutWorld:
    plane: ControlPlane
    namespace: str
    trail: list[str] = field(default_factory=list)

    # -- objects --------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None) -> Any:
        return self.plane.api_request(method, path, body)

    def merge_patch(self, path: str, patch: dict[str, Any]) -> None:
        import ssl

        request = urllib.request.Request(
            self.plane.server + path,
            data=json.dumps(patch).encode(),
            method="PATCH",
            headers={"Content-Type": "application/merge-patch+json"},
        )
        context = ssl.create_default_context(cafile=str(self.plane.pki.ca_cert))
        context.load_cert_chain(str(self.plane.pki.admin_cert), str(self.plane.pki.admin_key))
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            answer.read()

    def publish(self, *versions: str) -> None:
        """Trusted keys (once), package ConfigMap and certificate Secret of each version."""
        ns = self.namespace
        try:
            keys = {p.name: _b64(p.read_bytes()) for p in TRUSTED.iterdir()}
            self.api("POST", f"/api/v1/namespaces/{ns}/secrets", {
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "axiom-trusted-keys"}, "data": keys,
            })  # fmt: skip
        except urllib.error.HTTPError as error:
            if error.code != 409:
                raise
        for version in versions:
            slug = version.replace(".", "-")
            package = (EXAMPLES / f"{MODEL}-{version}.axiom").read_bytes()
            cert = (EXAMPLES / f"{MODEL}-{version}.cert.json").read_bytes()
            self.api("POST", f"/api/v1/namespaces/{ns}/configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{MODEL}-{slug}"},
                "binaryData": {"model.axiom": _b64(package)},
            })  # fmt: skip
            self.api("POST", f"/api/v1/namespaces/{ns}/secrets", {
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{MODEL}-{slug}-cert"},
                "data": {"certificate.json": _b64(cert)},
            })  # fmt: skip

    @staticmethod
    def version_spec(version: str) -> dict[str, Any]:
        slug = version.replace(".", "-")
        package = (EXAMPLES / f"{MODEL}-{version}.axiom").read_bytes()
        return {
            "version": version,
            "model": {
                "uri": f"configmap://{MODEL}-{slug}/model.axiom",
                "sha256": hashlib.sha256(package).hexdigest(),
            },
            "certificate": {"secretRef": {"name": f"{MODEL}-{slug}-cert"}},
        }

    @property
    def model_path(self) -> str:
        return f"{MODELS_PATH.format(ns=self.namespace)}/{MODEL}"

    def apply_model(self, version: str, **spec: Any) -> None:
        """Create the AxiomModel, or merge-patch its spec (what `kubectl apply` would change)."""
        body = {**self.version_spec(version), "runtime": {"image": "axiom-runtime:test"}, **spec}
        if self.model() is None:
            self.api("POST", MODELS_PATH.format(ns=self.namespace), {
                "apiVersion": "axiom.dev/v1alpha1", "kind": "AxiomModel",
                "metadata": {"name": MODEL}, "spec": body,
            })  # fmt: skip
        else:
            self.merge_patch(self.model_path, {"spec": body})

    def annotate(self, key: str, value: str | None) -> None:
        self.merge_patch(self.model_path, {"metadata": {"annotations": {key: value}}})

    def model(self) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.api("GET", self.model_path)
            return result
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def status(self) -> dict[str, Any]:
        return dict((self.model() or {}).get("status") or {})

    def deployments(self) -> dict[str, int]:
        """Deployment name -> spec.replicas."""
        items = self.api("GET", f"/apis/apps/v1/namespaces/{self.namespace}/deployments")["items"]
        return {d["metadata"]["name"]: d["spec"].get("replicas", 1) for d in items}

    def get(self, path: str) -> Any:
        return self.api("GET", path)

    def service_url(self, name: str = MODEL) -> str:
        service = self.api("GET", f"/api/v1/namespaces/{self.namespace}/services/{name}")
        return f"http://{service['spec']['clusterIP']}:8080"

    # -- waiting --------------------------------------------------------------------------

    def describe(self, status: dict[str, Any]) -> str:
        last = status.get("lastAnalysis") or {}
        return (
            f"{status.get('phase')} stable={status.get('stableVersion')} "
            f"canary={status.get('canaryVersion')} weight={status.get('canaryWeight')} "
            f"step={status.get('step')} verdict={last.get('verdict')} "
            f"blocked={status.get('blockedVersions')} msg={status.get('message')}"
        )

    def wait(
        self, check: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            line = self.describe(status)
            if not self.trail or self.trail[-1] != line:
                self.trail.append(line)
            if check(status):
                return status
            if time.monotonic() > deadline:
                trail = "\n".join(self.trail[-40:])
                raise TimeoutError(f"{what} not reached in {timeout:.0f}s; statuses:\n{trail}")
            time.sleep(0.3)

    def wait_stable(self, version: str, timeout: float = 90) -> dict[str, Any]:
        return self.wait(
            lambda s: s.get("phase") == "Stable" and s.get("stableVersion") == version,
            timeout,
            f"{version} Stable",
        )


def predict(url: str, request_id: str | None = None, timeout: float = 5.0) -> tuple[int, str]:
    """(HTTP status, version that answered) of one /predict call."""
    request = urllib.request.Request(url + "/predict", data=SAMPLE, method="POST")
    request.add_header("Content-Type", "application/json")
    if request_id is not None:
        request.add_header("X-Request-ID", request_id)
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            answer.read()
            return answer.status, answer.headers.get("X-Axiom-Version", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("X-Axiom-Version", "")
    except (urllib.error.URLError, OSError) as error:
        return 0, f"{type(error).__name__}: {error}"


class SteadyClient:
    """Calls the model Service from a thread until stopped; counts answers by version.

    Never retries: a failed request is a failure a user would have seen.
    """

    def __init__(self, url: str, rate: float = 25.0) -> None:
        self.url = url
        self.period = 1.0 / rate
        self.by_version: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-client", daemon=True)

    def __enter__(self) -> SteadyClient:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            code, version = predict(self.url, str(uuid.uuid4()))
            if code == 200:
                self.by_version[version] += 1
            else:
                self.failures.append(f"{code} {version}")
            self._stop.wait(max(0.0, self.period - (time.monotonic() - started)))

    @property
    def total(self) -> int:
        return sum(self.by_version.values()) + len(self.failures)


GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
GATEWAY_API_VERSION = "v1.2.1"


def gateway_api_crds() -> list[dict[str, Any]] | None:
    """The standard-channel Gateway API CRDs from the Go module cache (fetched through the Go
    module proxy if needed, like the chart tests' Prometheus Operator CRDs); None without Go."""
    import os
    import shutil
    import subprocess

    import yaml

    go = shutil.which("go")
    if go is None:
        return None
    result = subprocess.run(
        [go, "mod", "download", "-json", f"{GATEWAY_API_MODULE}@{GATEWAY_API_VERSION}"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"},
        cwd=REPO,
    )
    if result.returncode != 0:
        return None
    directory = Path(json.loads(result.stdout)["Dir"]) / "config" / "crd" / "standard"
    return [
        yaml.safe_load((directory / f"gateway.networking.k8s.io_{name}.yaml").read_text())
        for name in ("gatewayclasses", "gateways", "httproutes")
    ]


def install_crds(plane: ControlPlane, crds: list[dict[str, Any]]) -> None:
    """Create the CRDs (those already there are left as they are) and wait until served."""
    from axiom_devcluster.operator_fixtures import CRD_PATH, wait_established

    for crd in crds:
        try:
            plane.api_request("POST", CRD_PATH, crd)
        except urllib.error.HTTPError as error:
            if error.code != 409:
                raise
    wait_established(plane, [crd["metadata"]["name"] for crd in crds])
