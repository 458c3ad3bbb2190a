"""Delivery of rollout events to webhooks, off the reconcile path.

A pass only hands an Event to :meth:`Notifier.notify`, which never waits: the notice goes into
a bounded inbox (full: dropped and counted, never blocking the pass). One dispatcher task
reads each notice's model and notifications Secret and hands the body to each subscribed
receiver's own bounded queue; each receiver has its own worker, so a receiver that hangs or
fails delays only its own deliveries, never another receiver's, another model's, or a pass.
A full receiver queue drops its oldest notice (and counts it): the newest say most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pydantic

from axiom_operator import api
from axiom_operator.kube import APIError, Kube
from axiom_operator.metrics import OperatorMetrics
from axiom_operator.notify import hooks, payloads
from axiom_operator.notify.payloads import Notice
from axiom_operator.status import rfc3339
from axiom_operator.values import Event, ModelIdentity

logger = logging.getLogger(__name__)
INBOX_SIZE = 1000
RECEIVER_QUEUE_SIZE = 100
ReceiverKey = tuple[str, str, str]  # (namespace, model, webhook name)


@dataclass(frozen=True)
class Delivery:
    endpoint: hooks.Endpoint
    payload: dict[str, Any]


@dataclass
class Receiver:
    queue: asyncio.Queue[Delivery] = field(
        default_factory=lambda: asyncio.Queue(RECEIVER_QUEUE_SIZE)
    )
    task: asyncio.Task[None] | None = None


class Notifier:
    def __init__(self, kube: Kube, metrics: OperatorMetrics) -> None:
        self.kube = kube
        self.metrics = metrics
        self.inbox: asyncio.Queue[Notice] | None = None
        self.dispatcher: asyncio.Task[None] | None = None
        self.receivers: dict[ReceiverKey, Receiver] = {}
        self.session: aiohttp.ClientSession | None = None

    def notify(self, model: ModelIdentity, event: Event) -> None:
        """Queue ``event`` if it is a rollout event; returns at once."""
        kind = payloads.rollout_event(event.reason)
        if kind is None:
            return
        if self.inbox is None:
            self.inbox = asyncio.Queue(INBOX_SIZE)
            self.dispatcher = asyncio.create_task(self._dispatch(), name="axiom-notify")
        notice = Notice(
            model.namespace,
            model.name,
            model.uid,
            kind,
            event.type,
            event.reason,
            event.message,
            rfc3339(datetime.now(UTC)),
        )
        try:
            self.inbox.put_nowait(notice)
        except asyncio.QueueFull:
            self.metrics.notifications.labels("dropped").inc()

    async def _dispatch(self) -> None:
        assert self.inbox is not None
        while True:
            notice = await self.inbox.get()
            try:
                await self._route(notice)
            except (APIError, hooks.HookConfigError, pydantic.ValidationError) as error:
                self.metrics.notifications.labels("failed").inc()
                logger.warning("notification for %s/%s: %s", notice.namespace, notice.name, error)

    async def _route(self, notice: Notice) -> None:
        model = await self.kube.get(api.KIND, notice.name, notice.namespace)
        raw = ((model or {}).get("spec") or {}).get("notifications")
        if model is None or not raw:
            return
        spec = api.NotificationsSpec.model_validate(raw)
        webhooks = [w for w in spec.webhooks or () if w.events is None or notice.event in w.events]
        if not webhooks:
            return
        entries = await hooks.secret_entries(self.kube, notice.namespace, spec)
        secret = f"{notice.namespace}/{spec.secret_ref.name}"
        for webhook in webhooks:
            endpoint = hooks.endpoint(webhook, entries, secret)
            delivery = Delivery(endpoint, payloads.body(webhook.format, notice, model))
            self._offer((notice.namespace, notice.name, webhook.name), delivery)

    def _offer(self, key: ReceiverKey, delivery: Delivery) -> None:
        receiver = self.receivers.get(key)
        if receiver is None:
            receiver = self.receivers[key] = Receiver()
            receiver.task = asyncio.create_task(self._deliver(receiver), name=f"axiom-hook-{key}")
        if receiver.queue.full():
            receiver.queue.get_nowait()
            self.metrics.notifications.labels("dropped").inc()
        receiver.queue.put_nowait(delivery)

    def http(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            # trust_env False: a proxy variable must not route hook calls (and tokens) elsewhere
            self.session = aiohttp.ClientSession(trust_env=False)
        return self.session

    async def _deliver(self, receiver: Receiver) -> None:
        while True:
            delivery = await receiver.queue.get()
            delivered = await hooks.call(self.http(), delivery.endpoint, delivery.payload)
            self.metrics.notifications.labels("delivered" if delivered else "failed").inc()

    async def close(self) -> None:
        tasks = [r.task for r in self.receivers.values() if r.task is not None]
        tasks += [self.dispatcher] if self.dispatcher is not None else []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.session is not None:
            await self.session.close()
