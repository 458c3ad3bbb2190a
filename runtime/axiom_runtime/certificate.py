"""Signed certificates: which package (by SHA-256) may be deployed, and what was checked on it.

The layout follows the Axiom.jl JSON certificate (``format``, ``version``, ``model``,
``verification``, ``metadata``, ``signature``) so the two stay recognisably the same thing;
what differs is that the signature is a real Ed25519 signature rather than a content digest.

Canonical form (what is signed): the whole document with ``signature.value`` removed, so the
signature also covers its own ``algorithm`` and ``key_id``, serialised as JSON with keys
sorted, no whitespace (``","`` and ``":"`` separators), non-ASCII characters kept as UTF-8,
then encoded as UTF-8. Numbers are written as Python's ``json`` writes them (shortest
round-trip form); the signer rounds observed measurements to six significant digits so they
stay short. Documents with duplicate keys or NaN/Infinity literals are malformed, because two
parsers could read them differently.

Verification never raises on bad input: it returns a :class:`VerificationResult` whose
``reason`` says which check failed and whose ``message`` is one line a person can act on.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from axiom_runtime.errors import CertificateError, InvalidInput, PropertyViolation
from axiom_runtime.keys import (
    TrustedKeys,
    key_id_for,
    load_trusted_keys,
    parse_trusted_keys,
)
from axiom_runtime.layers import FloatArray
from axiom_runtime.package import ModelPackage

__all__ = [
    "CERTIFICATE_FORMAT",
    "CERTIFICATE_VERSION",
    "Certificate",
    "FailureReason",
    "PropertyCheck",
    "PropertySpec",
    "TrustedKeys",
    "VerificationResult",
    "canonical_bytes",
    "certificate_json",
    "check_properties",
    "load_trusted_keys",
    "parse_property",
    "parse_trusted_keys",
    "sign_certificate",
    "sign_document",
    "signing_payload",
    "verify_certificate",
]

CERTIFICATE_FORMAT = "axiom-verification-certificate"
CERTIFICATE_VERSION = "1"
SUPPORTED_VERSIONS = (CERTIFICATE_VERSION,)
SIGNATURE_ALGORITHM = "ed25519"
HASH_ALGORITHM = "SHA256"
VERIFIER_ID = "axiom-operator/0.1.0"
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
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


# --- canonical form and time ------------------------------------------------------------------


def canonical_bytes(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the byte form that signatures cover."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def signing_payload(document: dict[str, Any]) -> bytes:
    """The canonical bytes of ``document`` without ``signature.value``."""
    unsigned = {key: value for key, value in document.items() if key != "signature"}
    signature = document.get("signature")
    if isinstance(signature, dict):
        unsigned["signature"] = {k: v for k, v in signature.items() if k != "value"}
    return canonical_bytes(unsigned)


def certificate_json(document: dict[str, Any]) -> str:
    """The file form of a certificate: indented for people (the signature does not depend on it)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise CertificateError(f"'{where}' must be an ISO 8601 time string, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CertificateError(f"'{where}' is not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise CertificateError(f"'{where}' must carry a time zone (e.g. a trailing Z): {value!r}")
    return moment


# --- properties checked on data before signing ---------------------------------------------------


@dataclass(frozen=True)
class PropertySpec:
    name: str
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PropertyCheck:
    name: str
    params: dict[str, float]
    passed: bool
    observed: dict[str, float | int]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params,
            "status": "passed" if self.passed else "failed",
            "observed": self.observed,
        }


def _short(value: float) -> float:
    # Six significant digits keep certificates stable across BLAS builds and short to read.
    return float(f"{value:.6g}")


Checker = Callable[[FloatArray, dict[str, float]], tuple[bool, dict[str, float | int], str]]


