"""Model sources beyond ConfigMaps, with a real control plane and real servers.

oci://: ``axiom model push`` puts the package into a real registry (distribution); the
operator checks the manifest of the pinned digest names the package's sha256 as its layer.
s3://: the operator reads the credentials Secret the pods get, streams the package from a
real S3 server (versitygw on 127.0.0.1) hashing it as it goes, and gates the version on
that hash; the Deployment passes the credentials as Secret references only. pvc://: the
claim is mounted read-only and the runtime is pointed at the file in it. The CRD itself
refuses source settings that do not fit the scheme.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
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
    wait_for,
)

from axiom_devcluster.storage_servers import OciRegistry, S3Server
from axiom_operator.kube import AxiomModelResource

pytestmark = pytest.mark.timeout(180)


def ready(model: dict[str, Any]) -> bool:
    return condition(model, "Ready").get("status") == "True"


def reason_is(reason: str) -> Any:
    return lambda m: condition(m, "CertificateValid").get("reason") == reason


async def put_s3_credentials(
    client: AsyncClient, namespace: str, s3: S3Server, *, secret_key: str | None = None
) -> None:
    await client.create(
        Secret(
            metadata=ObjectMeta(name="s3-creds", namespace=namespace),
            stringData={
                "AWS_ACCESS_KEY_ID": s3.access_key_id,
                "AWS_SECRET_ACCESS_KEY": secret_key or s3.secret_access_key,
            },
        )
    )


async def s3_model(
    client: AsyncClient, namespace: str, s3: S3Server, *, stored: bytes | None = None
) -> str:
    """digits 1.0.0 at s3://models/<namespace>/digits-1.0.0.axiom; its certificate Secret."""
    data = package("digits", "1.0.0")
    uri = s3.put_bytes("models", f"{namespace}/digits-1.0.0.axiom", stored or data)
    await put_trusted_keys(client, namespace)
    await put_certificate(client, namespace, "digits-1-0-0-cert", certificate(data))
    manifest = model_manifest(
        "digits", namespace, "1.0.0", hashlib.sha256(data).hexdigest(), "digits-1-0-0-cert"
    )
    manifest["spec"]["model"].update(
        uri=uri,
        s3={"endpoint": s3.endpoint, "credentialsSecretRef": {"name": "s3-creds"}},
    )
    await client.create(AxiomModelResource.from_dict(manifest))
    return uri


async def test_s3_package_is_hashed_by_the_operator_and_deployed(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, s3_server: S3Server
) -> None:
    await put_s3_credentials(kube_client, namespace, s3_server)
    uri = await s3_model(kube_client, namespace, s3_server)
    model = await model_when(kube_client, "digits", ready, within=90)
    assert condition(model, "CertificateValid")["reason"] == "Valid"
    deployment = await kube_client.get(Deployment, "digits-v1-0-0")
    container = deployment.spec.template.spec.containers[0]
    env = {e.name: e for e in container.env}
    assert env["AXIOM_MODEL_URI"].value == uri
    assert env["AXIOM_S3_ENDPOINT"].value == s3_server.endpoint
    secret_ref = env["AWS_SECRET_ACCESS_KEY"].valueFrom.secretKeyRef
    assert (secret_ref.name, secret_ref.key) == ("s3-creds", "AWS_SECRET_ACCESS_KEY")
    assert env["AWS_SECRET_ACCESS_KEY"].value is None  # never the secret itself


async def test_s3_bytes_that_do_not_match_the_spec_are_refused(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, s3_server: S3Server
) -> None:
    await put_s3_credentials(kube_client, namespace, s3_server)
    uri = await s3_model(
        kube_client, namespace, s3_server, stored=package("digits", "1.0.0", seed=7)
    )
    model = await model_when(kube_client, "digits", reason_is("HashMismatch"), within=30)
    assert f"package bytes at {uri} hash to" in condition(model, "CertificateValid")["message"]
    assert [d async for d in kube_client.list(Deployment)] == []


async def test_missing_credentials_wait_and_then_deploy(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, s3_server: S3Server
) -> None:
    await s3_model(kube_client, namespace, s3_server)
    model = await model_when(kube_client, "digits", reason_is("S3CredentialsNotFound"), within=30)
    assert condition(model, "CertificateValid")["status"] == "Unknown"
    assert (
        f"Secret {namespace}/s3-creds not found" in condition(model, "CertificateValid")["message"]
    )
    assert [d async for d in kube_client.list(Deployment)] == []
    await put_s3_credentials(kube_client, namespace, s3_server)
    await model_when(kube_client, "digits", ready, within=90)


async def test_credentials_the_server_refuses_are_reported_with_its_error_code(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, s3_server: S3Server
) -> None:
    await put_s3_credentials(kube_client, namespace, s3_server, secret_key="wrong")
    await s3_model(kube_client, namespace, s3_server)
    model = await model_when(kube_client, "digits", reason_is("PackageUnavailable"), within=30)
    message = condition(model, "CertificateValid")["message"]
    assert "HTTP 403" in message and "SignatureDoesNotMatch" in message
    assert "wrong" not in message
    assert [d async for d in kube_client.list(Deployment)] == []


