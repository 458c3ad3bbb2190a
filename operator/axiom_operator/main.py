"""Kopf registrations of the Axiom operator, and nothing else.

Run with ``axiom operator`` or ``kopf run -m axiom_operator.main``. Each function here only
unpacks what Kopf passes and hands it to ``handlers/``, which ask the reconcile queue for a
pass (``queue.py``): Kopf's own retries are never used, so a pass is retried, timed and
coalesced in one place whatever triggered it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import kopf

from axiom_operator import api
from axiom_operator.handlers import handle_startup

MODELS = (api.GROUP, api.VERSION, api.PLURAL)


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
    in_cluster = kopf.login_with_service_account(**kwargs)
    server = in_cluster_server(os.environ)
    if in_cluster is not None and server is not None:
        # Kopf's own in-cluster login names https://kubernetes.default.svc, which needs cluster
        # DNS; client-go uses the address the kubelet puts in every container's environment.
        in_cluster = dataclasses.replace(in_cluster, server=server)
    return in_cluster or kopf.login_with_kubeconfig(**kwargs)


def in_cluster_server(environ: Mapping[str, str]) -> str | None:
    """``https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT`` as client-go builds it
    (an IPv6 host in brackets), or None outside a pod."""
    host = environ.get("KUBERNETES_SERVICE_HOST", "")
    port = environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        return None
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


@kopf.on.probe(id="models")
def probe_models(memo: kopf.Memo, **_: Any) -> int:
    return len(memo.ctx.phases)


# async: Kopf runs plain functions in a thread pool, and the queue belongs to the event loop.
# A raw event handler, not on.create/update/resume: those write Kopf's diff base into the
# model on every change (handlers/handle_model.py says why none of it is needed).
# The children (Deployments, Services, ConfigMaps, HPAs) are watched by the operator's own
# list-then-watch loops, which also fill the cache passes read them from
# (handlers/watch_children.py says why not Kopf's).
@kopf.on.event(*MODELS, id="models")
async def model_changed(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo.model_watch.event(event.get("type"), event["object"])
