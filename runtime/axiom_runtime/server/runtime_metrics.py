"""The runtime's Prometheus metrics, bound once to this pod's model name and version.

Names are a contract (CONTRACT-server-traffic.md) read by the operator's analysis and by
dashboards. Children are resolved once here, so the request path only calls ``observe``.
"""

from __future__ import annotations

from axiom_runtime.metrics import CounterChild, GaugeChild, HistogramChild, Registry

MODEL_LABELS = ("model", "version")

# Finer than the prometheus_client defaults at the low end: a local answer takes ~1 ms.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class RuntimeMetrics:
    """Metric families in ``registry`` and their children for one model version."""

    def __init__(self, registry: Registry, model: str, version: str) -> None:
        self.registry = registry
        latency = registry.histogram(
            "axiom_inference_latency_seconds",
            "Time from request body read to response ready, per inference request.",
            MODEL_LABELS,
            LATENCY_BUCKETS,
        )
        total = registry.counter(
            "axiom_inference_total",
            "Inference requests by outcome (ok, client_error, server_error).",
            (*MODEL_LABELS, "status"),
        )
        confidence = registry.histogram(
            "axiom_model_confidence",
            "Top-class probability of each predicted row (classifiers only).",
            MODEL_LABELS,
            CONFIDENCE_BUCKETS,
        )
        batch_size = registry.histogram(
            "axiom_batch_size",
            "Rows per forward pass after micro-batching.",
            MODEL_LABELS,
            BATCH_SIZE_BUCKETS,
        )
        ready = registry.gauge("axiom_ready", "1 when the server is ready to serve.", MODEL_LABELS)
        certificate_valid = registry.gauge(
            "axiom_certificate_valid",
            "1 when the model certificate verified against the trusted keys.",
            MODEL_LABELS,
        )
        generation = registry.gauge(
            "axiom_traffic_config_generation",
            "Generation of the applied traffic config; -1 when none.",
            MODEL_LABELS,
        )
        self.latency: HistogramChild = latency.labels(model, version)
        self.ok: CounterChild = total.labels(model, version, "ok")
        self.client_error: CounterChild = total.labels(model, version, "client_error")
        self.server_error: CounterChild = total.labels(model, version, "server_error")
        self.confidence: HistogramChild = confidence.labels(model, version)
        self.batch_size: HistogramChild = batch_size.labels(model, version)
        self.ready: GaugeChild = ready.labels(model, version)
        self.certificate_valid: GaugeChild = certificate_valid.labels(model, version)
        self.traffic_generation: GaugeChild = generation.labels(model, version)
        self.traffic_generation.set(-1)
