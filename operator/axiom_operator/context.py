"""Per-operator-run state shared by the stages of a pass (kept in kopf's ``memo``, never
global, so several operators can run in one process in tests).

What lives here is what outlives one pass: the clients, the caches, and the analysis
baselines (memory only: see ``observe/analysis.py``). The queue of passes is not here: it sits above
the pass (``queue.py``) and the pass knows nothing of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from axiom_operator.certificates import PackageHashCache
from axiom_operator.events import EventRecorder
from axiom_operator.kube import Kube
from axiom_operator.metrics import OperatorMetrics
from axiom_operator.notify.gates import GateCaller
from axiom_operator.notify.notifier import Notifier
from axiom_operator.settings import OperatorSettings
from axiom_operator.values import Baseline, ModelKey


@dataclass
class OperatorContext:
    settings: OperatorSettings
    kube: Kube
    metrics: OperatorMetrics
    package_hashes: PackageHashCache = field(default_factory=PackageHashCache)
    phases: dict[ModelKey, str] = field(default_factory=dict)
    metrics_runner: web.AppRunner | None = None
    # Analysis baselines by model, and the client for pods' /ready and /metrics.
    baselines: dict[ModelKey, Baseline] = field(default_factory=dict)
    http: aiohttp.ClientSession | None = None
    events: EventRecorder = field(init=False)
    notifier: Notifier = field(init=False)
    gates: GateCaller = field(init=False)

    def __post_init__(self) -> None:
        self.events = EventRecorder(self.kube)
        self.notifier = Notifier(self.kube, self.metrics)
        self.gates = GateCaller(self.kube, self.notifier)

    def record_phase(self, key: ModelKey, phase: str | None) -> None:
        if phase is None:
            self.phases.pop(key, None)
        else:
            self.phases[key] = phase
        counts: dict[str, int] = {}
        for value in self.phases.values():
            counts[value] = counts.get(value, 0) + 1
        self.metrics.set_models_by_phase(counts)

    def forget(self, key: ModelKey) -> None:
        """What the operator remembers of a model that is gone."""
        self.record_phase(key, None)
        self.baselines.pop(key, None)
        self.gates.forget(key)

    def pod_session(self) -> aiohttp.ClientSession:
        """The one client for pods' /ready and /metrics (and Prometheus), made on first use."""
        if self.http is None or self.http.closed:
            timeout = aiohttp.ClientTimeout(
                total=self.settings.pod_request_timeout, connect=self.settings.pod_request_timeout
            )
            # trust_env False: a proxy variable must never route pod traffic elsewhere.
            self.http = aiohttp.ClientSession(timeout=timeout, trust_env=False)
        return self.http
