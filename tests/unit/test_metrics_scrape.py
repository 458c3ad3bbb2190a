"""A captured runtime scrape, pinned with what the parser and the analysis read from it.

``CAPTURED`` is ``/metrics`` of a stable pod of ``digits`` 1.0.0 after a few requests and
forwards, as the hand-written registry rendered it before prometheus_client;
``PARSED_BEFORE`` is what the hand-written parser made of it. The parser on
prometheus_client must give the same samples, and the analysis the same window, from that
text and from today's exposition of the same observations.
"""

from __future__ import annotations

import numpy as np
import pytest

from axiom_operator.rollout.analysis import AnalysisSample
from axiom_operator.rollout.samples import window_sample
from axiom_runtime.metrics import new_registry, parse_prometheus_text, render
from axiom_runtime.server.runtime_metrics import RuntimeMetrics
from axiom_runtime.traffic.splitter import TrafficSplitter

CAPTURED = """\
# HELP axiom_inference_latency_seconds Time from request body read to response ready, per inference request.
# TYPE axiom_inference_latency_seconds histogram
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="0.0005"} 1
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="0.001"} 1
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="0.002"} 2
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="0.005"} 4
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="0.01"} 4
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="0.025"} 5
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="0.05"} 5
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="0.1"} 5
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="0.25"} 5
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="0.5"} 6
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="1.0"} 6
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="2.5"} 6
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="5.0"} 6
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="10.0"} 6
axiom_inference_latency_seconds_bucket{model="digits",version="1.0.0",le="+Inf"} 6
axiom_inference_latency_seconds_sum{model="digits",version="1.0.0"} 0.3278
axiom_inference_latency_seconds_count{model="digits",version="1.0.0"} 6
# HELP axiom_inference_total Inference requests by outcome (ok, client_error, server_error).
# TYPE axiom_inference_total counter
axiom_inference_total{model="digits",version="1.0.0",status="ok"} 5
axiom_inference_total{model="digits",version="1.0.0",status="client_error"} 1
axiom_inference_total{model="digits",version="1.0.0",status="server_error"} 1
# HELP axiom_model_confidence Top-class probability of each predicted row (classifiers only).
# TYPE axiom_model_confidence histogram
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="0.1"} 0
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="0.2"} 0
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="0.3"} 0
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="0.4"} 1
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="0.5"} 1
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="0.6"} 2
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="0.7"} 2
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="0.8"} 3
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="0.9"} 3
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="0.95"} 4
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="0.99"} 5
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="1.0"} 7
axiom_model_confidence_bucket{model="digits",version="1.0.0",le="+Inf"} 7
axiom_model_confidence_sum{model="digits",version="1.0.0"} 5.579
axiom_model_confidence_count{model="digits",version="1.0.0"} 7
# HELP axiom_batch_size Rows per forward pass after micro-batching.
# TYPE axiom_batch_size histogram
axiom_batch_size_bucket{model="digits",version="1.0.0",le="1.0"} 0
axiom_batch_size_bucket{model="digits",version="1.0.0",le="2.0"} 0
axiom_batch_size_bucket{model="digits",version="1.0.0",le="4.0"} 2
axiom_batch_size_bucket{model="digits",version="1.0.0",le="8.0"} 2
axiom_batch_size_bucket{model="digits",version="1.0.0",le="16.0"} 2
axiom_batch_size_bucket{model="digits",version="1.0.0",le="32.0"} 2
axiom_batch_size_bucket{model="digits",version="1.0.0",le="64.0"} 2
axiom_batch_size_bucket{model="digits",version="1.0.0",le="128.0"} 2
axiom_batch_size_bucket{model="digits",version="1.0.0",le="256.0"} 2
axiom_batch_size_bucket{model="digits",version="1.0.0",le="512.0"} 2
axiom_batch_size_bucket{model="digits",version="1.0.0",le="1024.0"} 2
axiom_batch_size_bucket{model="digits",version="1.0.0",le="+Inf"} 2
axiom_batch_size_sum{model="digits",version="1.0.0"} 7
axiom_batch_size_count{model="digits",version="1.0.0"} 2
# HELP axiom_ready 1 when the server is ready to serve.
# TYPE axiom_ready gauge
axiom_ready{model="digits",version="1.0.0"} 1
# HELP axiom_certificate_valid 1 when the model certificate verified against the trusted keys.
# TYPE axiom_certificate_valid gauge
axiom_certificate_valid{model="digits",version="1.0.0"} 1
# HELP axiom_traffic_config_generation Generation of the applied traffic config; -1 when none.
# TYPE axiom_traffic_config_generation gauge
axiom_traffic_config_generation{model="digits",version="1.0.0"} 7
# HELP axiom_split_requests_total Inference requests by where this pod's splitter sent them.
# TYPE axiom_split_requests_total counter
axiom_split_requests_total{model="digits",version="1.0.0",target="stable"} 5
axiom_split_requests_total{model="digits",version="1.0.0",target="canary"} 2
# HELP axiom_canary_forward_failures_total Forwards to the canary answered locally instead, by failure class.
# TYPE axiom_canary_forward_failures_total counter
axiom_canary_forward_failures_total{model="digits",version="1.0.0",reason="connect"} 1
axiom_canary_forward_failures_total{model="digits",version="1.0.0",reason="timeout"} 1
axiom_canary_forward_failures_total{model="digits",version="1.0.0",reason="status_5xx"} 1
# HELP axiom_canary_forward_latency_seconds Time to get the canary's answer for a forwarded request.
# TYPE axiom_canary_forward_latency_seconds histogram
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="0.0005"} 0
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="0.001"} 0
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="0.0025"} 0
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="0.005"} 1
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="0.01"} 1
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="0.025"} 1
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="0.05"} 1
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="0.1"} 1
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="0.25"} 1
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="0.5"} 1
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="1.0"} 1
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="2.5"} 1
axiom_canary_forward_latency_seconds_bucket{model="digits",version="1.0.0",le="+Inf"} 1
axiom_canary_forward_latency_seconds_sum{model="digits",version="1.0.0"} 0.004
axiom_canary_forward_latency_seconds_count{model="digits",version="1.0.0"} 1
# HELP axiom_traffic_config_errors_total Traffic config files rejected (the last good config stays applied).
# TYPE axiom_traffic_config_errors_total counter
axiom_traffic_config_errors_total{model="digits",version="1.0.0"} 0
"""

