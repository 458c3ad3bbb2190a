"""The certificate gate with real, really tampered certificates: every failure reason blocks
the change (Enforce), is reported in CertificateValid and a Warning Event, and the version
already serving keeps serving. Audit deploys but reports."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Secret, Service
from lightkube.types import PatchType
from operator_support import (
    OTHER_KEY,
    certificate,
    condition,
    deploy_version,
    events_for,
    model_manifest,
    model_when,
    package,
    put_trusted_keys,
    resigned,
    tampered_after_signing,
    wait_for,
)

from axiom_operator.kube import AxiomModelResource
from axiom_runtime.keys import public_key_pem

pytestmark = pytest.mark.timeout(180)
NOW = datetime.now(UTC).replace(microsecond=0)

# reason -> (certificate for version 2.0.0 given the good package bytes, package bytes override)
CertFactory = Callable[[bytes], dict[str, Any] | str]
CASES: dict[str, CertFactory] = {
    "BadSignature": lambda data: tampered_after_signing(certificate(data)),
    "UnknownKey": lambda data: certificate(data, key=OTHER_KEY, key_id="untrusted-key"),
    "Expired": lambda data: certificate(
        data, created_at=NOW - timedelta(days=3), expires_at=NOW - timedelta(days=1)
    ),
    "NotYetValid": lambda data: certificate(
        data, created_at=NOW + timedelta(days=1), expires_at=NOW + timedelta(days=3)
    ),
    "HashMismatch": lambda data: certificate(package("digits", "2.0.0", seed=99)),
    "NameMismatch": lambda data: resigned(certificate(data), name="someone-else"),
    "VersionMismatch": lambda data: resigned(certificate(data), version="9.9.9"),
    "Malformed": lambda data: "{not json",
    "UnknownFormat": lambda data: resigned({**certificate(data), "format": "another-format"}),
}


def ready(model: dict[str, Any]) -> bool:
    return condition(model, "Ready").get("status") == "True"


async def start_serving_v1(client: AsyncClient, namespace: str) -> None:
    await put_trusted_keys(client, namespace)
    sha, secret = await deploy_version(client, namespace, "digits", "1.0.0")
    await client.create(
        AxiomModelResource.from_dict(model_manifest("digits", namespace, "1.0.0", sha, secret))
    )
    await model_when(client, "digits", ready, within=90)


async def change_to(
    client: AsyncClient, sha: str, secret: str, version: str = "2.0.0", **extra: Any
) -> None:
    certificate_spec = {"secretRef": {"name": secret}, **extra}
    await client.patch(
        AxiomModelResource,
        "digits",
        {
            "spec": {
                "version": version,
                "model": {
                    "uri": f"configmap://digits-{version.replace('.', '-')}/model.axiom",
                    "sha256": sha,
                },
                "certificate": certificate_spec,
            }
        },
        patch_type=PatchType.MERGE,
    )


@pytest.mark.parametrize("reason", sorted(CASES))
async def test_failure_blocks_the_change_and_previous_version_keeps_serving(
    kube_client: AsyncClient, namespace: str, operator_runner: Any, reason: str
) -> None:
    await start_serving_v1(kube_client, namespace)
    v1 = await kube_client.get(Deployment, "digits-v1-0-0")
    data = package("digits", "2.0.0")
    sha, secret = await deploy_version(
        kube_client, namespace, "digits", "2.0.0", cert=CASES[reason](data), data=data
    )
    await change_to(kube_client, sha, secret)

    model = await model_when(
        kube_client,
        "digits",
        lambda m: condition(m, "CertificateValid").get("reason") == reason,
        within=30,
    )
    assert condition(model, "CertificateValid")["status"] == "False"
    assert model["status"]["phase"] == "Blocked"
    assert model["status"]["stableVersion"] == "1.0.0"
    assert "version 1.0.0 keeps serving" in condition(model, "Ready")["message"]
    deployments = [d.metadata.name async for d in kube_client.list(Deployment)]
    assert deployments == ["digits-v1-0-0"]
    assert (
        await kube_client.get(Deployment, "digits-v1-0-0")
    ).metadata.resourceVersion == v1.metadata.resourceVersion
    service = await kube_client.get(Service, "digits")
    assert (service.spec.selector or {})["axiom.dev/version"] == "1.0.0"
    events = await wait_for(
        lambda: _warning(kube_client, f"Certificate{reason}"), within=10, what="Warning Event"
    )
    assert events


async def _warning(client: AsyncClient, reason: str) -> list[tuple[str, str, str]]:
    return [e for e in await events_for(client, "digits") if e[0] == "Warning" and e[1] == reason]


async def test_package_bytes_that_do_not_match_the_spec_hash_are_refused(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    """Certificate and spec agree, but the ConfigMap holds other bytes: the operator hashes them."""
    await start_serving_v1(kube_client, namespace)
    good = package("digits", "2.0.0")
    _, secret = await deploy_version(
        kube_client,
        namespace,
        "digits",
        "2.0.0",
        cert=certificate(good),
        data=package("digits", "2.0.0", seed=5),
    )
    await change_to(kube_client, hashlib.sha256(good).hexdigest(), secret)
    model = await model_when(
        kube_client,
        "digits",
        lambda m: condition(m, "CertificateValid").get("reason") == "HashMismatch",
        within=30,
    )
    assert (
        "package bytes at configmap://digits-2-0-0/model.axiom hash to"
        in condition(model, "CertificateValid")["message"]
    )


async def test_missing_certificate_secret_is_reported_and_nothing_is_created(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    await put_trusted_keys(kube_client, namespace)
    manifest = model_manifest("digits", namespace, "1.0.0", "a" * 64, "no-such-secret")
    await kube_client.create(AxiomModelResource.from_dict(manifest))
    model = await model_when(
        kube_client,
        "digits",
        lambda m: condition(m, "CertificateValid").get("reason") == "CertificateNotFound",
        within=30,
    )
    assert condition(model, "CertificateValid")["status"] == "Unknown"
    assert [d async for d in kube_client.list(Deployment)] == []


async def test_audit_policy_deploys_but_reports_the_failure(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    await start_serving_v1(kube_client, namespace)
    data = package("digits", "2.0.0")
    sha, secret = await deploy_version(
        kube_client,
        namespace,
        "digits",
        "2.0.0",
        cert=certificate(data, key=OTHER_KEY, key_id="untrusted-key"),
        data=data,
    )
    await change_to(kube_client, sha, secret, policy="Audit")
    model = await model_when(
        kube_client,
        "digits",
        lambda m: (m.get("status") or {}).get("stableVersion") == "2.0.0",
        within=90,
    )
    assert condition(model, "CertificateValid")["reason"] == "UnknownKey"
    assert await _warning(kube_client, "CertificateUnknownKey")


async def _serving_v1_with(client: AsyncClient, namespace: str, cert: dict[str, Any]) -> None:
    await put_trusted_keys(client, namespace)
    data = package("digits", "1.0.0")
    sha, secret = await deploy_version(client, namespace, "digits", "1.0.0", cert=cert, data=data)
    await client.create(
        AxiomModelResource.from_dict(model_manifest("digits", namespace, "1.0.0", sha, secret))
    )


async def test_a_certificate_near_its_expiry_is_reported_and_the_model_serves_on(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    cert = certificate(package("digits", "1.0.0"), expires_at=now + timedelta(days=2))
    await _serving_v1_with(kube_client, namespace, cert)
    model = await model_when(kube_client, "digits", ready, within=90)
    valid = condition(model, "CertificateValid")
    assert (valid["status"], valid["reason"]) == ("True", "ExpiresSoon")
    assert "re-sign" in valid["message"]
    assert await wait_for(
        lambda: _warning(kube_client, "CertificateExpiresSoon"), within=10, what="Warning Event"
    )


async def test_an_expiry_is_noticed_when_it_happens_and_touches_nothing(
    kube_client: AsyncClient, namespace: str, start_operator: Any
) -> None:
    """No resync, no other trigger: the operator looks again at the warning's start and at
    the expiry itself, because the certificate says when they are.

    Margins for a loaded machine: the model may already be inside the warning when the
    operator first sees it (then only ExpiresSoon is seen, not Valid); what must hold is that
    the expiry is noticed a few seconds after it happens, by the operator's own timer."""
    now = datetime.now(UTC).replace(microsecond=0)
    expires = now + timedelta(seconds=30)
    cert = certificate(package("digits", "1.0.0"), expires_at=expires)
    env = {
        "AXIOM_OPERATOR_RESYNC_SECONDS": "0",
        "AXIOM_OPERATOR_CERTIFICATE_EXPIRY_WARNING_SECONDS": "15",
    }
    with start_operator(namespace, **env):
        await _serving_v1_with(kube_client, namespace, cert)
        await model_when(
            kube_client,
            "digits",
            lambda m: ready(m) and condition(m, "CertificateValid").get("status") == "True",
            within=60,
        )
        serving = await kube_client.get(Deployment, "digits-v1-0-0")
        await model_when(
            kube_client,
            "digits",
            lambda m: condition(m, "CertificateValid").get("reason") == "ExpiresSoon",
            within=40,
        )
        model = await model_when(
            kube_client,
            "digits",
            lambda m: condition(m, "CertificateValid").get("reason") == "Expired",
            within=45,
        )
        noticed = datetime.now(UTC)
        assert expires <= noticed <= expires + timedelta(seconds=15), (expires, noticed)
        assert condition(model, "CertificateValid")["status"] == "False"
        assert model["status"]["stableVersion"] == "1.0.0"
        after = await kube_client.get(Deployment, "digits-v1-0-0")
        assert after.metadata.resourceVersion == serving.metadata.resourceVersion
        assert await _warning(kube_client, "CertificateExpiresSoon")
        assert await _warning(kube_client, "CertificateExpired")


async def test_a_revoked_trusted_key_shows_within_the_resync_period(
    kube_client: AsyncClient, namespace: str, start_operator: Any
) -> None:
    """The trusted keys Secret is not watched (the operator needs no watch on Secrets): the
    periodic resync is what notices that the key that signed 1.0.0 is gone."""
    with start_operator(namespace, AXIOM_OPERATOR_RESYNC_SECONDS="2"):
        await start_serving_v1(kube_client, namespace)
        serving = await kube_client.get(Deployment, "digits-v1-0-0")
        keys = await kube_client.get(Secret, "axiom-trusted-keys")
        keys.data = None
        keys.stringData = {"another-key": public_key_pem(OTHER_KEY.public_key()).decode()}
        await kube_client.replace(keys)
        model = await model_when(
            kube_client,
            "digits",
            lambda m: condition(m, "CertificateValid").get("reason") == "UnknownKey",
            within=20,
        )
        assert condition(model, "CertificateValid")["status"] == "False"
        assert model["status"]["stableVersion"] == "1.0.0"
        after = await kube_client.get(Deployment, "digits-v1-0-0")
        assert after.metadata.resourceVersion == serving.metadata.resourceVersion
