"""Decide, without writing, whether a child already looks the way the operator wants.

The apiserver adds defaults (``protocol``, ``imagePullPolicy``, ``clusterIP``, ...) and
rewrites quantities into canonical form (``0.5`` -> ``500m``), so "desired equals live" is
the wrong test; "every field the operator sets is present in live with an equal value" is
the right one. Removals are caught by a hash of the whole desired manifest stored as an
annotation (``axiom.dev/applied-hash``): when the desired manifest loses a field, the hash
changes and the operator applies again, and server-side apply then drops the field.

Lists of objects with a ``name`` are matched by name (others, e.g. an HPA controller or a
person, may add entries server-side apply keeps); other lists must match position by position.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

APPLIED_HASH_ANNOTATION = "axiom.dev/applied-hash"

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$")
_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY_PARENTS = frozenset({"requests", "limits", "sizeLimit"})


def parse_quantity(text: str | int | float) -> Decimal | None:
    """The value of a Kubernetes quantity, or None if ``text`` is not one."""
    match = _QUANTITY.match(str(text))
    if match is None:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number + suffix)
        return Decimal(number) * _SUFFIX[suffix]
    except (InvalidOperation, KeyError):
        return None


def _equal_scalars(desired: Any, live: Any, quantity: bool) -> bool:
    if desired == live:
        return True
    if quantity:
        a, b = parse_quantity(desired), parse_quantity(live)
        return a is not None and a == b
    return False


def is_subset(desired: Any, live: Any, *, quantity: bool = False) -> bool:
    """True when every field of ``desired`` is in ``live`` with an equal value.

    ``quantity``: compare scalars as Kubernetes quantities (below requests/limits/sizeLimit).
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return not desired and live is None
        for name, value in desired.items():
            if name not in live:
                if value in ({}, [], None):
                    continue
                return False
            if not is_subset(value, live[name], quantity=quantity or name in _QUANTITY_PARENTS):
                return False
        return True
    if isinstance(desired, list):
        if live is None:
            return not desired
        if not isinstance(live, list):
            return False
        if desired and all(isinstance(d, dict) and "name" in d for d in desired):
            by_name = {item.get("name"): item for item in live if isinstance(item, dict)}
            return all(is_subset(d, by_name.get(d["name"])) for d in desired)
        return len(desired) == len(live) and all(
            is_subset(d, item) for d, item in zip(desired, live, strict=True)
        )
    return _equal_scalars(desired, live, quantity)


def manifest_hash(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:20]


def with_applied_hash(manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``manifest`` carrying the hash of itself in an annotation."""
    digest = manifest_hash(manifest)
    metadata = dict(manifest["metadata"])
    metadata["annotations"] = {**metadata.get("annotations", {}), APPLIED_HASH_ANNOTATION: digest}
    return {**manifest, "metadata": metadata}


def needs_apply(desired_with_hash: dict[str, Any], live: dict[str, Any] | None) -> bool:
    """Whether applying would change anything (desired must already carry its hash)."""
    return live is None or not is_subset(desired_with_hash, live)