async def test_pvc_package_is_mounted_read_only(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    data = package("digits", "1.0.0")
    await put_trusted_keys(kube_client, namespace)
    await put_certificate(kube_client, namespace, "digits-1-0-0-cert", certificate(data))
    manifest = model_manifest(
        "digits", namespace, "1.0.0", hashlib.sha256(data).hexdigest(), "digits-1-0-0-cert"
    )
    manifest["spec"]["model"]["uri"] = "pvc://model-store/team/digits-1.0.0.axiom"
    await kube_client.create(AxiomModelResource.from_dict(manifest))
    # The claim does not exist here, so the pods stay Pending (the scheduler waits for it):
    # what this pins is the certificate verdict and the pod spec the operator writes.
    model = await model_when(kube_client, "digits", reason_is("Valid"), within=30)
    assert condition(model, "CertificateValid")["status"] == "True"
    deployment = await wait_for(
        lambda: kube_client.get(Deployment, "digits-v1-0-0"), within=30, what="Deployment"
    )
    pod = deployment.spec.template.spec
    volume = next(v for v in pod.volumes if v.name == "model")
    assert volume.persistentVolumeClaim.claimName == "model-store"
    assert volume.persistentVolumeClaim.readOnly is True
    mount = next(m for m in pod.containers[0].volumeMounts if m.name == "model")
    assert (mount.mountPath, mount.readOnly) == ("/etc/axiom/model-pvc", True)
    env = {e.name: e.value for e in pod.containers[0].env}
    assert env["AXIOM_MODEL_URI"] == "/etc/axiom/model-pvc/team/digits-1.0.0.axiom"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"uri": "s3://models/m.axiom"}, "model.s3 (endpoint, credentialsSecretRef) is required"),
        (
            {
                "uri": "https://models.example/m.axiom",
                "s3": {"endpoint": "http://127.0.0.1:9", "credentialsSecretRef": {"name": "c"}},
            },
            "allowed only with one",
        ),
        ({"uri": "pvc://store/../etc/m.axiom"}, "must not contain '..' segments"),
        (
            {"uri": "https://models.example/m.axiom", "oci": {"plainHttp": True}},
            "model.oci is allowed only with an oci:// uri",
        ),
    ],
)
async def test_the_crd_refuses_source_settings_that_do_not_fit_the_scheme(
    kube_client: AsyncClient,
    namespace: str,
    axiom_crds: list[str],
    model: dict[str, Any],
    message: str,
) -> None:
    manifest = model_manifest("digits", namespace, "1.0.0", "a" * 64, "cert")
    manifest["spec"]["model"] = {"sha256": "a" * 64, **model}
    with pytest.raises(ApiError) as refused:
        await kube_client.create(AxiomModelResource.from_dict(manifest))
    assert message in str(refused.value.status.message)


async def oci_model(
    client: AsyncClient, namespace: str, registry: OciRegistry, tmp_path: Path, *, pushed: bytes
) -> str:
    """digits 1.0.0 signed for package(seed 0), ``pushed`` bytes in the registry."""
    data = package("digits", "1.0.0")
    source = tmp_path / "digits-1.0.0.axiom"
    source.write_bytes(pushed)
    done = subprocess.run(  # noqa: ASYNC221 -- the push is the test's setup
        [sys.executable, "-m", "axiom_runtime.cli", "model", "push", str(source),
         f"oci://{registry.host}/{namespace}/digits:1.0.0"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    uri = done.stdout.strip()
    await put_trusted_keys(client, namespace)
    await put_certificate(client, namespace, "digits-1-0-0-cert", certificate(data))
    manifest = model_manifest(
        "digits", namespace, "1.0.0", hashlib.sha256(data).hexdigest(), "digits-1-0-0-cert"
    )
    manifest["spec"]["model"]["uri"] = uri
    await client.create(AxiomModelResource.from_dict(manifest))
    return uri


async def test_oci_package_is_checked_by_its_manifest_and_deployed(
    kube_client: AsyncClient,
    namespace: str,
    operator_runner: Any,
    oci_registry: OciRegistry,
    tmp_path: Path,
) -> None:
    uri = await oci_model(
        kube_client, namespace, oci_registry, tmp_path, pushed=package("digits", "1.0.0")
    )
    model = await model_when(kube_client, "digits", ready, within=90)
    assert condition(model, "CertificateValid")["reason"] == "Valid"
    pod = (await kube_client.get(Deployment, "digits-v1-0-0")).spec.template.spec
    assert {e.name: e.value for e in pod.containers[0].env}["AXIOM_MODEL_URI"] == uri


async def test_oci_artifact_of_other_bytes_is_refused(
    kube_client: AsyncClient,
    namespace: str,
    operator_runner: Any,
    oci_registry: OciRegistry,
    tmp_path: Path,
) -> None:
    uri = await oci_model(
        kube_client, namespace, oci_registry, tmp_path, pushed=package("digits", "1.0.0", seed=4)
    )
    model = await model_when(kube_client, "digits", reason_is("HashMismatch"), within=30)
    assert f"package bytes at {uri} hash to" in condition(model, "CertificateValid")["message"]
    assert [d async for d in kube_client.list(Deployment)] == []


async def test_oci_digest_the_registry_does_not_have_is_unavailable(
    kube_client: AsyncClient,
    namespace: str,
    operator_runner: Any,
    oci_registry: OciRegistry,
) -> None:
    data = package("digits", "1.0.0")
    await put_trusted_keys(kube_client, namespace)
    await put_certificate(kube_client, namespace, "digits-1-0-0-cert", certificate(data))
    manifest = model_manifest(
        "digits", namespace, "1.0.0", hashlib.sha256(data).hexdigest(), "digits-1-0-0-cert"
    )
    manifest["spec"]["model"]["uri"] = (
        f"oci://{oci_registry.host}/{namespace}/nothing@sha256:{'0' * 64}"
    )
    await kube_client.create(AxiomModelResource.from_dict(manifest))
    model = await model_when(kube_client, "digits", reason_is("PackageUnavailable"), within=30)
    assert "manifest: HTTP 404" in condition(model, "CertificateValid")["message"]
