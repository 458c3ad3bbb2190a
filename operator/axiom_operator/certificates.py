"""The certificate gate: may this spec's version be deployed?

Reads the certificate and the trusted keys from their Secret/ConfigMap, hashes the package
bytes when the operator can read them (a ConfigMap; http(s), s3:// or oci:// up to
``AXIOM_OPERATOR_MAX_PACKAGE_FETCH_BYTES``, 8 GiB by default, streamed and hashed chunk by
chunk, never held whole), and asks
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

import asyncio
import base64
import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
from yarl import URL

from axiom_operator import api
from axiom_operator.kube import Kube
from axiom_operator.resources import labels as names
from axiom_operator.resources.deployment import certificate_source, configmap_model_location
from axiom_operator.settings import OperatorSettings
from axiom_operator.values import GateOutcome, GateResult, SourceRef
from axiom_runtime.certificate import verify_certificate
from axiom_runtime.certificate.oms import OmsTrust, verify_oms_bundle
from axiom_runtime.errors import AxiomError
from axiom_runtime.keys import parse_trusted_keys
from axiom_runtime.sources import FetchLimits, ModelSourceError, S3Settings
from axiom_runtime.sources.oci import OciAccess, manifest_layer, stream_package
from axiom_runtime.sources.registry_auth import (
    DOCKER_CONFIG_KEY,
    RegistryAuthError,
    RegistryCredentials,
    RegistryCredentialsError,
    credentials_for,
)
from axiom_runtime.sources.s3 import signed_request


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


async def _stream_sha256(
    url: str | URL, limit: int, headers: dict[str, str] | None = None
) -> tuple[str | None, str | None]:
    """(sha256 of the bytes at ``url``, why not): hashed chunk by chunk as they arrive, so
    memory stays at one chunk whatever the package's size. (None, None): larger than
    ``limit``, left to the pods, which hash it as they download it."""
    digest = hashlib.sha256()
    size = 0
    timeout = aiohttp.ClientTimeout(total=300, connect=5, sock_read=60)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as response,
        ):
            if response.status != 200:
                body = (await response.content.read(2048)).decode("utf-8", "replace")
                code = body.partition("<Code>")[2].partition("</Code>")[0]
                return None, f"HTTP {response.status} {response.reason}" + (
                    f" ({code})" if code else ""
                )
            if (response.content_length or 0) > limit:
                return None, None
            async for chunk in response.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > limit:
                    return None, None
                digest.update(chunk)
    except (aiohttp.ClientError, TimeoutError) as failure:
        return None, f"{type(failure).__name__}: {failure}"
    return digest.hexdigest(), None


async def _fetch_sha256(uri: str, limit: int) -> str | None:
    """sha256 of the bytes at an http(s) URI, or None when unreachable or larger than ``limit``."""
    return (await _stream_sha256(uri, limit))[0]


async def _s3_sha256(
    kube: Kube, spec: api.AxiomModelSpec, namespace: str, settings: OperatorSettings
) -> tuple[str | None, GateOutcome | None]:
    """Hash an s3:// package with the credentials its pods get; an outcome when it cannot."""
    s3 = spec.model.s3
    assert s3 is not None  # the API model requires it for an s3:// uri
    secret = s3.credentials_secret_ref.name
    entries = await _read(kube, SourceRef("Secret", secret), namespace)
    needed = api.S3_CREDENTIAL_KEYS[:2]
    if entries is None or any(not entries.get(key) for key in needed):
        what = f"Secret {namespace}/{secret}"
        if entries is not None:
            what = f"keys {', '.join(k for k in needed if not entries.get(k))} of {what}"
        return None, GateOutcome(
            None,
            False,
            "S3CredentialsNotFound",
            f"{what} not found (spec.model.s3.credentialsSecretRef): create it with "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )
    token = entries.get("AWS_SESSION_TOKEN")
    try:
        url, headers = signed_request(
            spec.model.uri,
            S3Settings(
                endpoint=s3.endpoint.rstrip("/"),
                region=s3.region,
                access_key_id=entries["AWS_ACCESS_KEY_ID"].decode(),
                secret_access_key=entries["AWS_SECRET_ACCESS_KEY"].decode(),
                session_token=token.decode() if token else None,
            ),
        )
    except (ModelSourceError, UnicodeDecodeError) as error:
        return None, GateOutcome(None, False, "PackageUnavailable", f"{spec.model.uri}: {error}")
    digest, why = await _stream_sha256(url, settings.max_package_fetch_bytes, headers)
    if why is not None:
        return None, GateOutcome(
            None,
            False,
            "PackageUnavailable",
            f"{spec.model.uri} at {s3.endpoint}: {why}; the pods could not load it either",
        )
    return digest, None


