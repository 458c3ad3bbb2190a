"""End to end: only verified packages serve, and a verified one serves through its Service.

The operator refuses a version whose package or certificate does not verify before it
creates anything that runs (no Deployment, no Pod: the scheduler never saw one); and the
runtime, the second line, refuses readiness when the package it finds mounted is not the one
its certificate and spec name.
"""

from __future__ import annotations

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from e2e_support import ModelWorld, get_json, sample, tampered, wait_until

from axiom_devcluster.demo.manifests import MODEL_NAME, ExampleVersion
from axiom_devcluster.demo.operator_process import OperatorProcess
from axiom_devcluster.demo.traffic import predict
from axiom_runtime.certificate import certificate_json, sign_document

pytestmark = [pytest.mark.e2e, pytest.mark.agent, pytest.mark.timeout(150)]


def test_first_version_serves_through_the_model_service(
    world: ModelWorld, operator: OperatorProcess
) -> None:
    world.publish("1.0.0")
    world.apply_model("1.0.0")
    model = world.wait_ready()

    assert model["status"]["stableVersion"] == "1.0.0"
    url = world.service_url()
    for label in (0, 3, 7):
        answer = predict(url, sample(label))
        assert answer.status == 200
        assert answer.version == "1.0.0"
        assert answer.predicted_class == label
        assert answer.confidence is not None and answer.confidence > 0.5


def _unknown_signer(document: dict[str, object]) -> bytes:
    key = Ed25519PrivateKey.generate()
    return certificate_json(sign_document(document, key, "someone-else")).encode()


def _edited_after_signing(document: dict[str, object]) -> bytes:
    metadata = dict(document["metadata"])  # type: ignore[call-overload]
    metadata["issuer"] = "someone else"
    return json.dumps({**document, "metadata": metadata}).encode()


@pytest.mark.parametrize(
    ("what", "expected_reason"),
    [
        ("package bytes changed", "HashMismatch"),
        ("certificate edited after signing", "BadSignature"),
        ("certificate signed by an untrusted key", "UnknownKey"),
    ],
)
def test_tampered_model_is_rejected_before_any_pod_starts(
    world: ModelWorld, operator: OperatorProcess, what: str, expected_reason: str
) -> None:
    genuine = ExampleVersion.of("1.0.0")
    document = json.loads(genuine.certificate.read_bytes())
    package, certificate = None, None
    if what == "package bytes changed":
        package = tampered(genuine.package.read_bytes())
    elif what == "certificate edited after signing":
        certificate = _edited_after_signing(document)
    else:
        certificate = _unknown_signer(document)
    world.publish("1.0.0", package=package, certificate=certificate)
    world.apply_model("1.0.0")

    refused = wait_until(
        lambda: (lambda c: c if c.get("status") == "False" else None)(
            world.condition("CertificateValid")
        ),
        what="CertificateValid=False",
        timeout=60,
    )
    assert refused["reason"] == expected_reason, refused
    # Give a wrong operator the time to create something anyway, then look for any trace.
    time.sleep(3)
    assert world.condition("Ready")["status"] == "False"
    assert world.items("deployments") == []
    assert world.items("replicasets") == []
    assert world.items("pods") == []
    # The scheduler posts an Event for every pod it ever bound: none may exist.
    assert world.events(**{"involvedObject.kind": "Pod"}) == []
    warnings = [
        e for e in world.events(**{"involvedObject.name": MODEL_NAME}) if e["type"] == "Warning"
    ]
    assert any(expected_reason in (e["reason"] + e["message"]) for e in warnings), warnings


def test_runtime_refuses_readiness_when_the_mounted_package_does_not_match(
    world: ModelWorld, operator: OperatorProcess
) -> None:
    world.publish("1.0.0")
    world.apply_model("1.0.0")
    world.wait_ready()
    [first_pod] = world.items("pods", f"axiom.dev/model={MODEL_NAME}")

    # Someone swaps another genuine package (3.0.0's bytes) into 1.0.0's ConfigMap, then
    # the pod is replaced: the new pod mounts bytes that are not the ones the spec and the
    # certificate name.
    other = ExampleVersion.of("3.0.0").package.read_bytes()
    world.publish("1.0.0", package=other)
    world.kubectl.run("delete", "pod", first_pod["metadata"]["name"], "--wait=false")

    def replacement_running() -> dict[str, object] | None:
        for pod in world.items("pods", f"axiom.dev/model={MODEL_NAME}"):
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            if (
                pod["metadata"]["name"] != first_pod["metadata"]["name"]
                and pod["status"].get("podIP")
                and statuses
                and "running" in statuses[0].get("state", {})
            ):
                return pod
        return None

    pod = wait_until(replacement_running, what="replacement pod running", timeout=60)
    ip = pod["status"]["podIP"]  # type: ignore[index]
    code, document = wait_until(
        lambda: (lambda r: r if r[0] in (200, 503) else None)(get_json(f"http://{ip}:8080/ready")),
        what="the replacement's /ready answering",
        timeout=30,
    )
    assert code == 503, document
    assert document["ready"] is False
    assert "sha256" in json.dumps(document).lower() or "hash" in json.dumps(document).lower()
    # And it stays that way: the kubelet-side readiness never turns True.
    time.sleep(6)
    current = world.kubectl.json("get", "pod", pod["metadata"]["name"])  # type: ignore[index]
    ready = [c for c in current["status"].get("conditions", []) if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "False", current["status"]
