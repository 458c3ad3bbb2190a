"""The byte form a certificate's signature covers, and the time format inside it.

Canonical form: the whole document with ``signature.value`` removed, so the signature also
covers its own ``algorithm`` and ``key_id``, serialised as JSON with keys sorted, no
whitespace (``","`` and ``":"`` separators), non-ASCII characters kept as UTF-8, then encoded
as UTF-8. Numbers are written as Python's ``json`` writes them (shortest round-trip form); the
signer rounds observed measurements to six significant digits so they stay short.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from axiom_runtime.errors import CertificateError


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
