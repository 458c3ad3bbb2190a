"""An AxiomModel was created, changed, found at start-up, or deleted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from axiom_operator.queue import ReconcileQueue
from axiom_operator.values import ModelKey


def model_key(body: Mapping[str, Any]) -> ModelKey:
    return (body["metadata"]["namespace"], body["metadata"]["name"])


def handle_model_changed(queue: ReconcileQueue, body: Mapping[str, Any], reason: str) -> None:
    """Ask for a pass. The pass reads the model afresh, so what Kopf saw does not matter."""
    queue.request(model_key(body), reason)


def handle_model_deleted(queue: ReconcileQueue, body: Mapping[str, Any]) -> None:
    queue.forget(model_key(body))
