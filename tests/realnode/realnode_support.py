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
