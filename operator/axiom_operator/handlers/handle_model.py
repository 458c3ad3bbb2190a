"""An AxiomModel was created, changed, found at start-up, or deleted.

The operator watches models with a plain Kopf event handler, not Kopf's create/update/resume
handlers: those keep their diff base and progress in annotations on the model, one more API
write per spec change (measured: 1 of the 15 writes a new model cost; see
docs/operator-at-scale.md). A pass reads the model afresh and compares it with its children,
so nothing Kopf would remember is needed; what is needed is to tell the operator's own status
patches (which change neither the spec nor the metadata the operator reads) from a person's
change, which :class:`ModelWatch` does from the watch events alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from axiom_operator.queue import ReconcileQueue
from axiom_operator.values import ModelKey


def model_key(body: Mapping[str, Any]) -> ModelKey:
    return (body["metadata"]["namespace"], body["metadata"]["name"])


def _what_the_operator_reads(body: Mapping[str, Any]) -> str:
    """Everything of a model that can change a pass's outcome, except its status.

    ``generation`` covers the spec; annotations carry the requests (rollback, promote, pause,
    adopt); labels and the deletion mark matter too. Status is the operator's own output."""
    metadata = body.get("metadata") or {}
    return json.dumps(
        [
            metadata.get("generation"),
            metadata.get("annotations") or {},
            metadata.get("labels") or {},
            metadata.get("deletionTimestamp"),
        ],
        sort_keys=True,
    )


class ModelWatch:
    """Turns the model watch's events into pass requests: one per real change."""

    def __init__(self, queue: ReconcileQueue) -> None:
        self.queue = queue
        self._seen: dict[ModelKey, str] = {}

    def knows(self, key: ModelKey) -> bool:
        """Whether the model watch has delivered this model (and not its deletion)."""
        return key in self._seen

    def child_changed(self, key: ModelKey, why: str) -> None:
        """A child's event asks for a pass only of a model this watch has delivered. A
        replica that Kopf keeps paused under peering (another has a higher priority) is never
        given its models, so the child watches, which run in every replica to keep the cache
        warm, make it act on nothing (tests/e2e/test_peering.py)."""
        if self.knows(key):
            self.queue.request(key, why)

    def event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = model_key(body)
        if event_type == "DELETED":
            self._seen.pop(key, None)
            self.queue.forget(key)
            return
        seen = _what_the_operator_reads(body)
        if self._seen.get(key) == seen:
            # A status patch (most likely the operator's own), or a known model unchanged in
            # the listing Kopf makes each time it restarts its watch (every
            # AXIOM_OPERATOR_WATCH_SERVER_TIMEOUT): nothing to act on. Measured: re-listing
            # 1,000 models as 1,000 passes delayed a new model's first pass by seconds.
            return
        self._seen[key] = seen
        # None: the watch's initial listing: at start-up every model is new here.
        self.queue.request(key, "start-up" if event_type is None else event_type.lower())
