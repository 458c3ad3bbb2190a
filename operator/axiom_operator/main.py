"""Kopf registrations of the Axiom operator, and nothing else.

Run with ``axiom operator`` or ``kopf run -m axiom_operator.main``. Each function here only
unpacks what Kopf passes and delegates to ``handlers/``; the translation of failures into
Kopf's two kinds happens here, at the edge: a bad spec is permanent (reported in status and
an Event, never retried until the spec changes), a not-yet-ready world or an apiserver hiccup
is temporary (retried with backoff).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from axiom_operator import api
from axiom_operator.handlers import handle_startup
from axiom_operator.handlers.handle_child_event import handle_child_event
from axiom_operator.handlers.handle_reconcile_model import (
    InvalidSpecError,
    WorldNotReadyError,
    reconcile,
    retry_delay,
)
from axiom_operator.kube import APIError
from axiom_operator.resources.labels import MANAGED_BY, MANAGED_BY_LABEL

MODELS = (api.GROUP, api.VERSION, api.PLURAL)
OWNED = {MANAGED_BY_LABEL: MANAGED_BY}
CHILD_KINDS = (
    ("apps", "v1", "deployments"),
    ("", "v1", "services"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    ("", "v1", "configmaps"),
)


def _plain(value: Any) -> Any:
    """Kopf's read-only body views as plain dicts/lists (the handlers take JSON-like data)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    await handle_startup.start(settings, memo)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await handle_startup.stop(memo)


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster ServiceAccount first, else the kubeconfig (``KUBECONFIG`` or ~/.kube/config).

    Explicit, because Kopf picks its fallback logins once, when its registry is first created:
    a process that imports this module before ``KUBECONFIG`` is set (tests, embedding) would
    otherwise run with no credentials at all.
    """
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.probe(id="models")
def probe_models(memo: kopf.Memo, **_: Any) -> int:
    return len(memo.ctx.phases)


@kopf.on.resume(*MODELS, backoff=5)
@kopf.on.create(*MODELS, backoff=5)
@kopf.on.update(*MODELS, backoff=5)
async def reconcile_model(body: kopf.Body, reason: str, memo: kopf.Memo, **_: Any) -> None:
    ctx = memo.ctx
    key = (body["metadata"]["namespace"], body["metadata"]["name"])
    try:
        async with ctx.lock(key):
            fresh = await ctx.kube.get(api.KIND, key[1], key[0]) or _plain(body)
            await reconcile(ctx, fresh, str(reason))
    except InvalidSpecError as error:
        raise kopf.PermanentError(str(error)) from error
    except (WorldNotReadyError, APIError) as error:
        raise kopf.TemporaryError(str(error), delay=retry_delay(error)) from error


@kopf.on.delete(*MODELS, optional=True)
async def forget_model(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    key = (body["metadata"]["namespace"], body["metadata"]["name"])
    memo.ctx.record_phase(key, None)
    memo.ctx.baselines.pop(key, None)
    requeue = memo.ctx.requeues.pop(key, None)
    if requeue is not None:
        requeue.cancel()


def _register_child_watch(group: str, version: str, plural: str) -> None:
    @kopf.on.event(group, version, plural, labels=OWNED, id=f"drift-{plural}")
    async def child_changed(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
        handle_child_event(memo.ctx, event.get("type"), dict(event["object"]))


for _child in CHILD_KINDS:
    _register_child_watch(*_child)
