"""The operator's own Prometheus metrics, on axiom_runtime.metrics (one registry
implementation for the whole project), served by a small aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from axiom_runtime.metrics import CONTENT_TYPE, Counter, Gauge, Histogram, Registry

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class OperatorMetrics:
    registry: Registry = field(default_factory=Registry)

    def __post_init__(self) -> None:
        r = self.registry
        self.reconciles: Counter = r.counter(
            "axiom_operator_reconciles_total",
            "Reconcile passes by trigger and result.",
            ("trigger", "result"),
        )
        self.errors: Counter = r.counter(
            "axiom_operator_errors_total",
            "Reconcile errors by kind (temporary|permanent|unexpected).",
            ("kind",),
        )
        self.duration: Histogram = r.histogram(
            "axiom_operator_reconcile_duration_seconds",
            "Duration of one reconcile pass.",
            buckets=_DURATION_BUCKETS,
        )
        self.api_writes: Counter = r.counter(
            "axiom_operator_api_writes_total",
            "Writes sent to the apiserver, by verb and kind.",
            ("verb", "kind"),
        )
        self.models: Gauge = r.gauge("axiom_operator_models", "AxiomModels by phase.", ("phase",))

    def render(self) -> str:
        return self.registry.render()


async def start_metrics_server(metrics: OperatorMetrics, host: str, port: int) -> web.AppRunner:
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
