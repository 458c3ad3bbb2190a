"""The local control plane behaves like a real cluster where the operator depends on it.

Each test proves one behaviour the operator relies on, against real kube-apiserver, etcd,
kube-controller-manager, kube-scheduler and kwok processes (no mocks): Deployments roll out on
kwok nodes, Services get EndpointSlices, ownerReferences are garbage-collected, CRD schemas
with CEL rules reject bad objects with the rule's message, RBAC forbids what a Role does not
grant.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient, KubeConfig, codecs
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Pod, Secret, Service, ServiceAccount
from lightkube.resources.discovery_v1 import EndpointSlice

from axiom_devcluster import addresses, nodes
from axiom_devcluster.controlplane import ControlPlane
from axiom_devcluster.waiting import eventually


def manifest(document: dict[str, Any]) -> Any:
    """A lightkube object of the kind the document names (typed loosely: any kind goes)."""
    return codecs.from_dict(document)


def deployment(name: str, replicas: int) -> Deployment:
    labels = {"app": name}
    obj = manifest(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": {"type": nodes.KWOK_NODE_TYPE},
                        "containers": [
                            {
                                "name": "app",
                                "image": "example.invalid/app:1",
                                "ports": [{"containerPort": 8080, "name": "http"}],
                            }
                        ],
                    },
                },
            },
        }
    )
    assert isinstance(obj, Deployment)
    return obj


async def available_replicas(client: AsyncClient, name: str) -> int:
    current = await client.get(Deployment, name)
    return (current.status.availableReplicas or 0) if current.status else 0


async def test_deployment_reaches_available_replicas_on_kwok_nodes(
    kube_client: AsyncClient,
) -> None:
    await kube_client.create(deployment("web", replicas=3))

    async def all_available() -> bool:
        return await available_replicas(kube_client, "web") == 3

    await eventually(all_available, what="deployment web has 3 available replicas", within=60)
    pods = [pod async for pod in kube_client.list(Pod, labels={"app": "web"})]
    assert len(pods) == 3
    for pod in pods:
        assert pod.spec is not None and pod.status is not None
        assert pod.spec.nodeName is not None
        assert pod.spec.nodeName.startswith("kwok-node-")
        assert pod.status.phase == "Running"
        assert ipaddress.IPv4Address(pod.status.podIP) in addresses.POD_CIDR


async def test_service_gets_endpointslices_for_its_pods(kube_client: AsyncClient) -> None:
    await kube_client.create(deployment("api", replicas=2))
    service = manifest(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "api"},
            "spec": {
                "selector": {"app": "api"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        }
    )
    created = await kube_client.create(service)
    assert isinstance(created, Service) and created.spec is not None
    assert ipaddress.IPv4Address(created.spec.clusterIP) in addresses.SERVICE_CIDR

    async def ready_endpoint_addresses() -> set[str]:
        slices = kube_client.list(EndpointSlice, labels={"kubernetes.io/service-name": "api"})
        found: set[str] = set()
        async for endpoint_slice in slices:
            for endpoint in endpoint_slice.endpoints or []:
                if endpoint.conditions and endpoint.conditions.ready:
                    found.update(endpoint.addresses)
        return found if len(found) == 2 else set()

    endpoint_ips = await eventually(
        ready_endpoint_addresses, what="2 ready endpoints for service api", within=60
    )
    pod_ips = {
        pod.status.podIP
        async for pod in kube_client.list(Pod, labels={"app": "api"})
        if pod.status is not None
    }
    assert endpoint_ips == pod_ips


async def test_deleting_owner_garbage_collects_objects_that_name_it(
    kube_client: AsyncClient,
) -> None:
    owner = await kube_client.create(
        manifest(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "owner"},
                "data": {"role": "owner"},
            }
        )
    )
    assert owner.metadata is not None and owner.metadata.uid is not None
    child = manifest(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "child",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner.metadata.uid,
                    }
                ],
            },
            "data": {"role": "child"},
        }
    )
    await kube_client.create(child)

    await kube_client.delete(ConfigMap, "owner")

    async def child_gone() -> bool:
        try:
            await kube_client.get(ConfigMap, "child")
        except ApiError as error:
            return error.status.code == 404
        return False

    await eventually(child_gone, what="child ConfigMap garbage-collected", within=60)


RULE_MESSAGE = "minReplicas must not exceed maxReplicas"


@pytest.fixture
async def widget_crd(kube_client: AsyncClient) -> Any:
    group = f"t{uuid.uuid4().hex[:8]}.axiom.dev"
    crd = manifest(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets.{group}"},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "required": ["minReplicas", "maxReplicas"],
                                        "properties": {
                                            "minReplicas": {"type": "integer", "minimum": 0},
                                            "maxReplicas": {"type": "integer", "minimum": 1},
                                        },
                                        "x-kubernetes-validations": [
                                            {
                                                "rule": "self.minReplicas <= self.maxReplicas",
                                                "message": RULE_MESSAGE,
                                            }
                                        ],
                                    }
                                },
                            }
                        },
                    }
                ],
            },
        }
    )
    await kube_client.create(crd)
    name = f"widgets.{group}"

    async def established() -> bool:
        current = await kube_client.get(CustomResourceDefinition, name)
        conditions = (current.status.conditions or []) if current.status else []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    await eventually(established, what=f"CRD {name} established", within=30)
    widget = create_namespaced_resource(group, "v1", "Widget", "widgets")
    try:
        yield widget
    finally:
        await kube_client.delete(CustomResourceDefinition, name)


async def test_crd_validation_rule_rejects_bad_object_with_its_message(
    kube_client: AsyncClient, widget_crd: Any
) -> None:
    bad = widget_crd.from_dict(
        {"metadata": {"name": "bad"}, "spec": {"minReplicas": 5, "maxReplicas": 2}}
    )
    with pytest.raises(ApiError) as rejected:
        await kube_client.create(bad)
    assert rejected.value.status.code == 422
    assert RULE_MESSAGE in (rejected.value.status.message or "")


async def test_crd_accepts_object_that_satisfies_its_rule(
    kube_client: AsyncClient, widget_crd: Any
) -> None:
    good = widget_crd.from_dict(
        {"metadata": {"name": "good"}, "spec": {"minReplicas": 1, "maxReplicas": 3}}
    )
    created = await kube_client.create(good)
    assert created.spec == {"minReplicas": 1, "maxReplicas": 3}


@pytest.fixture
async def configmap_reader_client(
    kube_client: AsyncClient, namespace: str, control_plane: ControlPlane
) -> Any:
    """A client authenticated as a ServiceAccount whose only Role is get/list ConfigMaps."""
    await kube_client.create(
        manifest({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}})
    )
    for document in (
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "configmap-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader-reads-configmaps"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "configmap-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    ):
        await kube_client.create(manifest(document))
    token_request = ServiceAccount.Token(metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[]))
    issued = await kube_client.create(token_request, name="reader")
    assert issued.status is not None
    config = KubeConfig.from_dict(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": control_plane.server,
                        "certificate-authority": str(control_plane.pki.ca_cert),
                    },
                }
            ],
            "users": [{"name": "reader", "user": {"token": issued.status.token}}],
            "contexts": [{"name": "reader", "context": {"cluster": "local", "user": "reader"}}],
            "current-context": "reader",
        }
    )
    client = AsyncClient(config=config, namespace=namespace, trust_env=False)

    async def role_in_effect() -> bool:
        try:
            _ = [cm async for cm in client.list(ConfigMap)]
        except ApiError as error:
            if error.status.code == 403:
                return False
            raise
        return True

    # The RBAC authorizer reads bindings from an informer: give it a moment to see ours.
    await eventually(role_in_effect, what="reader may list configmaps", within=30)
    try:
        yield client
    finally:
        await client.close()


async def test_service_account_is_forbidden_what_its_role_does_not_grant(
    configmap_reader_client: AsyncClient,
) -> None:
    with pytest.raises(ApiError) as forbidden:
        _ = [secret async for secret in configmap_reader_client.list(Secret)]
    assert forbidden.value.status.code == 403
    assert forbidden.value.status.reason == "Forbidden"


async def test_service_account_may_not_create_what_its_role_only_lets_it_read(
    configmap_reader_client: AsyncClient,
) -> None:
    with pytest.raises(ApiError) as forbidden:
        await configmap_reader_client.create(
            manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
        )
    assert forbidden.value.status.code == 403
