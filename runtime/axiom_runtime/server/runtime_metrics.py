"""The runtime's Prometheus metrics, bound once to this pod's model name and version.

Names are a contract (CONTRACT-server-traffic.md, :mod:`axiom_runtime.metric_names`) read by
the operator's analysis and by dashboards. Children are resolved once here, so the request
path only calls ``observe`` and ``inc``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from axiom_runtime import metric_names as names
from axiom_runtime.histogram import BatchHistogram, HistogramChild

# Finer than the prometheus_client defaults at the low end: a local answer takes ~1 ms.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class RuntimeMetrics:
    """Metric families in ``registry`` and their children for one model version."""

    def __init__(self, registry: CollectorRegistry, model: str, version: str) -> None:
        self.registry = registry
        labels = names.MODEL_LABELS
        latency = Histogram(
            names.INFERENCE_LATENCY,
            "Time from request body read to response ready, per inference request.",
            labels,
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        total = Counter(
            names.INFERENCE_TOTAL,
            "Inference requests by outcome (ok, client_error, server_error).",
            (*labels, names.STATUS_LABEL),
            registry=registry,
        )
        # One value per row of each batch: prometheus_client observes one value per call,
        # which cost 64-row requests 17 % more CPU (docs/runtime-bench.md).
        confidence = BatchHistogram(
            names.MODEL_CONFIDENCE,
            "Top-class probability of each predicted row (classifiers only).",
            labels,
            registry=registry,
            buckets=CONFIDENCE_BUCKETS,
        )
        batch_size = Histogram(
            names.BATCH_SIZE,
            "Rows per forward pass after micro-batching.",
            labels,
            registry=registry,
            buckets=BATCH_SIZE_BUCKETS,
        )
        ready = Gauge(
            names.READY, "1 when the server is ready to serve.", labels, registry=registry
        )
        certificate_valid = Gauge(
            names.CERTIFICATE_VALID,
            "1 when the model certificate verified against the trusted keys.",
            labels,
            registry=registry,
        )
        # Registered here, not by the splitter: a pod without a splitter reports -1.
        generation = Gauge(
            names.TRAFFIC_CONFIG_GENERATION,
            "Generation of the applied traffic config; -1 when none.",
            labels,
            registry=registry,
        )
        self.latency: Histogram = latency.labels(model, version)
        self.ok: Counter = total.labels(model, version, names.STATUS_OK)
        self.client_error: Counter = total.labels(model, version, names.STATUS_CLIENT_ERROR)
        self.server_error: Counter = total.labels(model, version, names.STATUS_SERVER_ERROR)
        self.confidence: HistogramChild = confidence.labels(model, version)
        self.batch_size: Histogram = batch_size.labels(model, version)
        self.ready: Gauge = ready.labels(model, version)
        self.certificate_valid: Gauge = certificate_valid.labels(model, version)
        self.traffic_generation: Gauge = generation.labels(model, version)
        self.traffic_generation.set(-1)
