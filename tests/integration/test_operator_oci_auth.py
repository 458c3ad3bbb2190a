"""oci:// from registries that require credentials, and image-volume delivery, through the
operator and the real apiserver.

The registry is the real distribution registry with token auth; its token server is the test
stand-in of :mod:`axiom_devcluster.registry_token_server` (what signs the JWTs the registry
trusts; no real token service runs here). The credentials are a Secret of type
kubernetes.io/dockerconfigjson named by ``spec.model.oci.credentialsSecretRef``: the operator
reads it to stream and hash the package before any pod exists, the pods get its
``.dockerconfigjson`` key as a secretKeyRef (never the value), and with ``imageVolume`` the
Secret as an imagePullSecret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Secret
from operator_support import (
    certificate,
    condition,
    model_manifest,
    model_when,
    package,
    put_certificate,
    put_trusted_keys,
)

from axiom_devcluster.storage_servers import OciRegistry
from axiom_operator.kube import AxiomModelResource

pytestmark = pytest.mark.timeout(180)


def reason_is(reason: str) -> Any:
    return lambda m: condition(m, "CertificateValid").get("reason") == reason


def ready(model: dict[str, Any]) -> bool:
    return condition(model, "Ready").get("status") == "True"


def config_json(registry: OciRegistry, user: str, password: str) -> str:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {registry.host: {"auth": auth}}})


async def put_registry_secret(
    client: AsyncClient, namespace: str, registry: OciRegistry, user: str, password: str
) -> None:
    await client.create(
        Secret(
            metadata=ObjectMeta(name="regcred", namespace=namespace),
            type="kubernetes.io/dockerconfigjson",
            stringData={".dockerconfigjson": config_json(registry, user, password)},
        )
    )


async def oci_model(
    client: AsyncClient,
    namespace: str,
    registry: OciRegistry,
    tmp_path: Path,
    *,
    image_volume: bool = False,
) -> str:
    """digits 1.0.0 pushed with alice's credentials; the model names Secret regcred."""
    data = package("digits", "1.0.0")
    source = tmp_path / "digits-1.0.0.axiom"
    source.write_bytes(data)
    config = tmp_path / "config.json"
    config.write_text(config_json(registry, "alice", "s3cret"))
    done = subprocess.run(  # noqa: ASYNC221 -- the push is the test's setup
        [sys.executable, "-m", "axiom_runtime.cli", "model", "push", str(source),
         f"oci://{registry.host}/{namespace}/digits:1.0.0", "--docker-config", str(config),
         *(["--as-image"] if image_volume else [])],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    uri = done.stdout.strip()
    await put_trusted_keys(client, namespace)
    await put_certificate(client, namespace, "digits-1-0-0-cert", certificate(data))
    manifest = model_manifest(
        "digits", namespace, "1.0.0", hashlib.sha256(data).hexdigest(), "digits-1-0-0-cert"
    )
    manifest["spec"]["model"].update(
        uri=uri, oci={"credentialsSecretRef": {"name": "regcred"}, "imageVolume": image_volume}
    )
    await client.create(AxiomModelResource.from_dict(manifest))
    return uri


async def test_a_missing_secret_waits_then_the_token_flow_deploys(
    kube_client: AsyncClient,
    namespace: str,
    operator_runner: Any,
    oci_token_registry: OciRegistry,
    tmp_path: Path,
) -> None:
    uri = await oci_model(kube_client, namespace, oci_token_registry, tmp_path)
    model = await model_when(kube_client, "digits", reason_is("OciCredentialsNotFound"), within=30)
    cert = condition(model, "CertificateValid")
    assert cert["status"] == "Unknown"
    assert (
        f"Secret {namespace}/regcred (spec.model.oci.credentialsSecretRef) not found"
        in cert["message"]
    )
    assert [d async for d in kube_client.list(Deployment, namespace=namespace)] == []

    await put_registry_secret(kube_client, namespace, oci_token_registry, "alice", "s3cret")
    model = await model_when(kube_client, "digits", ready, within=90)
    assert condition(model, "CertificateValid")["reason"] == "Valid"
    pod = (
        await kube_client.get(Deployment, "digits-v1-0-0", namespace=namespace)
    ).spec.template.spec
    env = {e.name: e for e in pod.containers[0].env}
    assert env["AXIOM_MODEL_URI"].value == uri
    ref = env["AXIOM_OCI_DOCKER_CONFIG_JSON"].valueFrom.secretKeyRef
    assert (ref.name, ref.key, env["AXIOM_OCI_DOCKER_CONFIG_JSON"].value) == (
        "regcred",
        ".dockerconfigjson",
        None,
    )
    assert not pod.imagePullSecrets


async def test_credentials_the_registry_refuses_name_the_secret_and_the_registry(
    kube_client: AsyncClient,
    namespace: str,
    operator_runner: Any,
    oci_token_registry: OciRegistry,
    tmp_path: Path,
) -> None:
    await put_registry_secret(kube_client, namespace, oci_token_registry, "alice", "wrong")
    await oci_model(kube_client, namespace, oci_token_registry, tmp_path)
    model = await model_when(kube_client, "digits", reason_is("OciUnauthorized"), within=30)
    cert = condition(model, "CertificateValid")
    assert cert["status"] == "Unknown"
    assert f"of registry {oci_token_registry.host} answered HTTP 401 as alice" in cert["message"]
    assert f"Secret {namespace}/regcred" in cert["message"] and "wrong" not in cert["message"]
    assert [d async for d in kube_client.list(Deployment, namespace=namespace)] == []


async def test_a_secret_without_the_registry_is_credentials_not_found(
    kube_client: AsyncClient,
    namespace: str,
    operator_runner: Any,
    oci_token_registry: OciRegistry,
    oci_basic_registry: OciRegistry,
    tmp_path: Path,
) -> None:
    await put_registry_secret(kube_client, namespace, oci_basic_registry, "alice", "s3cret")
    await oci_model(kube_client, namespace, oci_token_registry, tmp_path)
    model = await model_when(kube_client, "digits", reason_is("OciCredentialsNotFound"), within=30)
    message = condition(model, "CertificateValid")["message"]
    assert f"no credentials for registry {oci_token_registry.host}" in message
    assert f"(has: {oci_basic_registry.host})" in message


async def test_image_volume_delivery_mounts_the_image_and_passes_the_pull_secret(
    kube_client: AsyncClient,
    namespace: str,
    operator_runner: Any,
    oci_token_registry: OciRegistry,
    tmp_path: Path,
) -> None:
    await put_registry_secret(kube_client, namespace, oci_token_registry, "alice", "s3cret")
    uri = await oci_model(kube_client, namespace, oci_token_registry, tmp_path, image_volume=True)
    model = await model_when(kube_client, "digits", ready, within=90)
    assert condition(model, "CertificateValid")["reason"] == "Valid"  # the tar member was hashed
    pod = (
        await kube_client.get(Deployment, "digits-v1-0-0", namespace=namespace)
    ).spec.template.spec
    digest = uri.split("@", 1)[1]
    volume = next(v for v in pod.volumes if v.name == "model")
    assert volume.image.reference == f"{oci_token_registry.host}/{namespace}/digits@{digest}"
    assert volume.image.pullPolicy == "IfNotPresent"
    assert [s.name for s in pod.imagePullSecrets] == ["regcred"]
    env = {e.name: e.value for e in pod.containers[0].env}
    assert env["AXIOM_MODEL_URI"] == "file:///etc/axiom/model-image/model.axiom"
    assert "AXIOM_OCI_DOCKER_CONFIG_JSON" not in env and "AXIOM_DOWNLOAD_DIR" not in env
    mount = next(m for m in pod.containers[0].volumeMounts if m.name == "model")
    assert (mount.mountPath, mount.readOnly) == ("/etc/axiom/model-image", True)
