"""Helpers for the operator's integration tests: real packages, real (and really tampered)
certificates, and the Secrets/ConfigMaps/AxiomModels that carry them."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Event, Secret

from axiom_operator.kube import AxiomModelResource
from axiom_runtime.certificate import certificate_json, sign_certificate, sign_document
from axiom_runtime.keys import public_key_pem
from axiom_runtime.package import load_package, package_bytes

SIGNING_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEY_ID = "test-key"
T = TypeVar("T")


def package(name: str, version: str, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    doc = {
        "format": "axiom-model",
        "format_version": 1,
        "name": name,
        "version": version,
        "input": {"shape": [4], "dtype": "float32"},
        "output": {"shape": [3], "dtype": "float32"},
        "layers": [{"type": "dense", "weights": {"weight": "w", "bias": "b"}}, {"type": "softmax"}],
    }
    return package_bytes(doc, {"w": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)})


def certificate(
    data: bytes,
    *,
    key: Ed25519PrivateKey = SIGNING_KEY,
    key_id: str = KEY_ID,
    created_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return sign_certificate(
        load_package(data),
        key,
        issuer="integration tests",
        key_id=key_id,
        created_at=created_at or now - timedelta(hours=1),
        # Past the operator's default expiry warning (7 days), so a test certificate reads
        # plainly Valid unless a test asks for an ageing one.
        expires_at=expires_at or now + timedelta(days=30),
    )


def resigned(document: dict[str, Any], **model_fields: Any) -> dict[str, Any]:
    """A properly signed certificate whose model binding was changed before signing."""
    changed = {**document, "model": {**document["model"], **model_fields}}
    return sign_document(changed, SIGNING_KEY, KEY_ID)


def tampered_after_signing(document: dict[str, Any]) -> dict[str, Any]:
    """Change a signed field without re-signing: the signature no longer verifies."""
    return {**document, "metadata": {**document["metadata"], "issuer": "someone else"}}


async def put_trusted_keys(client: AsyncClient, namespace: str) -> None:
    await client.create(
        Secret(
            metadata=ObjectMeta(name="axiom-trusted-keys", namespace=namespace),
            stringData={KEY_ID: public_key_pem(SIGNING_KEY.public_key()).decode()},
        )
    )


async def put_certificate(
    client: AsyncClient, namespace: str, name: str, document: dict[str, Any] | str
) -> None:
    text = document if isinstance(document, str) else certificate_json(document)
    await client.create(
        Secret(
            metadata=ObjectMeta(name=name, namespace=namespace),
            stringData={"certificate.json": text},
        )
    )


async def put_package(client: AsyncClient, namespace: str, name: str, data: bytes) -> None:
    await client.create(
        ConfigMap(
            metadata=ObjectMeta(name=name, namespace=namespace),
            binaryData={"model.axiom": base64.b64encode(data).decode()},
        )
    )


def model_manifest(
    name: str, namespace: str, version: str, sha256: str, cert_secret: str, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "axiom.dev/v1alpha1",
        "kind": "AxiomModel",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "version": version,
            "model": {
                "uri": f"configmap://{name}-{version.replace('.', '-')}/model.axiom",
                "sha256": sha256,
            },
            "certificate": {"secretRef": {"name": cert_secret}},
            "runtime": {"image": "axiom-runtime:test"},
            **spec,
        },
    }


async def deploy_version(
    client: AsyncClient,
    namespace: str,
    name: str,
    version: str,
    *,
    cert: dict[str, Any] | str | None = None,
    data: bytes | None = None,
) -> tuple[str, str]:
    """Package ConfigMap + certificate Secret for one version; returns (sha256, cert secret)."""
    import hashlib

    data = data if data is not None else package(name, version)
    await put_package(client, namespace, f"{name}-{version.replace('.', '-')}", data)
    secret = f"{name}-{version.replace('.', '-')}-cert"
    await put_certificate(
        client, namespace, secret, cert if cert is not None else certificate(data)
    )
    return hashlib.sha256(data).hexdigest(), secret


async def get_model(client: AsyncClient, name: str) -> dict[str, Any]:
    obj = await client.get(AxiomModelResource, name)
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def condition(model: dict[str, Any], kind: str) -> dict[str, Any]:
    for c in (model.get("status") or {}).get("conditions") or ():
        if c["type"] == kind:
            return dict(c)
    return {}


async def wait_for(
    probe: Callable[[], Awaitable[T | None]], within: float = 60, what: str = "condition"
) -> T:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        try:
            found = await probe()
        except Exception as error:  # not there yet (404) or mid-change: keep waiting
            last = error
        else:
            if found:
                return found
            last = found
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{what} not reached in {within}s (last: {last!r})")


async def model_when(
    client: AsyncClient, name: str, check: Callable[[dict[str, Any]], bool], within: float = 60
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        model = await get_model(client, name)
        return model if check(model) else None

    return await wait_for(probe, within, f"AxiomModel {name} state")


async def events_for(client: AsyncClient, name: str) -> list[tuple[str, str, str]]:
    return [
        (e.type or "", e.reason or "", e.message or "")
        async for e in client.list(Event, fields={"involvedObject.name": name})
    ]
