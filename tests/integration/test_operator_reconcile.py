"""The operator against the real control plane: a valid AxiomModel gets its Deployment,
Services and HPA, owned and labelled; pods become Ready (kwok); status says Ready=True."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.core_v1 import ConfigMap, Service
from lightkube.types import PatchType
from operator_support import (
    condition,
    deploy_version,
    get_model,
    model_manifest,
    model_when,
    put_trusted_keys,
    wait_for,
)

from axiom_operator.kube import AxiomModelResource
from axiom_runtime.metrics import parse_prometheus_text

pytestmark = pytest.mark.timeout(180)


def is_ready(model: dict[str, Any]) -> bool:
    return condition(model, "Ready").get("status") == "True"


async def create_model(
    client: AsyncClient, namespace: str, name: str = "digits", **spec: Any
) -> dict[str, Any]:
    await put_trusted_keys(client, namespace)
    sha, secret = await deploy_version(client, namespace, name, "1.0.0")
    manifest = model_manifest(name, namespace, "1.0.0", sha, secret, **spec)
    await client.create(AxiomModelResource.from_dict(manifest))
    return manifest


async def test_valid_model_gets_deployment_services_hpa_and_becomes_ready(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    await create_model(
        kube_client, namespace, autoscaling={"minReplicas": 2, "maxReplicas": 4}, replicas=2
    )
    model = await model_when(kube_client, "digits", is_ready, within=90)

    uid = model["metadata"]["uid"]
    deployment = (await kube_client.get(Deployment, "digits-v1-0-0")).to_dict()
    assert deployment["metadata"]["ownerReferences"][0]["uid"] == uid
    assert deployment["metadata"]["labels"]["axiom.dev/version"] == "1.0.0"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "axiom-runtime:test"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AXIOM_MODEL_URI"] == "/etc/axiom/model/model.axiom"
    assert deployment["status"]["readyReplicas"] == 2

    service = (await kube_client.get(Service, "digits")).to_dict()
    assert service["spec"]["selector"] == {
        "axiom.dev/model": "digits",
        "axiom.dev/version": "1.0.0",
    }
    assert service["metadata"]["ownerReferences"][0]["uid"] == uid
    hpa = (await kube_client.get(HorizontalPodAutoscaler, "digits-v1-0-0")).to_dict()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "digits-v1-0-0"
    # What nothing uses yet is not made: no per-version Service (only a canary's share is
    # forwarded to one), no traffic split, no settings (spec.runtime sets none).
    for kind, name in [
        (Service, "digits-v1-0-0"),
        (ConfigMap, "digits-traffic"),
        (ConfigMap, "digits-runtime"),
    ]:
        with pytest.raises(ApiError):
            await kube_client.get(kind, name)

    assert model["status"]["phase"] == "Stable"
    assert model["status"]["stableVersion"] == "1.0.0"
    assert model["status"]["observedGeneration"] == model["metadata"]["generation"]
    assert condition(model, "CertificateValid")["status"] == "True"
    assert condition(model, "Available")["status"] == "True"


async def test_second_pass_writes_nothing(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    await create_model(kube_client, namespace)
    await model_when(kube_client, "digits", is_ready, within=90)
    names = ("digits-v1-0-0",)

    async def versions() -> dict[str, str]:
        out = {}
        for kind, name in [
            (Deployment, names[0]),
            (Service, "digits"),
        ]:
            out[f"{kind.__name__}/{name}"] = (
                await kube_client.get(kind, name)
            ).metadata.resourceVersion
        out["status"] = str((await get_model(kube_client, "digits"))["status"])
        return out

    before = await versions()
    passes = _reconciles(operator_runner.metrics_port)
    # A metadata-only change (an annotation) makes the operator look again: a full pass.
    await kube_client.patch(
        AxiomModelResource,
        "digits",
        {"metadata": {"annotations": {"example.com/touch": "1"}}},
        patch_type=PatchType.MERGE,
    )

    async def looked_again() -> bool:
        return _reconciles(operator_runner.metrics_port) > passes

    await wait_for(looked_again, within=30, what="a pass after the annotation")
    await asyncio.sleep(1)  # a write of that pass would have landed by now
    assert await versions() == before


def _reconciles(port: int) -> float:
    """The operator's count of finished passes (its /metrics)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(
        s.value for s in parse_prometheus_text(text).get("axiom_operator_reconciles_total", [])
    )


async def test_deleted_child_comes_back(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    await create_model(kube_client, namespace)
    await model_when(kube_client, "digits", is_ready, within=90)
    old_uid = (await kube_client.get(Service, "digits")).metadata.uid
    await kube_client.delete(Service, "digits")

    async def recreated() -> bool:
        return (await kube_client.get(Service, "digits")).metadata.uid != old_uid

    await wait_for(recreated, within=30, what="Service recreated")


async def test_edited_child_is_repaired(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    await create_model(kube_client, namespace)
    await model_when(kube_client, "digits", is_ready, within=90)
    await kube_client.patch(
        Service, "digits", {"spec": {"selector": {"axiom.dev/version": "6.6.6"}}}
    )

    async def repaired() -> bool:
        service = await kube_client.get(Service, "digits")
        return (service.spec.selector or {}).get("axiom.dev/version") == "1.0.0"

    await wait_for(repaired, within=30, what="Service selector repaired")


async def test_version_change_without_steps_switches_when_ready_and_keeps_the_old_warm(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    """No steps, no canaryPercent: a blue-green switch. The new version starts beside the
    stable one, the Service moves once it is fully available, and the old version stays
    warm for rollbackWindow (instant rollback) before it is deleted."""
    await create_model(kube_client, namespace)
    await model_when(kube_client, "digits", is_ready, within=90)
    sha, secret = await deploy_version(kube_client, namespace, "digits", "1.1.0")
    await kube_client.patch(
        AxiomModelResource,
        "digits",
        {
            "spec": {
                "version": "1.1.0",
                "model": {"uri": "configmap://digits-1-1-0/model.axiom", "sha256": sha},
                "certificate": {"secretRef": {"name": secret}},
                "rollout": {"scaleDownDelay": "1s", "rollbackWindow": "8s"},
            }
        },
        patch_type=PatchType.MERGE,
    )
    model = await model_when(
        kube_client,
        "digits",
        lambda m: (m.get("status") or {}).get("stableVersion") == "1.1.0" and is_ready(m),
        90,
    )
    assert model["status"]["phase"] == "Stable"
    service = await kube_client.get(Service, "digits")
    assert (service.spec.selector or {})["axiom.dev/version"] == "1.1.0"
    names = [d.metadata.name async for d in kube_client.list(Deployment)]
    assert names == ["digits-v1-0-0", "digits-v1-1-0"], "the old version is kept warm"

    async def old_gone() -> bool:
        names = [d.metadata.name async for d in kube_client.list(Deployment)]
        return names == ["digits-v1-1-0"]

    await wait_for(old_gone, within=40, what="old Deployment deleted after rollbackWindow")
    history = model["status"]["history"]
    assert [(h["version"], h["outcome"]) for h in history] == [
        ("1.0.0", "Promoted"),
        ("1.1.0", "Promoted"),
    ]
