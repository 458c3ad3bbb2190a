"""The operator's own Prometheus metrics, on prometheus_client in a registry of its own (so
several operators can run in one test process), served by a small aiohttp app."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from axiom_runtime.metrics import CONTENT_TYPE, new_registry, render

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class OperatorMetrics:
    registry: CollectorRegistry = field(default_factory=new_registry)
    # Every phase ever reported, so a phase no model is in any more reads 0, not its last count.
    _phases_seen: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        r = self.registry
        self.reconciles: Counter = Counter(
            "axiom_operator_reconciles_total",
            "Reconcile passes by trigger and result.",
            ("trigger", "result"),
            registry=r,
        )
        self.errors: Counter = Counter(
            "axiom_operator_errors_total",
            "Reconcile errors by kind (temporary|permanent|unexpected).",
            ("kind",),
            registry=r,
        )
        self.duration: Histogram = Histogram(
            "axiom_operator_reconcile_duration_seconds",
            "Duration of one reconcile pass.",
            registry=r,
            buckets=_DURATION_BUCKETS,
        )
        self.notifications: Counter = Counter(
            "axiom_operator_notifications_total",
            "Webhook notifications by result (delivered|failed|dropped).",
            ("result",),
            registry=r,
        )
        self.api_writes: Counter = Counter(
            "axiom_operator_api_writes_total",
            "Writes sent to the apiserver, by verb and kind.",
            ("verb", "kind"),
            registry=r,
        )
        self.api_reads: Counter = Counter(
            "axiom_operator_api_reads_total",
            "Reads sent to the apiserver, by verb (get|list|watch) and kind.",
            ("verb", "kind"),
            registry=r,
        )
        self.cached_children: Gauge = Gauge(
            "axiom_operator_cached_children",
            "Children held in the watches' cache (Deployments, Services, ConfigMaps, HPAs).",
            registry=r,
        )
        self.models: Gauge = Gauge(
            "axiom_operator_models", "AxiomModels by phase.", ("phase",), registry=r
        )

    def set_models_by_phase(self, counts: Mapping[str, int]) -> None:
        """``axiom_operator_models`` from the number of models in each phase."""
        self._phases_seen.update(counts)
        for phase in self._phases_seen:
            self.models.labels(phase).set(counts.get(phase, 0))

    def render(self) -> bytes:
        return render(self.registry)


async def start_metrics_server(metrics: OperatorMetrics, host: str, port: int) -> web.AppRunner:
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
