"""Pieces of ``operator_bench.py`` that are not the measurement itself: the objects the
baseline creates, the operator's own identity, polling helpers."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service

from axiom_devcluster.controlplane import ControlPlane
from axiom_runtime.metrics import parse_prometheus_text


def counter_total(port: int, name: str) -> float:
    """One counter of the operator's /metrics, summed over its labels."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(sample.value for sample in parse_prometheus_text(text).get(name, []))


def operator_kubeconfig(plane: ControlPlane, namespace: str, path: Path) -> str:
    """A kubeconfig for a ServiceAccount ``axiom-operator`` (bound to cluster-admin), and the
    user name the apiserver's audit log gives it: the operator's writes, Kopf's included, are
    counted by that name and nobody else's are."""
    plane.api_request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        {"metadata": {"name": "axiom-operator"}},
    )
    plane.api_request(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "metadata": {"name": f"axiom-operator-{namespace}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "axiom-operator", "namespace": namespace}
            ],
        },
    )
    answer = plane.api_request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/axiom-operator/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 86400},
        },
    )
    config = yaml.safe_load(plane.kubeconfig.read_text())
    cluster = config["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "operator", "user": {"token": answer["status"]["token"]}}],
                "contexts": [
                    {
                        "name": "operator",
                        "context": {"cluster": cluster["name"], "user": "operator"},
                    }
                ],
                "current-context": "operator",
            }
        )
    )
    return f"system:serviceaccount:{namespace}:axiom-operator"


def bare_deployment(name: str, namespace: str) -> Deployment:
    """What the baseline creates per model: one Deployment like the operator's (one replica,
    the runtime image, tiny requests) with no operator involved."""
    labels = {"app": name}
    return Deployment.from_dict(
        {
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "runtime",
                                "image": "axiom-runtime:test",
                                "ports": [{"containerPort": 8080, "name": "http"}],
                                "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}},
                            }
                        ]
                    },
                },
            },
        }
    )


def bare_service(name: str, namespace: str) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec={"selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]},
    )


async def count_available(client: AsyncClient, namespace: str) -> int:
    count = 0
    async for deployment in client.list(Deployment, namespace=namespace):
        count += bool(deployment.status and (deployment.status.availableReplicas or 0) >= 1)
    return count


async def wait_until(
    probe: Callable[[], Any], target: int, limit: float, every: float = 0.5
) -> tuple[float | None, int]:
    """Poll ``await probe()`` until it reaches ``target``: (seconds taken or None, last count)."""
    started = time.perf_counter()
    deadline = time.monotonic() + limit
    while (done := await probe()) < target:
        if time.monotonic() > deadline:
            return None, done
        await asyncio.sleep(every)
    return time.perf_counter() - started, done


async def create_all(client: AsyncClient, objects: list[Any], limit: int = 100) -> None:
    """Create every object at once, at most ``limit`` requests in flight (the HTTP pool's
    size): the same for the baseline and for the models, so the two start alike."""
    gate = asyncio.Semaphore(limit)

    async def one(obj: Any) -> None:
        async with gate:
            await client.create(obj)

    await asyncio.gather(*(one(o) for o in objects))
