"""The operator writes only what its model controls, on the real control plane: an object with
a name the model needs that is someone else's (a user's, another model's) is never written,
its resourceVersion does not move, the model says who holds it, and proceeds by itself once
the name is free; adoption is only by the object's own ``axiom.dev/adopt`` annotation. An
AxiomModel author with no other rights cannot use the operator to change a Service they may
not change themselves. A cluster without the Gateway API gets a status, not a crash loop."""

from __future__ import annotations

import asyncio
import urllib.error
from pathlib import Path
from typing import Any

import pytest
from helm_cluster import service_account_token, token_kubeconfig
from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Service
from lightkube.types import PatchType
from operator_support import condition, deploy_version, model_manifest, model_when, put_trusted_keys
from rollout_support import gateway_api_crds, install_crds

from axiom_devcluster.controlplane import ControlPlane
from axiom_devcluster.operator_fixtures import CRD_PATH
from axiom_operator.kube import AxiomModelResource

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

KINDS: dict[str, Any] = {"Service": Service, "ConfigMap": ConfigMap, "Deployment": Deployment}


def foreign(kind: str, name: str, namespace: str) -> Any:
    """An object of a user's, with a name an AxiomModel named digits would use."""
    meta = {"name": name, "namespace": namespace, "labels": {"team": "payments"}}
    if kind == "Service":
        spec = {"selector": {"app": "payments"}, "ports": [{"name": "web", "port": 80}]}
        return Service.from_dict({"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": spec})
    if kind == "ConfigMap":
        return ConfigMap.from_dict(
            {"apiVersion": "v1", "kind": kind, "metadata": meta, "data": {"owner": "payments"}}
        )
    labels = {"app": "payments"}
    spec = {
        "replicas": 1,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": "payments:1"}]},
        },
    }
    return Deployment.from_dict(
        {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}
    )


async def resource_version(
    client: AsyncClient, kind: str, name: str, *, foreign: bool = True
) -> str:
    """What only a write to the object moves: its resourceVersion, except for a Deployment,
    whose own controller writes its status; then its generation, its operator-settable
    metadata and its field managers (the operator's, ``axiom-operator*``, must never show)."""
    obj = (await client.get(KINDS[kind], name)).to_dict()
    meta = obj["metadata"]
    writers = [m for m in meta.get("managedFields") or () if m.get("subresource") != "status"]
    managers = sorted({m["manager"] for m in writers})
    if foreign:
        assert not [m for m in managers if m.startswith("axiom-operator")], managers
    if kind != "Deployment":
        return str(meta["resourceVersion"])
    kept = {k: meta.get(k) for k in ("generation", "labels", "ownerReferences")}
    # the deployment controller's own annotation (its revision) is not a write of ours
    kept["annotations"] = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if not k.startswith("deployment.kubernetes.io/")
    }
    return repr((kept, managers))  # any change to the spec moves the generation


def held_by(kind: str, name: str) -> Any:
    def check(model: dict[str, Any]) -> bool:
        ready = condition(model, "Ready")
        return ready.get("reason") == "ResourceConflict" and f"{kind} {name} " in ready.get(
            "message", ""
        )

    return check


async def create_model(
    client: AsyncClient, namespace: str, name: str = "digits", *, keys: bool = True, **spec: Any
) -> None:
    if keys:
        await put_trusted_keys(client, namespace)
    sha, secret = await deploy_version(client, namespace, name, "1.0.0")
    manifest = model_manifest(name, namespace, "1.0.0", sha, secret, **spec)
    await client.create(AxiomModelResource.from_dict(manifest))


