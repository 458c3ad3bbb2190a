"""OpenSSF Model Signing bundles as a version's signature, through the real apiserver.

The bundle is written by the ``model_signing`` command itself; the operator verifies it
offline against the P-256 key in the trusted-keys Secret (next to the Ed25519 keys of the
property certificates), and the pods are told the format.
"""

from __future__ import annotations

import base64
import hashlib
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
    KEY_ID,
    OTHER_KEY,
    SIGNING_KEY,
    certificate,
    condition,
    model_when,
    package,
    put_package,
)

from axiom_operator.kube import AxiomModelResource
from axiom_runtime.certificate import certificate_json
from axiom_runtime.certificate.oms_testing import ec_key_files
from axiom_runtime.keys import public_key_pem

MODEL_SIGNING = Path(sys.executable).with_name("model_signing")
pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not MODEL_SIGNING.exists(), reason="model_signing not installed"),
]


def model_signing_bundle(data: bytes, private_key: Path, directory: Path) -> bytes:
    model = directory / "digits-1.0.0.axiom"
    model.write_bytes(data)
    bundle = directory / "digits-1.0.0.sig"
    done = subprocess.run(
        [str(MODEL_SIGNING), "sign", "key", str(model), "--private_key", str(private_key),
         "--signature", str(bundle)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return bundle.read_bytes()


async def deploy_with_bundle(
    client: AsyncClient, namespace: str, tmp_path: Path, *, signed: bytes, served: bytes,
    trusted_pem: bytes, property_certificate: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    keys = ec_key_files(tmp_path / "keys")
    bundle = model_signing_bundle(signed, keys.private_key, tmp_path)
    await client.create(
        Secret(
            metadata=ObjectMeta(name="axiom-trusted-keys", namespace=namespace),
            stringData={
                KEY_ID: public_key_pem(SIGNING_KEY.public_key()).decode(),  # Ed25519, kept
                "team-p256": (trusted_pem or keys.public_key.read_bytes()).decode(),
            },
        )
    )
    await client.create(
        Secret(
            metadata=ObjectMeta(name="digits-1-0-0-sig", namespace=namespace),
            data={
                "model.sig": base64.b64encode(bundle).decode(),
                **(
                    {
                        "certificate.json": base64.b64encode(
                            certificate_json(property_certificate).encode()
                        ).decode()
                    }
                    if property_certificate is not None
                    else {}
                ),
            },
        )
    )
    await put_package(client, namespace, "digits-1-0-0", served)
    manifest: dict[str, Any] = {
        "apiVersion": "axiom.dev/v1alpha1",
        "kind": "AxiomModel",
        "metadata": {"name": "digits", "namespace": namespace},
        "spec": {
            "version": "1.0.0",
            "model": {
                "uri": "configmap://digits-1-0-0/model.axiom",
                "sha256": hashlib.sha256(served).hexdigest(),
            },
            "certificate": (
                {"format": "OMS", "secretRef": {"name": "digits-1-0-0-sig", "key": "model.sig"}}
                if property_certificate is None
                else {"format": "AxiomAndOMS", "secretRef": {"name": "digits-1-0-0-sig"}}
            ),
            "runtime": {"image": "axiom-runtime:test"},
        },
    }
    await client.create(AxiomModelResource.from_dict(manifest))


async def test_a_model_signing_bundle_is_accepted_and_the_pods_told_its_format(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, tmp_path: Path
) -> None:
    data = package("digits", "1.0.0")
    await deploy_with_bundle(
        kube_client, namespace, tmp_path, signed=data, served=data, trusted_pem=b""
    )
    model = await model_when(
        kube_client, "digits", lambda m: condition(m, "Ready").get("status") == "True", within=90
    )
    assert condition(model, "CertificateValid")["reason"] == "Valid"
    assert "OMS bundle signed by team-p256" in condition(model, "CertificateValid")["message"]
    pod = (await kube_client.get(Deployment, "digits-v1-0-0")).spec.template.spec
    env = {e.name: e.value for e in pod.containers[0].env}
    assert env["AXIOM_CERTIFICATE_FORMAT"] == "oms"
    assert env["AXIOM_CERTIFICATE"] == "/etc/axiom/certificate/model.sig"


async def test_a_bundle_of_other_bytes_is_refused(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, tmp_path: Path
) -> None:
    await deploy_with_bundle(
        kube_client,
        namespace,
        tmp_path,
        signed=package("digits", "1.0.0", seed=3),
        served=package("digits", "1.0.0"),
        trusted_pem=b"",
    )
    model = await model_when(
        kube_client,
        "digits",
        lambda m: condition(m, "CertificateValid").get("reason") == "OmsHashMismatch",
        within=30,
    )
    assert condition(model, "CertificateValid")["status"] == "False"
    assert [d async for d in kube_client.list(Deployment)] == []


async def test_a_bundle_by_an_untrusted_key_is_refused(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, tmp_path: Path
) -> None:
    data = package("digits", "1.0.0")
    stranger = ec_key_files(tmp_path / "stranger", "stranger")
    await deploy_with_bundle(
        kube_client,
        namespace,
        tmp_path,
        signed=data,
        served=data,
        trusted_pem=stranger.public_key.read_bytes(),
    )
    model = await model_when(
        kube_client,
        "digits",
        lambda m: condition(m, "CertificateValid").get("reason") == "OmsUnknownKey",
        within=30,
    )
    assert [d async for d in kube_client.list(Deployment)] == []
    assert condition(model, "CertificateValid")["status"] == "False"


async def test_with_a_property_certificate_both_are_mounted_and_both_must_pass(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, tmp_path: Path
) -> None:
    data = package("digits", "1.0.0")
    await deploy_with_bundle(
        kube_client, namespace, tmp_path, signed=data, served=data, trusted_pem=b"",
        property_certificate=certificate(data),
    )  # fmt: skip
    model = await model_when(
        kube_client, "digits", lambda m: condition(m, "Ready").get("status") == "True", within=90
    )
    assert condition(model, "CertificateValid")["reason"] == "Valid"
    pod = (await kube_client.get(Deployment, "digits-v1-0-0")).spec.template.spec
    env = {e.name: e.value for e in pod.containers[0].env}
    assert env["AXIOM_CERTIFICATE"] == "/etc/axiom/certificate/certificate.json"
    assert env["AXIOM_OMS_BUNDLE"] == "/etc/axiom/certificate/model.sig"
    assert "AXIOM_CERTIFICATE_FORMAT" not in env  # the runtime's default, axiom
    volume = next(v for v in pod.volumes if v.name == "certificate")
    assert sorted(item.key for item in volume.secret.items) == ["certificate.json", "model.sig"]


async def test_a_published_package_whose_property_certificate_fails_is_refused(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, tmp_path: Path
) -> None:
    data = package("digits", "1.0.0")
    await deploy_with_bundle(
        kube_client, namespace, tmp_path, signed=data, served=data, trusted_pem=b"",
        property_certificate=certificate(data, key=OTHER_KEY, key_id="untrusted-key"),
    )  # fmt: skip
    model = await model_when(
        kube_client,
        "digits",
        lambda m: condition(m, "CertificateValid").get("reason") == "UnknownKey",
        within=30,
    )
    assert condition(model, "CertificateValid")["status"] == "False"
    assert [d async for d in kube_client.list(Deployment)] == []
