"""The operator's one event recorder: core/v1 Events about AxiomModels, aggregated.

Like client-go's event correlator: the same Event (object, type, reason, message) again
within ``AGGREGATION_SECONDS`` raises the count of the one already posted instead of adding
another, so ``kubectl describe`` shows "x3 over 2m" rather than three lines. The memory of
what was posted is the recorder's, not the API client's.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import UTC, datetime
from uuid import uuid4

from axiom_operator import api
from axiom_operator.kube import FIELD_MANAGER, APINotFoundError, Kube
from axiom_operator.status import rfc3339
from axiom_operator.values import Event, ModelIdentity

AGGREGATION_SECONDS = 600.0
CACHE_SIZE = 1024
MESSAGE_LIMIT = 1024


class EventRecorder:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        # key -> (name of the Event posted, its count, when it was first posted)
        self.recent: OrderedDict[tuple[str, ...], tuple[str, int, float]] = OrderedDict()

    async def post(self, model: ModelIdentity, event: Event) -> None:
        """Post ``event`` about ``model``; a repeat within the window updates the first one."""
        now = rfc3339(datetime.now(UTC))
        message = event.message[:MESSAGE_LIMIT]
        key = (model.namespace, model.name, model.uid, event.type, event.reason, message)
        seen = self.recent.get(key)
        if seen is not None and time.monotonic() - seen[2] < AGGREGATION_SECONDS:
            name, count, first_seen = seen
            try:
                await self.kube.count_event(name, model.namespace, count + 1, now)
            except APINotFoundError:
                pass  # the apiserver's Event TTL removed it: post a new one
            else:
                self.recent[key] = (name, count + 1, first_seen)
                return
        name = f"{model.name}.{uuid4().hex[:12]}"
        await self.kube.create_event(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": model.namespace},
                "involvedObject": {
                    "apiVersion": f"{api.GROUP}/{api.VERSION}",
                    "kind": api.KIND,
                    "name": model.name,
                    "namespace": model.namespace,
                    "uid": model.uid,
                },
                "type": event.type,
                "reason": event.reason,
                "message": message,
                "source": {"component": FIELD_MANAGER},
                "reportingComponent": FIELD_MANAGER,
                "reportingInstance": FIELD_MANAGER,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            }
        )
        self.recent[key] = (name, 1, time.monotonic())
        self.recent.move_to_end(key)
        while len(self.recent) > CACHE_SIZE:
            self.recent.popitem(last=False)
