"""The ownerReference that ties every child to its AxiomModel, so deleting the model
garbage-collects the children and the operator's child watches can find the owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from axiom_operator import api


@dataclass(frozen=True)
class Owner:
    """Identity of the AxiomModel that owns the objects being built."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": f"{api.GROUP}/{api.VERSION}",
            "kind": api.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def object_meta(
    owner: Owner, name: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "labels": dict(labels),
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def owner_of(child: dict[str, Any]) -> str | None:
    """Name of the AxiomModel controlling ``child`` (None for anything else)."""
    for ref in child.get("metadata", {}).get("ownerReferences") or ():
        if ref.get("kind") == api.KIND and ref.get("apiVersion", "").startswith(f"{api.GROUP}/"):
            return str(ref["name"])
    return None
