"""The ownerReference that ties every child to its AxiomModel, so deleting the model
garbage-collects the children and the operator's child watches can find the owner.

It is also how the operator tells its objects from everyone else's: it writes only objects
whose controller reference names this AxiomModel by uid. An object of another holder with a
name the model needs (a user's Service ``web``, another model's ``web-v1``, a Helm release's
ConfigMap) is never written, unless it carries ``axiom.dev/adopt: <model name>``: a person
who may write that object says, on the object itself, that this model may take it over.
"""

from __future__ import annotations

from collections.abc import Mapping
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


ADOPT_ANNOTATION = "axiom.dev/adopt"


def controller_reference(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def is_controlled_by(obj: Mapping[str, Any], name: str, uid: str) -> bool:
    """Whether this AxiomModel (by name and uid) is ``obj``'s controller."""
    ref = controller_reference(obj)
    return (
        ref is not None
        and ref.get("kind") == api.KIND
        and str(ref.get("apiVersion", "")).startswith(f"{api.GROUP}/")
        and ref.get("name") == name
        and ref.get("uid") == uid
    )


def adoption_requested(obj: Mapping[str, Any], model: str) -> bool:
    """The object's holder let this model take it over (``axiom.dev/adopt: <model>``)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(ADOPT_ANNOTATION) == model


def holder_of(obj: Mapping[str, Any]) -> str:
    """Who owns or manages ``obj``, for people (the controller, a Helm release, managers)."""
    meta = obj.get("metadata") or {}
    ref = controller_reference(obj)
    if ref is not None:
        what = f"controlled by {ref.get('kind')} {ref.get('name')}"
        if ref.get("kind") == api.KIND and ref.get("name") == meta.get("name"):
            return what
        return what + (f" (uid {ref.get('uid')})" if ref.get("kind") == api.KIND else "")
    annotations = meta.get("annotations") or {}
    release = annotations.get("meta.helm.sh/release-name")
    if release:
        namespace = annotations.get("meta.helm.sh/release-namespace", meta.get("namespace"))
        return f"Helm release {namespace}/{release}"
    managers = sorted(
        {str(m.get("manager")) for m in meta.get("managedFields") or () if m.get("manager")}
    )
    if managers:
        return f"managed by {', '.join(managers)}"
    return "no owner"


def owner_of(child: dict[str, Any]) -> str | None:
    """Name of the AxiomModel controlling ``child`` (None for anything else)."""
    for ref in child.get("metadata", {}).get("ownerReferences") or ():
        if ref.get("kind") == api.KIND and ref.get("apiVersion", "").startswith(f"{api.GROUP}/"):
            return str(ref["name"])
    return None
