"""Signed certificates: which package (by SHA-256) may be deployed, and what was checked on it.

The layout follows the Axiom.jl JSON certificate (``format``, ``version``, ``model``,
``verification``, ``metadata``, ``signature``) so the two stay recognisably the same thing;
what differs is that the signature is a real Ed25519 signature rather than a content digest.

The package is split along what each caller needs:

- :mod:`.canonical`: the byte form the signature covers (sorted keys, no whitespace, UTF-8,
  without ``signature.value``) and the time format;
- :mod:`.document`: the fixed fields, the parsed :class:`Certificate`, the signature block;
- :mod:`.verify`: :func:`verify_certificate`, which never raises on bad input: it returns a
  :class:`VerificationResult` whose ``reason`` says which check failed and whose ``message``
  is one line a person can act on;
- :mod:`.properties`: property names and parameters (``bounded_output(0, 1)``);
- :mod:`.signing`: measuring properties on the model's outputs and signing.

Only :mod:`.signing` imports numpy and the model engine, and importing this package does not
import it: its names are resolved on first use, so verifying (in ``axiom cert verify``, the
operator, the runtime's start-up check) costs neither numpy's import time nor its memory.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from axiom_runtime.certificate.canonical import (
    canonical_bytes,
    certificate_json,
    format_time,
    parse_time,
    signing_payload,
)
from axiom_runtime.certificate.document import (
    CERTIFICATE_FORMAT,
    CERTIFICATE_VERSION,
    HASH_ALGORITHM,
    SIGNATURE_ALGORITHM,
    SUPPORTED_VERSIONS,
    VERIFIER_ID,
    Certificate,
    FailureReason,
    VerificationResult,
    sign_document,
)
from axiom_runtime.certificate.properties import PropertySpec, parse_property
from axiom_runtime.certificate.verify import DEFAULT_CLOCK_SKEW, verify_certificate
from axiom_runtime.keys import TrustedKeys, load_trusted_keys, parse_trusted_keys

if TYPE_CHECKING:
    from axiom_runtime.certificate.signing import (
        PropertyCheck,
        check_properties,
        sign_certificate,
    )

__all__ = [
    "CERTIFICATE_FORMAT",
    "CERTIFICATE_VERSION",
    "DEFAULT_CLOCK_SKEW",
    "HASH_ALGORITHM",
    "SIGNATURE_ALGORITHM",
    "SUPPORTED_VERSIONS",
    "VERIFIER_ID",
    "Certificate",
    "FailureReason",
    "PropertyCheck",
    "PropertySpec",
    "TrustedKeys",
    "VerificationResult",
    "canonical_bytes",
    "certificate_json",
    "check_properties",
    "format_time",
    "load_trusted_keys",
    "parse_property",
    "parse_time",
    "parse_trusted_keys",
    "sign_certificate",
    "sign_document",
    "signing_payload",
    "verify_certificate",
]

_NEEDS_NUMPY = frozenset({"PropertyCheck", "check_properties", "sign_certificate"})


def __getattr__(name: str) -> Any:
    if name in _NEEDS_NUMPY:
        value = getattr(importlib.import_module("axiom_runtime.certificate.signing"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
