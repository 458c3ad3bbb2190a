"""kubectl's connection flags -> the operator's ``Kube`` client and the namespace to use.

The same precedence as kubectl: ``--kubeconfig``, else ``$KUBECONFIG`` (the first file of a
colon-separated list that exists), else ``~/.kube/config``; ``--context`` picks a context
(default: the current one); ``-n`` overrides the context's namespace, which defaults to
``default``. The client is the operator's own (:class:`~axiom_operator.kube.Kube`), so a
refused request reads the same here as in the operator's log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
from lightkube import AsyncClient, KubeConfig

from axiom_operator.kube import Kube
from axiom_operator.metrics import OperatorMetrics

FIELD_MANAGER = "kubectl-axiom"
DEFAULT_KUBECONFIG = "~/.kube/config"


@dataclass(frozen=True)
class Target:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


def kubeconfig_path(flag: str | None, environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if flag:
        return Path(flag).expanduser()
    for entry in (env.get("KUBECONFIG") or "").split(os.pathsep):
        if entry and Path(entry).expanduser().is_file():
            return Path(entry).expanduser()
    return Path(DEFAULT_KUBECONFIG).expanduser()


def connect(target: Target, timeout: float = 30.0) -> tuple[Kube, str]:
    """A client for ``target`` and the namespace its commands act in."""
    config = KubeConfig.from_file(kubeconfig_path(target.kubeconfig)).get(target.context)
    if config is None:
        raise LookupError(f"context {target.context!r} not found in the kubeconfig")
    namespace = target.namespace or config.namespace or "default"
    client = AsyncClient(
        config=config,
        namespace=namespace,
        field_manager=FIELD_MANAGER,
        trust_env=False,
        timeout=httpx.Timeout(timeout, connect=10.0),
    )
    return Kube(client, OperatorMetrics()), namespace
