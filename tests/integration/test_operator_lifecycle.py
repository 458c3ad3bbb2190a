"""Deleting an AxiomModel garbage-collects its children; restarting the operator mid-way
leaves no duplicates and finishes the job."""

from __future__ import annotations

from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.core_v1 import ConfigMap, Service
from operator_support import (
    condition,
    deploy_version,
    model_manifest,
    model_when,
    put_trusted_keys,
    wait_for,
)

from axiom_operator.kube import AxiomModelResource
from axiom_operator.resources.labels import MODEL_LABEL

pytestmark = pytest.mark.timeout(180)


def ready(model: dict[str, Any]) -> bool:
    return condition(model, "Ready").get("status") == "True"


async def children(client: AsyncClient) -> list[str]:
    names = []
    for kind in (Deployment, Service, HorizontalPodAutoscaler, ConfigMap):
        names += [
            f"{kind.__name__}/{o.metadata.name}"
            async for o in client.list(kind, labels={MODEL_LABEL: "digits"})
        ]
    return sorted(names)


async def create(client: AsyncClient, namespace: str) -> None:
    await put_trusted_keys(client, namespace)
    sha, secret = await deploy_version(client, namespace, "digits", "1.0.0")
    manifest = model_manifest(
        "digits", namespace, "1.0.0", sha, secret, autoscaling={"maxReplicas": 3}
    )
    await client.create(AxiomModelResource.from_dict(manifest))


async def test_deleting_the_model_garbage_collects_every_child(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    await create(kube_client, namespace)
    await model_when(kube_client, "digits", ready, within=90)
    assert await children(kube_client) == [
        "Deployment/digits-v1-0-0",
        "HorizontalPodAutoscaler/digits-v1-0-0",
        "Service/digits",
    ]
    await kube_client.delete(AxiomModelResource, "digits")

    async def all_gone() -> bool:
        return await children(kube_client) == []

    await wait_for(all_gone, within=60, what="children garbage-collected")


async def test_restarting_the_operator_mid_way_leaves_no_duplicates(
    kube_client: AsyncClient, namespace: str, start_operator: Any
) -> None:
    await create(kube_client, namespace)
    with start_operator(namespace):

        async def deployment_exists() -> bool:
            return bool([d async for d in kube_client.list(Deployment)])

        await wait_for(deployment_exists, within=30, what="first Deployment")
    with start_operator(namespace):
        await model_when(kube_client, "digits", ready, within=90)
    assert await children(kube_client) == [
        "Deployment/digits-v1-0-0",
        "HorizontalPodAutoscaler/digits-v1-0-0",
        "Service/digits",
    ]
