"""Signing: measure the requested properties on the model's outputs, then sign the document.

The one part of certificates that runs the model, and so the one that imports numpy and the
engine; verification never imports this module. Data is checked by the server's rules
(:meth:`ModelPackage.prepare_input`), so nothing is certified on input the served model
would refuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from axiom_runtime.certificate.canonical import format_time
from axiom_runtime.certificate.document import (
    CERTIFICATE_FORMAT,
    CERTIFICATE_VERSION,
    HASH_ALGORITHM,
    VERIFIER_ID,
    sign_document,
)
from axiom_runtime.certificate.properties import PropertySpec
from axiom_runtime.errors import CertificateError, InvalidInput, PropertyViolation
from axiom_runtime.keys import key_id_for
from axiom_runtime.package import ModelPackage
from axiom_runtime.tensors import FloatArray


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


# One checker per name in properties.PARAMETERS (a unit test keeps the two tables equal).
CHECKERS: dict[str, Checker] = {
    "valid_probabilities": _valid_probabilities,
    "bounded_output": _bounded_output,
    "no_nan": _no_nan,
    "no_inf": _no_inf,
}


def _rows(package: ModelPackage, data: Any) -> FloatArray:
    try:
        batch, _ = package.prepare_input(data)
    except InvalidInput as exc:
        raise CertificateError(f"property data does not fit the model: {exc}") from None
    return batch


def check_properties(
    package: ModelPackage, data: Any, properties: Sequence[PropertySpec]
) -> list[PropertyCheck]:
    """Run the model on ``data`` (one row or a batch) and evaluate each property on its outputs."""
    outputs = package.predict(_rows(package, data))
    checks = []
    for prop in properties:
        passed, observed, message = CHECKERS[prop.name](outputs, prop.params)
        checks.append(PropertyCheck(prop.name, dict(prop.params), passed, observed, message))
    return checks


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

    Raises :class:`PropertyViolation` (nothing is signed) if any property fails on the data,
    and :class:`CertificateError` if the data is not input the model accepts.
    ``key_id`` defaults to the fingerprint of the public key (:func:`key_id_for`).
    """
    if properties and data is None:
        raise CertificateError("properties can only be certified against data: pass data")
    batch = None if data is None else _rows(package, data)
    checks = check_properties(package, batch, properties) if properties else []
    failed = [c for c in checks if not c.passed]
    if failed:
        raise PropertyViolation(
            "refusing to sign: " + "; ".join(f"{c.name} failed ({c.message})" for c in failed)
        )
    created = created_at or datetime.now(UTC).replace(microsecond=0)
    if expires_at is not None and expires_at <= created:
        raise CertificateError("expires_at must be later than created_at")
    samples = None
    if batch is not None:
        samples = {
            "samples": int(batch.shape[0]),
            "sha256": hashlib.sha256(np.ascontiguousarray(batch).tobytes()).hexdigest(),
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
