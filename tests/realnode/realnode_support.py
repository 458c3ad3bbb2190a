"""Small helpers of the realnode tests: objects as JSON through the admin client, and waiting."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from axiom_devcluster.controlplane import ControlPlane

T = TypeVar("T")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_for(probe: Callable[[], T | None], *, what: str, timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            found = probe()
        except (urllib.error.URLError, OSError, KeyError) as error:
            found, last = None, error
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s (last: {last!r})")
        time.sleep(0.25)


def pod_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def get(plane: ControlPlane, path: str) -> Any:
    return plane.api_request("GET", path)


def http_get(url: str, timeout: float = 3) -> tuple[int, bytes]:
    try:
        with _NO_PROXY.open(url, timeout=timeout) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def service_url(plane: ControlPlane, namespace: str, name: str) -> str:
    service = get(plane, f"/api/v1/namespaces/{namespace}/services/{name}")
    return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"


def pod_log(plane: ControlPlane, namespace: str, pod: str) -> str:
    """The pod's log through the apiserver -> kubelet path (what `kubectl logs` uses)."""
    request = urllib.request.Request(
        f"{plane.server}/api/v1/namespaces/{namespace}/pods/{pod}/log", method="GET"
    )
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=plane._admin_tls())
    )
    with opener.open(request, timeout=10) as answer:
        return str(answer.read().decode(errors="replace"))


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1)[:2000]


# -- the chart's operator and the example model on the real node ------------------------------

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "chart"))  # helm helpers (no package)
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))  # the e2e tier's ModelWorld

from e2e_support import ModelWorld  # noqa: E402
from helmchart import CHART, Helm, helm_binary  # noqa: E402

from axiom_devcluster import addresses  # noqa: E402
from axiom_devcluster.demo import manifests  # noqa: E402
from axiom_devcluster.demo.traffic import predict  # noqa: E402
from axiom_devcluster.realnode import images  # noqa: E402

OPERATOR_NAMESPACE = "axiom-system"
RELEASE = "axiom"


def install_chart(helm: Helm) -> None:
    """`helm install` with the built images (never pulled) and the node's pod range as the
    only network the operator may scrape."""
    helm.run(
        "install", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE, "--create-namespace",
        "--set", f"image.tag={images.tag()}", "--set", "image.pullPolicy=Never",
        "--set", f"runtime.image.tag={images.tag()}",
        "--set", f"operator.podNetworkAllowlist={{{addresses.REALNODE_POD_CIDR}}}",
    )  # fmt: skip


class RealModelWorld(ModelWorld):
    """The e2e tier's model world, with runtime pods in the built image on the real node."""

    def apply_model(
        self, version: str, *, rollout: dict[str, Any] | None = None, replicas: int = 1
    ) -> None:
        example = manifests.ExampleVersion.of(version)
        model = manifests.axiom_model(
            self.namespace, version, example.sha256, rollout=rollout, replicas=replicas
        )
        model["spec"]["runtime"] = {
            "image": images.reference("runtime"),
            "imagePullPolicy": "Never",
        }
        self.apply(model)

    def wait_ready(self, timeout: float = 180) -> dict[str, Any]:
        """Ready, and answering through the ClusterIP: kube-proxy programs a Service's new
        endpoints a moment after the pods are Ready, and until then connects are refused."""
        model = super().wait_ready(timeout)
        url = self.service_url()
        body = (manifests.EXAMPLE_DIR / "sample-digit-3.json").read_bytes()
        wait_for(lambda: predict(url, body).status == 200, what=f"{url} answering", timeout=30)
        return model

    def service_url(self, name: str = manifests.MODEL_NAME) -> str:
        service = self.kubectl.json("get", "service", name)
        address = service["spec"]["clusterIP"]
        assert address.startswith("198.19."), f"Service {name} ClusterIP {address} off the range"
        return f"http://{address}:{service['spec']['ports'][0]['port']}"


def operator_pods(cluster: Any) -> list[dict[str, Any]]:
    selector = "app.kubernetes.io/name%3Daxiom-operator"
    path = f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/pods?labelSelector={selector}"
    return list(get(cluster.plane, path)["items"])


def ready_operator_pod(cluster: Any) -> dict[str, Any] | None:
    ready = [
        p
        for p in operator_pods(cluster)
        if pod_ready(p) and not p["metadata"].get("deletionTimestamp")
    ]
    return ready[0] if ready else None


__all__ = ["CHART", "Helm", "RealModelWorld", "helm_binary", "install_chart", "ready_operator_pod"]
