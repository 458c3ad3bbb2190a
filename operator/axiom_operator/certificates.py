"""The certificate gate: may this spec's version be deployed?

Reads the certificate and the trusted keys from their Secret/ConfigMap, hashes the package
bytes when the operator can read them (a ConfigMap, or http(s) within a size cap), and asks
``axiom_runtime.certificate.verify_certificate`` -- the same code the runtime runs -- to check
signature, key, validity window, model name, version and sha256. The answer is a
``values.GateOutcome``: Enforce turns a failure into "do not touch the workload", Audit into
"deploy, but say so". A missing Secret/ConfigMap is not a verdict on the model: the outcome is
"unknown" and the caller retries with backoff (the world may not be ready yet).

Where the trusted keys come from is a trust decision. By default, from the model's namespace
(``axiom-trusted-keys``, or ``spec.certificate.trustedKeysRef``): simple, but whoever may
write Secrets in that namespace decides what is trusted there. With pinned trust
(``AXIOM_OPERATOR_TRUSTED_KEYS_NAMESPACE``, chart value ``trustedKeys.pinned``) the keys are
read only from that namespace, a model naming its own ``trustedKeysRef`` is refused
(``TrustedKeysRefNotAllowed``, whatever its policy), and the runtime pods mount a ConfigMap
mirror of the pinned keys that the operator writes and owns (``<model>-trusted-keys``).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from axiom_operator import api
from axiom_operator.kube import Kube
from axiom_operator.resources import labels as names
from axiom_operator.resources.deployment import certificate_source, configmap_model_location
from axiom_operator.settings import OperatorSettings
from axiom_operator.values import GateOutcome, GateResult, SourceRef
from axiom_runtime.certificate import verify_certificate
from axiom_runtime.errors import AxiomError
from axiom_runtime.keys import parse_trusted_keys


@dataclass
class PackageHashCache:
    """sha256 of remote packages already fetched, by (uri, expected sha256): a package at a
    URI is immutable for a given expected hash, so it is downloaded once per operator run."""

    by_uri: dict[tuple[str, str], str | None] = field(default_factory=dict)


def object_entries(kind: str, obj: dict[str, Any]) -> dict[str, bytes]:
    """Entries of a Secret (base64 data) or ConfigMap (data + base64 binaryData) as bytes."""
    out: dict[str, bytes] = {}
    if kind == "Secret":
        for key, value in (obj.get("data") or {}).items():
            out[key] = base64.b64decode(value)
        for key, value in (obj.get("stringData") or {}).items():
            out[key] = value.encode()
        return out
    for key, value in (obj.get("data") or {}).items():
        out[key] = value.encode()
    for key, value in (obj.get("binaryData") or {}).items():
        out[key] = base64.b64decode(value)
    return out


def trusted_keys_source(spec: api.AxiomModelSpec, settings: OperatorSettings) -> SourceRef:
    """Where the operator reads the trusted keys (in the model's namespace, or the pinned)."""
    ref = spec.certificate.trusted_keys_ref
    if ref is not None and not settings.trusted_keys_namespace:
        return SourceRef(ref.kind, ref.name)
    return SourceRef(settings.trusted_keys_kind, settings.trusted_keys_name)


async def _read(kube: Kube, ref: SourceRef, namespace: str) -> dict[str, bytes] | None:
    obj = await kube.get(ref.kind, ref.name, namespace)
    return None if obj is None else object_entries(ref.kind, obj)


async def _fetch_sha256(uri: str, limit: int) -> str | None:
    """sha256 of the bytes at an http(s) URI, or None when unreachable or larger than ``limit``."""
    digest = hashlib.sha256()
    size = 0
    timeout = aiohttp.ClientTimeout(total=60, connect=5)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(uri) as response:
            if response.status != 200 or (response.content_length or 0) > limit:
                return None
            async for chunk in response.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > limit:
                    return None
                digest.update(chunk)
    except (aiohttp.ClientError, TimeoutError):
        return None
    return digest.hexdigest()


async def _package_sha256(
    kube: Kube,
    spec: api.AxiomModelSpec,
    namespace: str,
    settings: OperatorSettings,
    cache: PackageHashCache,
) -> tuple[str | None, str]:
    """(sha256 of the package bytes or None if unreadable, where they came from)."""
    uri = spec.model.uri
    location = configmap_model_location(uri)
    if location is not None:
        entries = await _read(kube, SourceRef("ConfigMap", location[0]), namespace)
        if entries is None or location[1] not in entries:
            return None, uri
        return hashlib.sha256(entries[location[1]]).hexdigest(), uri
    if uri.startswith(("http://", "https://")):
        key = (uri, spec.model.sha256)
        if key not in cache.by_uri:
            cache.by_uri[key] = await _fetch_sha256(uri, settings.max_package_fetch_bytes)
        return cache.by_uri[key], uri
    return None, uri  # file://: only the pod can read it; the runtime checks the hash


def _outcome(valid: bool, reason: str, message: str, policy: str) -> GateOutcome:
    return GateOutcome(valid, valid or policy == "Audit", reason, message)


async def check_certificate(
    kube: Kube,
    settings: OperatorSettings,
    *,
    name: str,
    namespace: str,
    spec: api.AxiomModelSpec,
    cache: PackageHashCache,
) -> GateResult:
    cert_ref = certificate_source(spec)
    keys_ref = trusted_keys_source(spec, settings)
    policy = spec.certificate.policy
    pinned = settings.trusted_keys_namespace
    keys_namespace = pinned or namespace
    # With pinned trust the pods mount the operator's mirror of the pinned keys.
    pod_keys_ref = (
        SourceRef("ConfigMap", names.trusted_keys_config_name(name)) if pinned else keys_ref
    )
    pinned_keys: dict[str, bytes] | None = None

    def result(outcome: GateOutcome, cert_hash: str = "") -> GateResult:
        return GateResult(outcome, cert_ref, pod_keys_ref, cert_hash, pinned_keys)

    if pinned and spec.certificate.trusted_keys_ref is not None:
        # Not even Audit deploys: the model asked to choose its own trust anchor.
        return result(
            GateOutcome(
                False,
                False,
                "TrustedKeysRefNotAllowed",
                f"the operator trusts only the keys in {settings.trusted_keys_kind} "
                f"{pinned}/{settings.trusted_keys_name} (AXIOM_OPERATOR_TRUSTED_KEYS_NAMESPACE): "
                "remove spec.certificate.trustedKeysRef",
            )
        )

    cert_entries = await _read(kube, cert_ref, namespace)
    if cert_entries is None or cert_ref.key not in cert_entries:
        where = f"{cert_ref.kind} {namespace}/{cert_ref.name}"
        what = f"key {cert_ref.key!r} of {where}" if cert_entries is not None else where
        return result(
            GateOutcome(
                None,
                False,
                "CertificateNotFound",
                f"{what} not found: create it with the certificate of version {spec.version}",
            )
        )
    assert cert_ref.key is not None
    cert_bytes = cert_entries[cert_ref.key]
    cert_hash = hashlib.sha256(cert_bytes).hexdigest()[:16]
    key_entries = await _read(kube, keys_ref, keys_namespace)
    if key_entries is None:
        return result(
            GateOutcome(
                None,
                False,
                "TrustedKeysNotFound",
                f"trusted keys {keys_ref.kind} {keys_namespace}/{keys_ref.name} not found",
            ),
            cert_hash,
        )
    if pinned:
        pinned_keys = key_entries
    try:
        keys = parse_trusted_keys(key_entries)
    except (AxiomError, ValueError) as error:
        return result(
            _outcome(
                False,
                "TrustedKeysInvalid",
                f"trusted keys {keys_ref.kind} {keys_namespace}/{keys_ref.name}: {error}",
                policy,
            ),
            cert_hash,
        )
    actual, source = await _package_sha256(kube, spec, namespace, settings, cache)
    if actual is not None and actual != spec.model.sha256:
        return result(
            _outcome(
                False,
                "HashMismatch",
                f"package bytes at {source} hash to {actual}, but spec.model.sha256 is {spec.model.sha256}",
                policy,
            ),
            cert_hash,
        )
    verdict = verify_certificate(
        cert_bytes,
        keys,
        package_sha256=spec.model.sha256,
        expected_name=spec.model.name or name,
        expected_version=spec.version,
    )
    outcome = _outcome(verdict.ok, verdict.reason.value, verdict.message, policy)
    if verdict.ok and verdict.certificate is not None:
        # Known only for a certificate that verified: the reconcile looks again at this time.
        signed = verdict.certificate
        outcome = replace(
            outcome, expires_at=signed.expires_at, signer=f"{signed.issuer} (key {signed.key_id})"
        )
    return result(outcome, cert_hash)