async def _oci_access(
    kube: Kube, spec: api.AxiomModelSpec, namespace: str, registry: str
) -> tuple[OciAccess | None, GateOutcome | None]:
    """The operator's way into the registry: the pods' credentials, read from their Secret."""
    oci = spec.model.oci
    credentials: RegistryCredentials | None = None
    if oci is not None and oci.credentials_secret_ref is not None:
        secret = oci.credentials_secret_ref.name
        where = f"Secret {namespace}/{secret} (spec.model.oci.credentialsSecretRef)"
        obj = await kube.get("Secret", secret, namespace)
        entries = None if obj is None else object_entries("Secret", obj)
        if entries is None or not entries.get(DOCKER_CONFIG_KEY):
            what = where if entries is None else f"key {DOCKER_CONFIG_KEY} of {where}"
            return None, GateOutcome(
                None,
                False,
                "OciCredentialsNotFound",
                f"{what} not found: create it with `kubectl create secret docker-registry "
                f"{secret} --docker-server={registry} ...` (type kubernetes.io/dockerconfigjson)",
            )
        try:
            credentials = credentials_for(entries[DOCKER_CONFIG_KEY], registry, origin=where)
        except RegistryCredentialsError as error:
            return None, GateOutcome(None, False, "OciCredentialsNotFound", str(error))
    return OciAccess(credentials, bool(oci and oci.plain_http)), None


async def _oci_sha256(
    kube: Kube, spec: api.AxiomModelSpec, namespace: str, settings: OperatorSettings
) -> tuple[str | None, GateOutcome | None]:
    """The package's sha256 from the registry, streamed and hashed (never held), as the pods
    will pull it. Larger than the cap: an artifact's manifest, checked against the pinned
    digest, still names its sha256 (the layer digest); an image's is known only to the pods."""
    uri = spec.model.uri
    registry = uri.removeprefix("oci://").split("/", 1)[0]
    access, failure = await _oci_access(kube, spec, namespace, registry)
    if failure is not None:
        return None, failure
    try:
        layer = await manifest_layer(uri, access)
        if layer.size > settings.max_package_fetch_bytes:
            return layer.package_sha256, None
        limits = FetchLimits(max_bytes=settings.max_package_fetch_bytes, timeout_s=3600)
        digest, _, _ = await stream_package(uri, None, limits, access)
    except RegistryAuthError as error:
        return None, GateOutcome(None, False, "OciUnauthorized", str(error))
    except ModelSourceError as error:
        return None, GateOutcome(None, False, "PackageUnavailable", str(error))
    return digest, None


async def _package_sha256(
    kube: Kube,
    spec: api.AxiomModelSpec,
    namespace: str,
    settings: OperatorSettings,
    cache: PackageHashCache,
) -> tuple[str | None, str, GateOutcome | None]:
    """(sha256 of the package bytes or None if unreadable, where they came from, and an
    outcome when reading them failed in a way that must stop the version: an s3:// package
    the operator holds the pods' credentials for)."""
    uri = spec.model.uri
    location = configmap_model_location(uri)
    if location is not None:
        entries = await _read(kube, SourceRef("ConfigMap", location[0]), namespace)
        if entries is None or location[1] not in entries:
            return None, uri, None
        return hashlib.sha256(entries[location[1]]).hexdigest(), uri, None
    key = (uri, spec.model.sha256)
    if uri.startswith("s3://"):
        if cache.by_uri.get(key) is None:  # failures are tried again, successes kept
            digest, failure = await _s3_sha256(kube, spec, namespace, settings)
            if failure is not None:
                return None, uri, failure
            cache.by_uri[key] = digest
        return cache.by_uri[key], uri, None
    if uri.startswith("oci://"):
        if cache.by_uri.get(key) is None:
            digest, failure = await _oci_sha256(kube, spec, namespace, settings)
            if failure is not None:
                return None, uri, failure
            cache.by_uri[key] = digest
        return cache.by_uri[key], uri, None
    if uri.startswith(("http://", "https://")):
        if key not in cache.by_uri:
            cache.by_uri[key] = await _fetch_sha256(uri, settings.max_package_fetch_bytes)
        return cache.by_uri[key], uri, None
    # file:// and pvc://: only the pod can read it; the runtime checks the hash.
    return None, uri, None


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
    bundle: bytes | None = None
    if spec.certificate.format == "AxiomAndOMS":
        bundle = cert_entries.get(spec.certificate.oms_bundle_key)
        if bundle is None:
            return result(
                GateOutcome(
                    None,
                    False,
                    "CertificateNotFound",
                    f"key {spec.certificate.oms_bundle_key!r} (spec.certificate.omsBundleKey) "
                    f"of {cert_ref.kind} {namespace}/{cert_ref.name} not found: add the OMS "
                    f"bundle of version {spec.version}",
                )
            )
    cert_hash = hashlib.sha256(cert_bytes + (bundle or b"")).hexdigest()[:16]
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
    actual, source, unavailable = await _package_sha256(kube, spec, namespace, settings, cache)
    if unavailable is not None:
        return result(unavailable, cert_hash)
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
    if spec.certificate.format != "Axiom":
        # Who published these bytes first; with AxiomAndOMS, what was checked on them next.
        # In a thread: the first call imports model-signing and sigstore (1.07 s measured here),
        # and each writes the bundle and anchors to a scratch directory for the library.
        oms = await asyncio.to_thread(
            verify_oms_bundle,
            bundle if bundle is not None else cert_bytes,
            OmsTrust.from_entries(key_entries),
            package_sha256=spec.model.sha256,
        )
        if spec.certificate.format == "OMS" or not oms.ok:
            return result(_outcome(oms.ok, oms.reason.value, oms.message, policy), cert_hash)
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