def _valid_probabilities(
    out: FloatArray, p: dict[str, float]
) -> tuple[bool, dict[str, float | int], str]:
    tol = p["tolerance"]
    rows = out.reshape(out.shape[0], -1).astype(np.float64)
    low, high = float(rows.min()), float(rows.max())
    sum_error = float(np.max(np.abs(rows.sum(axis=1) - 1.0)))
    passed = low >= -tol and high <= 1 + tol and sum_error <= tol
    observed = {"min": _short(low), "max": _short(high), "max_row_sum_error": _short(sum_error)}
    return (
        passed,
        observed,
        f"outputs in [{low:.6g}, {high:.6g}], rows sum to 1 within {sum_error:.3g} (tolerance {tol:g})",
    )


def _bounded_output(
    out: FloatArray, p: dict[str, float]
) -> tuple[bool, dict[str, float | int], str]:
    low, high = float(out.min()), float(out.max())
    passed = low >= p["low"] and high <= p["high"]
    return (
        passed,
        {"min": _short(low), "max": _short(high)},
        (f"outputs in [{low:.6g}, {high:.6g}], required [{p['low']:g}, {p['high']:g}]"),
    )


def _no_nan(out: FloatArray, p: dict[str, float]) -> tuple[bool, dict[str, float | int], str]:
    count = int(np.isnan(out).sum())
    return count == 0, {"nan_count": count}, f"{count} NaN output value(s)"


def _no_inf(out: FloatArray, p: dict[str, float]) -> tuple[bool, dict[str, float | int], str]:
    count = int(np.isinf(out).sum())
    return count == 0, {"inf_count": count}, f"{count} infinite output value(s)"


# name -> (parameter names in positional order, defaults, checker)
PROPERTIES: dict[str, tuple[tuple[str, ...], dict[str, float], Checker]] = {
    "valid_probabilities": (("tolerance",), {"tolerance": 1e-4}, _valid_probabilities),
    "bounded_output": (("low", "high"), {}, _bounded_output),
    "no_nan": ((), {}, _no_nan),
    "no_inf": ((), {}, _no_inf),
}

_PROPERTY_SYNTAX = re.compile(r"^\s*([a-z_]+)\s*(?:\((.*)\))?\s*$")


def parse_property(text: str) -> PropertySpec:
    """``no_nan``, ``bounded_output(0, 1)``, ``bounded_output(low=0, high=1)``, ``valid_probabilities``."""
    match = _PROPERTY_SYNTAX.match(text)
    if not match or match.group(1) not in PROPERTIES:
        raise CertificateError(
            f"property {text!r}: expected one of {sorted(PROPERTIES)}, e.g. bounded_output(0, 1)"
        )
    name, arguments = match.group(1), match.group(2)
    names, defaults, _ = PROPERTIES[name]
    params = dict(defaults)
    for position, argument in enumerate(
        a.strip() for a in (arguments or "").split(",") if a.strip()
    ):
        key, _, raw = argument.rpartition("=")
        key = key.strip() or (names[position] if position < len(names) else "")
        if key not in names:
            raise CertificateError(
                f"property {text!r}: unknown parameter {argument!r}; parameters: {list(names)}"
            )
        try:
            params[key] = float(raw)
        except ValueError:
            raise CertificateError(
                f"property {text!r}: {key} must be a number, got {raw.strip()!r}"
            ) from None
        if not math.isfinite(params[key]):
            raise CertificateError(f"property {text!r}: {key} must be finite")
    missing = [n for n in names if n not in params]
    if missing:
        raise CertificateError(f"property {text!r}: missing parameter(s) {missing}")
    if name == "bounded_output" and params["low"] > params["high"]:
        raise CertificateError(f"property {text!r}: low must not exceed high")
    return PropertySpec(name, params)


def check_properties(
    package: ModelPackage, data: Any, properties: Sequence[PropertySpec]
) -> list[PropertyCheck]:
    """Run the model on ``data`` and evaluate each property on its outputs."""
    try:
        outputs = package.predict(data)
    except InvalidInput as exc:
        raise CertificateError(f"property data does not fit the model: {exc}") from None
    checks = []
    for prop in properties:
        _, _, checker = PROPERTIES[prop.name]
        passed, observed, message = checker(outputs, prop.params)
        checks.append(PropertyCheck(prop.name, dict(prop.params), passed, observed, message))
    return checks


