"""Per-operator-run state shared by the handlers (kept in kopf's ``memo``, never global, so
several operators can run in one process in tests)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from axiom_operator.certificates import PackageHashCache
from axiom_operator.kube import Kube
from axiom_operator.metrics import OperatorMetrics
from axiom_operator.settings import OperatorSettings

if TYPE_CHECKING:
    from axiom_operator.observe import Baseline

ModelKey = tuple[str, str]  # (namespace, name)


@dataclass
class OperatorContext:
    settings: OperatorSettings
    kube: Kube
    metrics: OperatorMetrics
    package_hashes: PackageHashCache = field(default_factory=PackageHashCache)
    locks: dict[ModelKey, asyncio.Lock] = field(default_factory=dict)
    # Coalescing of child-triggered reconciles: a key is here while one is queued/running.
    pending: dict[ModelKey, bool] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    phases: dict[ModelKey, str] = field(default_factory=dict)
    metrics_runner: web.AppRunner | None = None
    # Rollouts: analysis baselines (memory only, see observe.py), the client for pod
    # /ready and /metrics, and one pending timed reconcile per model (RequeueAfter).
    baselines: dict[ModelKey, Baseline] = field(default_factory=dict)
    http: aiohttp.ClientSession | None = None
    requeues: dict[ModelKey, asyncio.TimerHandle] = field(default_factory=dict)

    def lock(self, key: ModelKey) -> asyncio.Lock:
        return self.locks.setdefault(key, asyncio.Lock())

    def record_phase(self, key: ModelKey, phase: str | None) -> None:
        if phase is None:
            self.phases.pop(key, None)
        else:
            self.phases[key] = phase
        counts: dict[str, int] = {}
        for value in self.phases.values():
            counts[value] = counts.get(value, 0) + 1
        self.metrics.set_models_by_phase(counts)