PARSED_BEFORE: dict[str, list[tuple[dict[str, str], float]]] = {
    "axiom_inference_latency_seconds_bucket": [
        ({"model": "digits", "version": "1.0.0", "le": "0.0005"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.001"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.002"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.005"}, 4.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.01"}, 4.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.025"}, 5.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.05"}, 5.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.1"}, 5.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.25"}, 5.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.5"}, 6.0),
        ({"model": "digits", "version": "1.0.0", "le": "1.0"}, 6.0),
        ({"model": "digits", "version": "1.0.0", "le": "2.5"}, 6.0),
        ({"model": "digits", "version": "1.0.0", "le": "5.0"}, 6.0),
        ({"model": "digits", "version": "1.0.0", "le": "10.0"}, 6.0),
        ({"model": "digits", "version": "1.0.0", "le": "+Inf"}, 6.0),
    ],
    "axiom_inference_latency_seconds_sum": [
        ({"model": "digits", "version": "1.0.0"}, 0.3278),
    ],
    "axiom_inference_latency_seconds_count": [
        ({"model": "digits", "version": "1.0.0"}, 6.0),
    ],
    "axiom_inference_total": [
        ({"model": "digits", "version": "1.0.0", "status": "ok"}, 5.0),
        ({"model": "digits", "version": "1.0.0", "status": "client_error"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "status": "server_error"}, 1.0),
    ],
    "axiom_model_confidence_bucket": [
        ({"model": "digits", "version": "1.0.0", "le": "0.1"}, 0.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.2"}, 0.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.3"}, 0.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.4"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.5"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.6"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.7"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.8"}, 3.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.9"}, 3.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.95"}, 4.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.99"}, 5.0),
        ({"model": "digits", "version": "1.0.0", "le": "1.0"}, 7.0),
        ({"model": "digits", "version": "1.0.0", "le": "+Inf"}, 7.0),
    ],
    "axiom_model_confidence_sum": [
        ({"model": "digits", "version": "1.0.0"}, 5.579),
    ],
    "axiom_model_confidence_count": [
        ({"model": "digits", "version": "1.0.0"}, 7.0),
    ],
    "axiom_batch_size_bucket": [
        ({"model": "digits", "version": "1.0.0", "le": "1.0"}, 0.0),
        ({"model": "digits", "version": "1.0.0", "le": "2.0"}, 0.0),
        ({"model": "digits", "version": "1.0.0", "le": "4.0"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "8.0"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "16.0"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "32.0"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "64.0"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "128.0"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "256.0"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "512.0"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "1024.0"}, 2.0),
        ({"model": "digits", "version": "1.0.0", "le": "+Inf"}, 2.0),
    ],
    "axiom_batch_size_sum": [
        ({"model": "digits", "version": "1.0.0"}, 7.0),
    ],
    "axiom_batch_size_count": [
        ({"model": "digits", "version": "1.0.0"}, 2.0),
    ],
    "axiom_ready": [
        ({"model": "digits", "version": "1.0.0"}, 1.0),
    ],
    "axiom_certificate_valid": [
        ({"model": "digits", "version": "1.0.0"}, 1.0),
    ],
    "axiom_traffic_config_generation": [
        ({"model": "digits", "version": "1.0.0"}, 7.0),
    ],
    "axiom_split_requests_total": [
        ({"model": "digits", "version": "1.0.0", "target": "stable"}, 5.0),
        ({"model": "digits", "version": "1.0.0", "target": "canary"}, 2.0),
    ],
    "axiom_canary_forward_failures_total": [
        ({"model": "digits", "version": "1.0.0", "reason": "connect"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "reason": "timeout"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "reason": "status_5xx"}, 1.0),
    ],
    "axiom_canary_forward_latency_seconds_bucket": [
        ({"model": "digits", "version": "1.0.0", "le": "0.0005"}, 0.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.001"}, 0.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.0025"}, 0.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.005"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.01"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.025"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.05"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.1"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.25"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "0.5"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "1.0"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "2.5"}, 1.0),
        ({"model": "digits", "version": "1.0.0", "le": "+Inf"}, 1.0),
    ],
    "axiom_canary_forward_latency_seconds_sum": [
        ({"model": "digits", "version": "1.0.0"}, 0.004),
    ],
    "axiom_canary_forward_latency_seconds_count": [
        ({"model": "digits", "version": "1.0.0"}, 1.0),
    ],
    "axiom_traffic_config_errors_total": [
        ({"model": "digits", "version": "1.0.0"}, 0.0),
    ],
}

