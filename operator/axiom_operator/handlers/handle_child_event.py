"""A child (Deployment, Service, HPA, runtime ConfigMap) changed or vanished: ask for a pass
of its owner, so drift is repaired and the model's status follows its Deployments."""

from __future__ import annotations

from typing import Any

from axiom_operator.queue import ReconcileQueue
from axiom_operator.resources.owner import owner_of
from axiom_operator.values import ModelKey


def owner_key(child: dict[str, Any]) -> ModelKey | None:
    name = owner_of(child)
    namespace = child.get("metadata", {}).get("namespace")
    return None if name is None or namespace is None else (namespace, name)


def handle_child_event(
    queue: ReconcileQueue, event_type: str | None, child: dict[str, Any]
) -> None:
    if event_type is None:  # the initial listing: the models' resume handlers cover it
        return
    key = owner_key(child)
    if key is not None:
        queue.request(key, "child")
