"""Verification: form, signature, validity period and binding to a package, in that order.

Needs only the standard library and ``cryptography``: a verifier (``axiom cert verify``, the
operator) never loads numpy or the model engine.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature

from axiom_runtime.certificate.canonical import format_time, signing_payload
from axiom_runtime.certificate.document import (
    Certificate,
    FailureReason,
    VerificationFailure,
    VerificationResult,
    parse_document,
    parse_json,
)
from axiom_runtime.keys import TrustedKeys

DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


def _check_signature(cert: Certificate, trusted_keys: TrustedKeys) -> None:
    public_key = trusted_keys.get(cert.key_id)
    if public_key is None:
        known = ", ".join(trusted_keys) or "none"
        raise VerificationFailure(
            FailureReason.UNKNOWN_KEY,
            f"certificate is signed with key id {cert.key_id!r}, which is not trusted (trusted: {known})",
        )
    try:
        signature = base64.b64decode(cert.document["signature"]["value"], validate=True)
        public_key.verify(signature, signing_payload(cert.document))
    except (binascii.Error, ValueError, InvalidSignature):
        raise VerificationFailure(
            FailureReason.BAD_SIGNATURE,
            f"signature does not verify with trusted key {cert.key_id!r}: the certificate was "
            "changed after signing or signed with a different key",
        ) from None


def _check_time(cert: Certificate, now: datetime, skew: timedelta) -> None:
    if now + skew < cert.created_at:
        raise VerificationFailure(
            FailureReason.NOT_YET_VALID,
            f"certificate is not valid until {format_time(cert.created_at)} (now {format_time(now)})",
        )
    if cert.expires_at is not None and now >= cert.expires_at:
        raise VerificationFailure(
            FailureReason.EXPIRED,
            f"certificate expired at {format_time(cert.expires_at)} (now {format_time(now)}): re-sign the package",
        )


def _check_binding(
    cert: Certificate, package_sha256: str | None, name: str | None, version: str | None
) -> None:
    if package_sha256 is not None and cert.model_hash != package_sha256.lower():
        raise VerificationFailure(
            FailureReason.HASH_MISMATCH,
            f"package sha256 {package_sha256[:16]}... does not match the certified {cert.model_hash[:16]}...: "
            "the package is not the one that was signed",
        )
    if name is not None and cert.model_name != name:
        raise VerificationFailure(
            FailureReason.NAME_MISMATCH,
            f"certificate is for model {cert.model_name!r}, but {name!r} is being deployed",
        )
    if version is not None and cert.model_version != version:
        raise VerificationFailure(
            FailureReason.VERSION_MISMATCH,
            f"certificate is for version {cert.model_version!r}, but {version!r} is being deployed",
        )


def verify_certificate(
    certificate: bytes | str,
    trusted_keys: TrustedKeys,
    *,
    package_sha256: str | None = None,
    expected_name: str | None = None,
    expected_version: str | None = None,
    now: datetime | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> VerificationResult:
    """Check a certificate's form, signature, validity period and binding to a package.

    Checks run in that order and stop at the first failure, so a bad signature is reported
    as such even if the content it signs is also out of date. Never raises on bad input.
    """
    cert: Certificate | None = None
    try:
        cert = parse_document(parse_json(certificate))
        _check_signature(cert, trusted_keys)
        _check_time(cert, now or datetime.now(UTC), clock_skew)
        _check_binding(cert, package_sha256, expected_name, expected_version)
    except VerificationFailure as failure:
        return VerificationResult(False, failure.reason, failure.message, cert)
    except Exception as exc:
        return VerificationResult(
            False, FailureReason.MALFORMED, f"certificate could not be checked: {exc}", cert
        )
    expiry = (
        "never expires"
        if cert.expires_at is None
        else f"valid until {format_time(cert.expires_at)}"
    )
    return VerificationResult(
        True,
        FailureReason.VALID,
        f"certificate valid: {cert.model_name} {cert.model_version} sha256 {cert.model_hash[:16]}..., "
        f"signed by {cert.key_id!r} ({cert.issuer}), {expiry}",
        cert,
    )
