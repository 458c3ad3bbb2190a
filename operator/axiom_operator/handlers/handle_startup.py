"""Operator start and stop: every Kopf setting in one place, the shared context and the
reconcile queue in ``memo``, the metrics server.

Settings chosen deliberately:
- peering: on by default under the name ``axiom-operator``, with a random priority unless one
  is given, so that of two replicas exactly one acts (equal priorities would pause both);
  ``--standalone`` turns it off.
- watching: the server closes each watch after ``AXIOM_OPERATOR_WATCH_SERVER_TIMEOUT`` (300 s)
  and the client gives up 30 s later, so a silently dead connection (apiserver restart behind
  a load balancer) is noticed within minutes, not never.
- networking: every request times out (``AXIOM_OPERATOR_REQUEST_TIMEOUT``, 30 s) and errors
  back off 1, 2, 5, 10, 30, 60 s.
- progress and diff-base in annotations under ``kopf.axiom.dev``: the status belongs to the
  operator's own schema (kopf's status fields would be pruned by the structural schema).
- posting: only warnings of Kopf's own logs become Events; the handlers post their decisions.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import kopf

from axiom_operator.child_cache import ChildCache
from axiom_operator.context import OperatorContext
from axiom_operator.handlers.handle_model import ModelWatch
from axiom_operator.handlers.watch_children import WATCHED_KINDS, ChildWatches
from axiom_operator.kube import Kube
from axiom_operator.metrics import OperatorMetrics, start_metrics_server
from axiom_operator.queue import ReconcileQueue
from axiom_operator.settings import OperatorSettings

PEERING_NAME = "axiom-operator"
STORAGE_PREFIX = "kopf.axiom.dev"


def configure_kopf(settings: kopf.OperatorSettings, ours: OperatorSettings) -> None:
    if not settings.peering.standalone:
        if settings.peering.name == "default":
            settings.peering.name = PEERING_NAME
        if settings.peering.priority == 0:
            settings.peering.priority = random.randint(1, 2**31 - 1)  # a tie-breaker, not a secret
    settings.watching.server_timeout = ours.watch_server_timeout
    settings.watching.client_timeout = ours.watch_server_timeout + 30
    settings.watching.connect_timeout = 10
    settings.watching.reconnect_backoff = 1.0
    settings.networking.request_timeout = ours.request_timeout
    settings.networking.connect_timeout = 10
    settings.networking.error_backoffs = [1, 2, 5, 10, 30, 60]
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=STORAGE_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=STORAGE_PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = "axiom.dev/operator"
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = "axiom-operator"
    # lightkube's HTTP client logs every request at INFO: thousands of lines per minute at scale.
    logging.getLogger("httpx2").setLevel(logging.WARNING)


async def start(settings: kopf.OperatorSettings, memo: Any) -> OperatorContext:
    ours = OperatorSettings.from_env()
    configure_kopf(settings, ours)
    metrics = OperatorMetrics()
    kube = Kube.from_environment(metrics, ours.request_timeout)
    kube.children = ChildCache(WATCHED_KINDS)
    ctx = OperatorContext(settings=ours, kube=kube, metrics=metrics)
    if ours.metrics_port:
        ctx.metrics_runner = await start_metrics_server(
            metrics, ours.metrics_host, ours.metrics_port
        )
    memo.ctx = ctx
    memo.queue = ReconcileQueue(ctx)
    memo.model_watch = ModelWatch(memo.queue)
    memo.child_watches = ChildWatches(
        kube,
        kube.children,
        memo.model_watch.child_changed,
        namespaces=ours.namespaces,
        server_timeout=ours.watch_server_timeout,
    )
    memo.child_watches.start()
    return ctx


async def stop(memo: Any) -> None:
    watches: ChildWatches | None = getattr(memo, "child_watches", None)
    if watches is not None:
        await watches.close()
    queue: ReconcileQueue | None = getattr(memo, "queue", None)
    if queue is not None:
        await queue.close()
    ctx: OperatorContext | None = getattr(memo, "ctx", None)
    if ctx is None:
        return
    await ctx.gates.close()
    await ctx.notifier.close()
    if ctx.http is not None:
        await ctx.http.close()
    if ctx.metrics_runner is not None:
        await ctx.metrics_runner.cleanup()
    await ctx.kube.close()