WINDOW_BEFORE = AnalysisSample(
    requests=7,
    errors=1,
    p99_ms=pytest.approx(485.0),  # type: ignore[arg-type]
    mean_confidence=pytest.approx(0.797),  # type: ignore[arg-type]
    canary_forward_failures=2,
)


def _plain(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        name: [(dict(sample.labels), sample.value) for sample in samples]
        for name, samples in parse_prometheus_text(text).items()
    }


def _exposition_today() -> str:
    """The captured pod's observations, made again on today's metrics."""
    registry = new_registry()
    metrics = RuntimeMetrics(registry, "digits", "1.0.0")
    splitter = TrafficSplitter(
        "/nonexistent/traffic.json",
        registry,
        model_name="digits",
        local_version="1.0.0",
        generation_gauge=metrics.traffic_generation,
    )
    for latency in (0.0004, 0.0012, 0.0031, 0.0031, 0.02, 0.3):
        metrics.latency.observe(latency)
    metrics.ok.inc(5)
    metrics.client_error.inc()
    metrics.server_error.inc()
    metrics.confidence.observe_many(np.array([0.35, 0.91, 0.97, 0.999, 1.0, 0.55, 0.8]))
    metrics.batch_size.observe(3)
    metrics.batch_size.observe(4)
    metrics.ready.set(1)
    metrics.certificate_valid.set(1)
    # The splitter's children are private: its request path is tested over HTTP elsewhere.
    splitter._to_stable.inc(5)
    splitter._to_canary.inc(2)
    for reason in ("connect", "timeout", "status_5xx"):
        splitter._failure_children[reason].inc()
    splitter._forward_latency.observe(0.004)
    metrics.traffic_generation.set(7)
    return render(registry).decode()


def test_the_captured_scrape_parses_to_the_same_samples() -> None:
    assert _plain(CAPTURED) == PARSED_BEFORE


def test_the_captured_scrape_gives_the_same_window() -> None:
    scrape = {"pod": parse_prometheus_text(CAPTURED)}
    assert window_sample({}, scrape, model="digits", version="1.0.0") == WINDOW_BEFORE


def test_todays_exposition_of_the_same_observations_parses_to_the_same_samples() -> None:
    assert _plain(_exposition_today()) == PARSED_BEFORE


def test_todays_exposition_gives_the_same_window() -> None:
    scrape = {"pod": parse_prometheus_text(_exposition_today())}
    assert window_sample({}, scrape, model="digits", version="1.0.0") == WINDOW_BEFORE
