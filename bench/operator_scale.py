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


async def count_deployments(client: AsyncClient, namespace: str) -> int:
    return len([d async for d in client.list(Deployment, namespace=namespace)])


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


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds each process (with its children) has used so far."""
    import psutil

    used: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            process = psutil.Process(pid)
            family = [process, *process.children(recursive=True)]
            used[name] = sum(sum(p.cpu_times()[:2]) for p in family)
        except psutil.NoSuchProcess:
            continue
    return used


# Where a sampled stack's time is charged: the first of these areas that appears anywhere on
# the stack, so time in a library called by an operator stage counts for that stage, and only
# what no stage of ours called (Kopf's watch handling, the event loop) falls to a library.
_AREAS = (
    ("axiom_operator/observe", "operator: observe (reads, World)"),
    ("axiom_operator/rollout", "operator: rollout machine"),
    ("axiom_operator/plan", "operator: plan"),
    ("axiom_operator/status", "operator: status"),
    ("axiom_operator/certificates", "operator: certificates"),
    # Before kube.py: the watches read through it, and their time is not writes.
    ("axiom_operator/handlers/watch_children", "operator: child watches and cache"),
    ("axiom_operator/child_cache", "operator: child watches and cache"),
    ("axiom_operator/events", "operator: writes (apply, kube, events)"),
    ("axiom_operator/apply", "operator: writes (apply, kube, events)"),
    ("axiom_operator/kube", "operator: writes (apply, kube, events)"),
    # After the stages: a pass's own code outside them (pipeline, queue); not the entry
    # point (axiom_operator/cli.py runs Kopf, so it is on every stack).
    ("axiom_operator/pipeline", "operator: pass (other)"),
    ("axiom_operator/queue", "operator: pass (other)"),
    ("axiom_operator/handlers", "operator: handlers"),
    ("kopf/", "Kopf (watches, event dispatch)"),
    ("lightkube/", "lightkube (object models)"),
    ("httpx", "httpx / httpcore (HTTP)"),
    ("h11/", "httpx / httpcore (HTTP)"),
    ("aiohttp/", "aiohttp (Kopf's HTTP)"),
    ("pydantic", "pydantic"),
    ("ssl.py", "TLS"),
    ("json/", "json"),
    ("asyncio/", "asyncio"),
)


def profile_summary(collapsed: str, top: int = 12) -> list[tuple[str, float]]:
    """Share of samples per area from py-spy's collapsed stacks ("f (file:line);... N")."""
    totals: dict[str, float] = {}
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        area = "other (interpreter, stdlib)"
        for pattern, label in _AREAS:
            if any(pattern in frame for frame in reversed(frames)):
                area = label
                break
        totals[area] = totals.get(area, 0) + count
    if not samples:
        return []
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [(area, count / samples) for area, count in ranked]