# The names a first deploy writes (the runtime ConfigMap only when spec.runtime sets
# something; the per-version Service and the traffic ConfigMap come with a canary, below).
@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("Service", "digits"),
        ("ConfigMap", "digits-runtime"),
        ("Deployment", "digits-v1-0-0"),
    ],
)
async def test_a_users_object_with_a_derived_name_is_never_written(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, kind: str, name: str
) -> None:
    await kube_client.create(foreign(kind, name, namespace))
    before = await resource_version(kube_client, kind, name)
    await create_model(
        kube_client, namespace, runtime={"image": "axiom-runtime:test", "maxBatchSize": 8}
    )

    model = await model_when(kube_client, "digits", held_by(kind, name), within=60)
    ready = condition(model, "Ready")
    assert ready["status"] == "False"
    assert "managed by" in ready["message"], ready["message"]
    await asyncio.sleep(3)  # a few more passes, child events, a retry
    assert await resource_version(kube_client, kind, name) == before
    if kind != "Deployment":
        with pytest.raises(ApiError):
            await kube_client.get(Deployment, "digits-v1-0-0")  # the whole pass was held


async def test_the_model_proceeds_by_itself_once_the_name_is_free(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    await kube_client.create(foreign("Service", "digits", namespace))
    await create_model(kube_client, namespace)
    await model_when(kube_client, "digits", held_by("Service", "digits"), within=60)
    await kube_client.delete(Service, "digits")
    model = await model_when(
        kube_client, "digits", lambda m: condition(m, "Ready").get("status") == "True", within=90
    )
    service = (await kube_client.get(Service, "digits")).to_dict()
    assert service["metadata"]["ownerReferences"][0]["uid"] == model["metadata"]["uid"]


async def test_two_models_whose_names_meet_do_not_take_each_others_objects(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    # A model whose own Service is named like the per-version Service web's canary will need.
    await create_model(kube_client, namespace, "web-v2-0-0")
    await model_when(kube_client, "web-v2-0-0", is_ready, within=90)
    before = await resource_version(kube_client, "Service", "web-v2-0-0", foreign=False)
    await create_model(kube_client, namespace, "web", keys=False)
    await model_when(kube_client, "web", is_ready, within=90)

    sha, secret = await deploy_version(kube_client, namespace, "web", "2.0.0")
    spec = model_manifest("web", namespace, "2.0.0", sha, secret)["spec"]
    await kube_client.patch(AxiomModelResource, "web", {"spec": spec}, patch_type=PatchType.MERGE)
    model = await model_when(kube_client, "web", held_by("Service", "web-v2-0-0"), 60)
    assert "controlled by AxiomModel web-v2-0-0" in condition(model, "Ready")["message"]
    await asyncio.sleep(3)
    assert await resource_version(kube_client, "Service", "web-v2-0-0", foreign=False) == before
    other = (await kube_client.get(AxiomModelResource, "web-v2-0-0")).to_dict()
    assert condition(other, "Ready")["status"] == "True"


def is_ready(model: dict[str, Any]) -> bool:
    return condition(model, "Ready").get("status") == "True"


async def test_names_only_a_canary_uses_do_not_hold_a_first_deploy(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    """A first deploy writes no per-version Service and no traffic split: a user's objects
    with those names are no conflict until a canary needs them (then it is held, above)."""
    for kind, name in (("Service", "digits-v1-0-0"), ("ConfigMap", "digits-traffic")):
        await kube_client.create(foreign(kind, name, namespace))
    before = [
        await resource_version(kube_client, kind, name)
        for kind, name in (("Service", "digits-v1-0-0"), ("ConfigMap", "digits-traffic"))
    ]
    await create_model(kube_client, namespace)
    await model_when(kube_client, "digits", is_ready, within=90)
    after = [
        await resource_version(kube_client, kind, name)
        for kind, name in (("Service", "digits-v1-0-0"), ("ConfigMap", "digits-traffic"))
    ]
    assert after == before


async def test_an_object_annotated_for_adoption_is_taken_over(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    service = foreign("Service", "digits", namespace)
    service.metadata.annotations = {"axiom.dev/adopt": "digits"}
    await kube_client.create(service)
    await create_model(kube_client, namespace)
    model = await model_when(
        kube_client, "digits", lambda m: condition(m, "Ready").get("status") == "True", within=90
    )
    adopted = (await kube_client.get(Service, "digits")).to_dict()
    assert adopted["metadata"]["ownerReferences"][0]["uid"] == model["metadata"]["uid"]
    assert adopted["spec"]["selector"] == {
        "axiom.dev/model": "digits",
        "axiom.dev/version": "1.0.0",
    }


async def test_a_model_author_cannot_use_the_operator_to_change_a_service_they_may_not(
    kube_client: AsyncClient,
    namespace: str,
    operator_runner: Any,
    control_plane: ControlPlane,
    tmp_path: Path,
) -> None:
    """As a user whose RBAC allows AxiomModels only: a direct write of the Service is
    refused by the apiserver, and an AxiomModel named like it leaves it untouched."""
    await kube_client.create(foreign("Service", "payments", namespace))
    before = await resource_version(kube_client, "Service", "payments")
    await put_trusted_keys(kube_client, namespace)
    sha, secret = await deploy_version(kube_client, namespace, "payments", "1.0.0")
    plane = control_plane
    plane.api_request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "author"}}
    )
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    plane.api_request("POST", f"{rbac}/roles", {
        "metadata": {"name": "axiommodel-author"},
        "rules": [{"apiGroups": ["axiom.dev"], "resources": ["axiommodels"],
                   "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}],
    })  # fmt: skip
    plane.api_request("POST", f"{rbac}/rolebindings", {
        "metadata": {"name": "axiommodel-author"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "axiommodel-author"},
        "subjects": [{"kind": "ServiceAccount", "name": "author", "namespace": namespace}],
    })  # fmt: skip
    token = service_account_token(plane, namespace, "author")
    config = KubeConfig.from_file(token_kubeconfig(plane, token, tmp_path / "author.yaml"))
    author = AsyncClient(config=config, namespace=namespace, trust_env=False)
    try:
        with pytest.raises(ApiError) as refused:
            await author.patch(Service, "payments", {"spec": {"selector": {"app": "x"}}})
        assert refused.value.status.code == 403
        manifest = model_manifest("payments", namespace, "1.0.0", sha, secret)
        await author.create(AxiomModelResource.from_dict(manifest))
        await model_when(kube_client, "payments", held_by("Service", "payments"), within=60)
    finally:
        await author.close()
    await asyncio.sleep(3)
    assert await resource_version(kube_client, "Service", "payments") == before
    untouched = (await kube_client.get(Service, "payments")).to_dict()
    assert untouched["spec"]["selector"] == {"app": "payments"}


async def test_gateway_api_mode_without_the_gateway_api_is_a_status_then_recovers(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, control_plane: ControlPlane
) -> None:
    try:
        control_plane.api_request("GET", f"{CRD_PATH}/httproutes.gateway.networking.k8s.io")
    except urllib.error.HTTPError as error:
        assert error.code == 404
    else:
        pytest.skip("an earlier test in this control plane installed the Gateway API CRDs")
    crds = gateway_api_crds()
    assert crds is not None, "the Gateway API CRDs (from their Go module) are needed"

    await put_trusted_keys(kube_client, namespace)
    sha, secret = await deploy_version(kube_client, namespace, "digits", "1.0.0")
    manifest = model_manifest(
        "digits", namespace, "1.0.0", sha, secret, traffic={"mode": "GatewayAPI"}
    )
    await kube_client.create(AxiomModelResource.from_dict(manifest))
    model = await model_when(
        kube_client,
        "digits",
        lambda m: condition(m, "Ready").get("reason") == "APIUnavailable",
        within=60,
    )
    assert (
        "does not serve gateway.networking.k8s.io/v1 HTTPRoute"
        in condition(model, "Ready")["message"]
    )

    install_crds(control_plane, crds)
    await model_when(
        kube_client, "digits", lambda m: condition(m, "Ready").get("status") == "True", within=90
    )
    route = create_namespaced_resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")
    assert (await kube_client.get(route, "digits")).metadata.ownerReferences[0].name == "digits"
