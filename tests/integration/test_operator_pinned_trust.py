"""Pinned trust (AXIOM_OPERATOR_TRUSTED_KEYS_NAMESPACE), against the real apiserver.

The threat it answers: by default a model's namespace holds its trusted keys, so whoever may
write Secrets there can trust their own key and deploy what they signed. Pinned, the operator
reads the keys only from the platform's namespace: a key planted in the model's namespace is
ignored, a model naming its own trustedKeysRef is refused whatever its policy, and the pods
of an accepted model mount the operator's ConfigMap mirror of the pinned keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Secret
from operator_support import (
    KEY_ID,
    OTHER_KEY,
    SIGNING_KEY,
    certificate,
    condition,
    deploy_version,
    model_manifest,
    model_when,
    package,
    wait_for,
)

from axiom_devcluster.controlplane import ControlPlane
from axiom_operator.kube import AxiomModelResource
from axiom_runtime.keys import public_key_pem

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]
PLANTED_KEY_ID = "planted-by-the-namespace"


@pytest.fixture
def trust_namespace(control_plane: ControlPlane, namespace: str) -> Iterator[str]:
    """The platform's namespace holding the one trusted-keys Secret (SIGNING_KEY only)."""
    name = f"{namespace[:50]}-trust"
    control_plane.api_request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    pem = public_key_pem(SIGNING_KEY.public_key()).decode()
    control_plane.api_request(
        "POST",
        f"/api/v1/namespaces/{name}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "axiom-trusted-keys"},
            "stringData": {KEY_ID: pem},
        },
    )
    try:
        yield name
    finally:
        control_plane.api_request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture
def pinned_operator(start_operator: Any, namespace: str, trust_namespace: str) -> Iterator[Any]:
    with start_operator(namespace, AXIOM_OPERATOR_TRUSTED_KEYS_NAMESPACE=trust_namespace) as runner:
        yield runner


async def plant_key(client: AsyncClient, namespace: str) -> None:
    """What a namespace user could do: trust their own key next to their models."""
    pem = public_key_pem(OTHER_KEY.public_key()).decode()
    await client.create(
        Secret(
            metadata=ObjectMeta(name="axiom-trusted-keys", namespace=namespace),
            stringData={PLANTED_KEY_ID: pem},
        )
    )


async def planted_then_v1(
    client: AsyncClient,
    namespace: str,
    until: Callable[[dict[str, Any]], bool],
    *,
    cert: dict[str, Any] | None = None,
    data: bytes | None = None,
) -> dict[str, Any]:
    """A key planted in the namespace, then digits 1.0.0 applied; the model once ``until``."""
    await plant_key(client, namespace)
    sha, secret = await deploy_version(client, namespace, "digits", "1.0.0", cert=cert, data=data)
    await client.create(
        AxiomModelResource.from_dict(model_manifest("digits", namespace, "1.0.0", sha, secret))
    )
    return await model_when(client, "digits", until, within=30)


async def test_a_key_planted_in_the_model_namespace_is_not_trusted(
    kube_client: AsyncClient, namespace: str, pinned_operator: Any
) -> None:
    data = package("digits", "1.0.0")
    cert = certificate(data, key=OTHER_KEY, key_id=PLANTED_KEY_ID)
    model = await planted_then_v1(
        kube_client,
        namespace,
        lambda m: condition(m, "CertificateValid").get("reason") == "UnknownKey",
        cert=cert,
        data=data,
    )
    assert model["status"]["phase"] == "Blocked"
    assert [d async for d in kube_client.list(Deployment)] == []


async def test_an_accepted_model_mounts_the_mirror_of_the_pinned_keys(
    kube_client: AsyncClient, namespace: str, trust_namespace: str, pinned_operator: Any
) -> None:
    model = await planted_then_v1(
        kube_client, namespace, lambda m: condition(m, "CertificateValid").get("status") == "True"
    )
    assert model["status"]["stableVersion"] == "1.0.0"
    mirror = await kube_client.get(ConfigMap, "digits-trusted-keys")
    assert mirror.data == {KEY_ID: public_key_pem(SIGNING_KEY.public_key()).decode()}
    assert mirror.metadata.ownerReferences[0].kind == "AxiomModel"
    deployment = await kube_client.get(Deployment, "digits-v1-0-0")
    volumes = {v.name: v for v in deployment.spec.template.spec.volumes}
    assert volumes["trusted-keys"].configMap.name == "digits-trusted-keys"
    assert volumes["trusted-keys"].secret is None

    # Drift: the mirror is deleted; the operator writes it back.
    await kube_client.delete(ConfigMap, "digits-trusted-keys")

    async def mirror_back() -> ConfigMap | None:
        return await kube_client.get(ConfigMap, "digits-trusted-keys")

    rewritten = await wait_for(mirror_back, within=30, what="the mirror rewritten")
    assert rewritten.data == mirror.data


async def test_a_model_naming_its_own_trusted_keys_is_refused_even_in_audit(
    kube_client: AsyncClient, namespace: str, pinned_operator: Any
) -> None:
    await plant_key(kube_client, namespace)
    sha, secret = await deploy_version(kube_client, namespace, "digits", "1.0.0")
    manifest = model_manifest("digits", namespace, "1.0.0", sha, secret)
    manifest["spec"]["certificate"] = {
        "secretRef": {"name": secret},
        "trustedKeysRef": {"kind": "Secret", "name": "axiom-trusted-keys"},
        "policy": "Audit",
    }
    await kube_client.create(AxiomModelResource.from_dict(manifest))
    model = await model_when(
        kube_client,
        "digits",
        lambda m: condition(m, "CertificateValid").get("reason") == "TrustedKeysRefNotAllowed",
        within=30,
    )
    assert (
        "remove spec.certificate.trustedKeysRef" in condition(model, "CertificateValid")["message"]
    )
    assert [d async for d in kube_client.list(Deployment)] == []
