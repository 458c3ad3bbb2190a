"""End to end: runtime pods on the node agent load their package from S3 and from an OCI
registry (real servers on 127.0.0.1) and verify an OpenSSF Model Signing bundle beside the
property certificate, then serve through the model's Service.

pvc:// is not here: the node agent has no PersistentVolumeClaim volumes (its volumes are
configMap, secret, projected, downwardAPI, emptyDir, hostPath), so that source stops at the
pod spec (tests/integration/test_model_sources.py).
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ModelWorld, sample

from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.manifests import MODEL_NAME, ExampleVersion
from axiom_devcluster.demo.operator_process import OperatorProcess
from axiom_devcluster.demo.traffic import predict
from axiom_devcluster.storage_servers import OciRegistry, S3Server
from axiom_runtime.certificate.oms_testing import ec_key_files

pytestmark = [pytest.mark.e2e, pytest.mark.agent, pytest.mark.timeout(180)]
MODEL_SIGNING = Path(sys.executable).with_name("model_signing")


def secret(namespace: str, name: str, entries: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value).decode() for key, value in entries.items()},
    }


def serves_version_one(world: ModelWorld) -> None:
    model = world.wait_ready(timeout=120)
    assert model["status"]["stableVersion"] == "1.0.0"
    answer = predict(world.service_url(), sample(3))
    assert answer.status == 200 and answer.version == "1.0.0" and answer.predicted_class == 3


def test_pods_download_the_package_from_s3(
    world: ModelWorld, operator: OperatorProcess, s3_server: S3Server
) -> None:
    example = ExampleVersion.of("1.0.0")
    uri = s3_server.put_file("models", f"{world.namespace}/digits-1.0.0.axiom", example.package)
    world.apply(
        secret(
            world.namespace,
            "s3-creds",
            {
                "AWS_ACCESS_KEY_ID": s3_server.access_key_id.encode(),
                "AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key.encode(),
            },
        ),
        manifests.certificate_secret(
            example.certificate_secret, world.namespace, example.certificate.read_bytes()
        ),
    )
    model = manifests.axiom_model(world.namespace, "1.0.0", example.sha256, package_uri=uri)
    model["spec"]["model"]["s3"] = {
        "endpoint": s3_server.endpoint,
        "credentialsSecretRef": {"name": "s3-creds"},
    }
    world.apply(model)
    serves_version_one(world)


def test_pods_pull_the_package_from_an_oci_registry(
    world: ModelWorld, operator: OperatorProcess, oci_registry: OciRegistry
) -> None:
    example = ExampleVersion.of("1.0.0")
    pushed = subprocess.run(
        [sys.executable, "-m", "axiom_runtime.cli", "model", "push", str(example.package),
         f"oci://{oci_registry.host}/{world.namespace}/{MODEL_NAME}:1.0.0"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout.strip()  # fmt: skip
    world.apply(
        manifests.certificate_secret(
            example.certificate_secret, world.namespace, example.certificate.read_bytes()
        ),
        manifests.axiom_model(world.namespace, "1.0.0", example.sha256, package_uri=pushed),
    )
    serves_version_one(world)


@pytest.mark.skipif(not MODEL_SIGNING.exists(), reason="model_signing not installed")
def test_pods_verify_an_oms_bundle_and_the_property_certificate(
    world: ModelWorld, operator: OperatorProcess, tmp_path: Path
) -> None:
    example = ExampleVersion.of("1.0.0")
    keys = ec_key_files(tmp_path)
    bundle = tmp_path / "digits-1.0.0.sig"
    subprocess.run(
        [str(MODEL_SIGNING), "sign", "key", str(example.package), "--private_key",
         str(keys.private_key), "--signature", str(bundle)],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    trusted = {
        path.name: path.read_bytes()
        for path in sorted(manifests.TRUSTED_KEYS_DIR.iterdir())
        if path.is_file()
    }
    trusted["publisher-p256"] = keys.public_key.read_bytes()
    world.apply(
        secret(world.namespace, manifests.TRUSTED_KEYS_SECRET, trusted),
        secret(
            world.namespace,
            example.certificate_secret,
            {
                "certificate.json": example.certificate.read_bytes(),
                "model.sig": bundle.read_bytes(),
            },
        ),
        manifests.package_configmap(
            example.package_configmap, world.namespace, example.package.read_bytes()
        ),
    )
    model = manifests.axiom_model(world.namespace, "1.0.0", example.sha256)
    model["spec"]["certificate"]["format"] = "AxiomAndOMS"
    world.apply(model)
    serves_version_one(world)
    pods = world.items("pods", "axiom.dev/version=1.0.0")
    env = {e["name"]: e.get("value") for e in pods[0]["spec"]["containers"][0]["env"]}
    assert env["AXIOM_OMS_BUNDLE"] == "/etc/axiom/certificate/model.sig"
