"""CPU cost of the metric calls one inference request makes, in-process, without HTTP.

Per request the server observes its latency and counts its outcome; per forward pass it
observes the batch size and each row's confidence. This times exactly those calls for
batches of 1-64 one-row requests and prints microseconds per request, so two runtime
trees can be compared where the HTTP bench (runtime_cpu_bench.py) is too noisy to see it.

Usage: PYTHONPATH=<runtime tree> python bench/metrics_calls_bench.py
"""

from __future__ import annotations

import timeit

import numpy as np

from axiom_runtime import metrics
from axiom_runtime.server.runtime_metrics import RuntimeMetrics


def main() -> None:
    # new_registry since prometheus_client; the hand-written registry was metrics.Registry.
    make_registry = getattr(metrics, "new_registry", None) or metrics.Registry
    registry = make_registry()
    runtime = RuntimeMetrics(registry, "digits", "1.0.0")
    rng = np.random.default_rng(0)
    for rows in (1, 4, 16, 32, 64):
        confidences = rng.random(rows).astype(np.float32)

        def one_batch(rows: int = rows, confidences: np.ndarray = confidences) -> None:
            for _ in range(rows):
                runtime.latency.observe(0.0021)
                runtime.ok.inc()
            runtime.batch_size.observe(rows)
            runtime.confidence.observe_many(confidences)

        seconds = min(timeit.repeat(one_batch, number=2000, repeat=7)) / 2000
        print(f"{rows:>2} requests per batch: {seconds / rows * 1e6:.2f} µs per request")


if __name__ == "__main__":
    main()