# --- signing -------------------------------------------------------------------------------------


def sign_document(
    document: dict[str, Any], private_key: Ed25519PrivateKey, key_id: str
) -> dict[str, Any]:
    """A copy of ``document`` with a ``signature`` block over its canonical form."""
    signed = {key: value for key, value in document.items() if key != "signature"}
    signed["signature"] = {"algorithm": SIGNATURE_ALGORITHM, "key_id": key_id}
    value = private_key.sign(signing_payload(signed))
    signed["signature"]["value"] = base64.b64encode(value).decode("ascii")
    return signed


def sign_certificate(
    package: ModelPackage,
    private_key: Ed25519PrivateKey,
    *,
    issuer: str,
    key_id: str | None = None,
    properties: Sequence[PropertySpec] = (),
    data: Any = None,
    created_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> dict[str, Any]:
    """Check ``properties`` on ``data``, then sign a certificate for ``package``.

    Raises :class:`PropertyViolation` (nothing is signed) if any property fails on the data.
    ``key_id`` defaults to the fingerprint of the public key (:func:`key_id_for`).
    """
    if properties and data is None:
        raise CertificateError("properties can only be certified against data: pass data")
    checks = check_properties(package, data, properties) if properties else []
    failed = [c for c in checks if not c.passed]
    if failed:
        raise PropertyViolation(
            "refusing to sign: " + "; ".join(f"{c.name} failed ({c.message})" for c in failed)
        )
    created = created_at or datetime.now(UTC).replace(microsecond=0)
    if expires_at is not None and expires_at <= created:
        raise CertificateError("expires_at must be later than created_at")
    samples = None
    if data is not None:
        batch = np.ascontiguousarray(np.asarray(data, dtype=np.float32))
        samples = {
            "samples": int(batch.shape[0]),
            "sha256": hashlib.sha256(batch.tobytes()).hexdigest(),
        }
    document: dict[str, Any] = {
        "format": CERTIFICATE_FORMAT,
        "version": CERTIFICATE_VERSION,
        "model": {
            "name": package.spec.name,
            "version": package.spec.version,
            "hash": package.sha256,
            "hash_algorithm": HASH_ALGORITHM,
            "size_bytes": package.size_bytes,
        },
        "verification": {
            "mode": "empirical",
            "proof_type": "empirical",
            "properties": [c.to_dict() for c in checks],
            "test_data": samples,
            "verifier_id": VERIFIER_ID,
        },
        "metadata": {
            "created_at": format_time(created),
            "expires_at": None if expires_at is None else format_time(expires_at),
            "issuer": issuer,
        },
    }
    return sign_document(document, private_key, key_id or key_id_for(private_key.public_key()))


# --- verification --------------------------------------------------------------------------------


class _Failure(Exception):
    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(certificate: bytes | str) -> dict[str, Any]:
    try:
        text = certificate.decode("utf-8") if isinstance(certificate, bytes) else certificate
        document = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Failure(FailureReason.MALFORMED, f"certificate is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _Failure(FailureReason.MALFORMED, "certificate is not a JSON object")
    return document


def _field(document: dict[str, Any], path: str, kind: type | tuple[type, ...]) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise _Failure(FailureReason.MALFORMED, f"certificate is missing field '{path}'")
        value = value[part]
    if not isinstance(value, kind):
        raise _Failure(FailureReason.MALFORMED, f"certificate field '{path}' has the wrong type")
    return value


def _parse(document: dict[str, Any]) -> Certificate:
    if document.get("format") != CERTIFICATE_FORMAT:
        raise _Failure(
            FailureReason.UNKNOWN_FORMAT,
            f"certificate format is {document.get('format')!r}, expected {CERTIFICATE_FORMAT!r}",
        )
    if document.get("version") not in SUPPORTED_VERSIONS:
        raise _Failure(
            FailureReason.UNKNOWN_FORMAT,
            f"certificate version {document.get('version')!r} is not supported (supported: {list(SUPPORTED_VERSIONS)})",
        )
    algorithm = _field(document, "signature.algorithm", str)
    if algorithm != SIGNATURE_ALGORITHM:
        raise _Failure(
            FailureReason.UNKNOWN_FORMAT,
            f"signature algorithm {algorithm!r} is not supported (expected {SIGNATURE_ALGORITHM!r})",
        )
    hash_algorithm = _field(document, "model.hash_algorithm", str)
    if hash_algorithm != HASH_ALGORITHM:
        raise _Failure(
            FailureReason.UNKNOWN_FORMAT,
            f"model hash algorithm {hash_algorithm!r} is not supported (expected {HASH_ALGORITHM!r})",
        )
    model_hash = _field(document, "model.hash", str)
    if not _HEX64.match(model_hash):
        raise _Failure(
            FailureReason.MALFORMED, "certificate field 'model.hash' is not 64 lowercase hex digits"
        )
    properties = _field(document, "verification.properties", list)
    expires_raw = _field(document, "metadata", dict).get("expires_at")
    _field(document, "signature.value", str)
    try:
        created_at = parse_time(_field(document, "metadata.created_at", str), "metadata.created_at")
        expires_at = None if expires_raw is None else parse_time(expires_raw, "metadata.expires_at")
    except CertificateError as exc:
        raise _Failure(FailureReason.MALFORMED, f"certificate {exc}") from None
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


def _check_signature(cert: Certificate, trusted_keys: TrustedKeys) -> None:
    public_key = trusted_keys.get(cert.key_id)
    if public_key is None:
        known = ", ".join(trusted_keys) or "none"
        raise _Failure(
            FailureReason.UNKNOWN_KEY,
            f"certificate is signed with key id {cert.key_id!r}, which is not trusted (trusted: {known})",
        )
    try:
        signature = base64.b64decode(cert.document["signature"]["value"], validate=True)
        public_key.verify(signature, signing_payload(cert.document))
    except (binascii.Error, ValueError, InvalidSignature):
        raise _Failure(
            FailureReason.BAD_SIGNATURE,
            f"signature does not verify with trusted key {cert.key_id!r}: the certificate was "
            "changed after signing or signed with a different key",
        ) from None


def _check_time(cert: Certificate, now: datetime, skew: timedelta) -> None:
    if now + skew < cert.created_at:
        raise _Failure(
            FailureReason.NOT_YET_VALID,
            f"certificate is not valid until {format_time(cert.created_at)} (now {format_time(now)})",
        )
    if cert.expires_at is not None and now >= cert.expires_at:
        raise _Failure(
            FailureReason.EXPIRED,
            f"certificate expired at {format_time(cert.expires_at)} (now {format_time(now)}): re-sign the package",
        )


def _check_binding(
    cert: Certificate, package_sha256: str | None, name: str | None, version: str | None
) -> None:
    if package_sha256 is not None and cert.model_hash != package_sha256.lower():
        raise _Failure(
            FailureReason.HASH_MISMATCH,
            f"package sha256 {package_sha256[:16]}... does not match the certified {cert.model_hash[:16]}...: "
            "the package is not the one that was signed",
        )
    if name is not None and cert.model_name != name:
        raise _Failure(
            FailureReason.NAME_MISMATCH,
            f"certificate is for model {cert.model_name!r}, but {name!r} is being deployed",
        )
    if version is not None and cert.model_version != version:
        raise _Failure(
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
        cert = _parse(_parse_json(certificate))
        _check_signature(cert, trusted_keys)
        _check_time(cert, now or datetime.now(UTC), clock_skew)
        _check_binding(cert, package_sha256, expected_name, expected_version)
    except _Failure as failure:
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
