"""The certificate document: its fixed fields, the parsed form, and the signature block.

Parsing is for verification: a document with duplicate keys or NaN/Infinity literals is
malformed, because two parsers could read it differently, and every missing or mistyped field
is reported as :class:`VerificationFailure` naming the field, never raised further.
"""

from __future__ import annotations

import base64
import enum
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from axiom_runtime.certificate.canonical import parse_time, signing_payload
from axiom_runtime.errors import CertificateError

CERTIFICATE_FORMAT = "axiom-verification-certificate"
CERTIFICATE_VERSION = "1"
SUPPORTED_VERSIONS = (CERTIFICATE_VERSION,)
SIGNATURE_ALGORITHM = "ed25519"
HASH_ALGORITHM = "SHA256"
VERIFIER_ID = "axiom-operator/0.1.0"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class FailureReason(str, enum.Enum):  # noqa: UP042 - the contract fixes a str-valued Enum
    VALID = "Valid"
    MALFORMED = "Malformed"
    UNKNOWN_FORMAT = "UnknownFormat"
    BAD_SIGNATURE = "BadSignature"
    UNKNOWN_KEY = "UnknownKey"
    EXPIRED = "Expired"
    NOT_YET_VALID = "NotYetValid"
    HASH_MISMATCH = "HashMismatch"
    NAME_MISMATCH = "NameMismatch"
    VERSION_MISMATCH = "VersionMismatch"


@dataclass(frozen=True)
class Certificate:
    """The fields of a parsed certificate. Trust them only when verification said ``ok``."""

    model_name: str
    model_version: str
    model_hash: str
    properties: tuple[dict[str, Any], ...]
    created_at: datetime
    expires_at: datetime | None
    issuer: str
    key_id: str
    document: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    reason: FailureReason
    message: str
    certificate: Certificate | None = None


class VerificationFailure(Exception):
    """One failed check: its reason and the one-line message for a person."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def sign_document(
    document: dict[str, Any], private_key: Ed25519PrivateKey, key_id: str
) -> dict[str, Any]:
    """A copy of ``document`` with a ``signature`` block over its canonical form."""
    signed = {key: value for key, value in document.items() if key != "signature"}
    signed["signature"] = {"algorithm": SIGNATURE_ALGORITHM, "key_id": key_id}
    value = private_key.sign(signing_payload(signed))
    signed["signature"]["value"] = base64.b64encode(value).decode("ascii")
    return signed


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(certificate: bytes | str) -> dict[str, Any]:
    """The certificate's JSON object, refusing duplicate keys and NaN/Infinity literals."""
    try:
        text = certificate.decode("utf-8") if isinstance(certificate, bytes) else certificate
        document = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise VerificationFailure(
            FailureReason.MALFORMED, f"certificate is not valid JSON: {exc}"
        ) from None
    if not isinstance(document, dict):
        raise VerificationFailure(FailureReason.MALFORMED, "certificate is not a JSON object")
    return document


def _field(document: dict[str, Any], path: str, kind: type | tuple[type, ...]) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise VerificationFailure(
                FailureReason.MALFORMED, f"certificate is missing field '{path}'"
            )
        value = value[part]
    if not isinstance(value, kind):
        raise VerificationFailure(
            FailureReason.MALFORMED, f"certificate field '{path}' has the wrong type"
        )
    return value


def _unknown_format(message: str) -> VerificationFailure:
    return VerificationFailure(FailureReason.UNKNOWN_FORMAT, message)


def parse_document(document: dict[str, Any]) -> Certificate:
    """The :class:`Certificate` a document declares; its signature is not checked here."""
    if document.get("format") != CERTIFICATE_FORMAT:
        raise _unknown_format(
            f"certificate format is {document.get('format')!r}, expected {CERTIFICATE_FORMAT!r}"
        )
    if document.get("version") not in SUPPORTED_VERSIONS:
        raise _unknown_format(
            f"certificate version {document.get('version')!r} is not supported (supported: {list(SUPPORTED_VERSIONS)})"
        )
    algorithm = _field(document, "signature.algorithm", str)
    if algorithm != SIGNATURE_ALGORITHM:
        raise _unknown_format(
            f"signature algorithm {algorithm!r} is not supported (expected {SIGNATURE_ALGORITHM!r})"
        )
    hash_algorithm = _field(document, "model.hash_algorithm", str)
    if hash_algorithm != HASH_ALGORITHM:
        raise _unknown_format(
            f"model hash algorithm {hash_algorithm!r} is not supported (expected {HASH_ALGORITHM!r})"
        )
    model_hash = _field(document, "model.hash", str)
    if not _HEX64.match(model_hash):
        raise VerificationFailure(
            FailureReason.MALFORMED, "certificate field 'model.hash' is not 64 lowercase hex digits"
        )
    properties = _field(document, "verification.properties", list)
    expires_raw = _field(document, "metadata", dict).get("expires_at")
    _field(document, "signature.value", str)
    try:
        created_at = parse_time(_field(document, "metadata.created_at", str), "metadata.created_at")
        expires_at = None if expires_raw is None else parse_time(expires_raw, "metadata.expires_at")
    except CertificateError as exc:
        raise VerificationFailure(FailureReason.MALFORMED, f"certificate {exc}") from None
    return Certificate(
        model_name=_field(document, "model.name", str),
        model_version=_field(document, "model.version", str),
        model_hash=model_hash,
        properties=tuple(p for p in properties if isinstance(p, dict)),
        created_at=created_at,
        expires_at=expires_at,
        issuer=_field(document, "metadata.issuer", str),
        key_id=_field(document, "signature.key_id", str),
        document=document,
    )
