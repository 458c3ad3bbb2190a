"""Per-app registries render Prometheus text that prometheus_client's parser reads back."""

from __future__ import annotations

import math

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from axiom_runtime.histogram import BatchHistogram
from axiom_runtime.metrics import (
    CONTENT_TYPE,
    MetricsParseError,
    new_registry,
    parse_prometheus_text,
    render,
    sample_value,
)
from axiom_runtime.server.runtime_metrics import RuntimeMetrics


@pytest.fixture
def registry() -> CollectorRegistry:
    return new_registry()


def _text(registry: CollectorRegistry) -> str:
    return render(registry).decode()


def test_counter_increments_per_label_set(registry: CollectorRegistry) -> None:
    total = Counter("requests_total", "Requests.", ["status"], registry=registry)
    total.labels("ok").inc()
    total.labels("ok").inc(2)
    total.labels(status="client_error").inc()
    samples = parse_prometheus_text(_text(registry))
    assert sample_value(samples, "requests_total", status="ok") == 3
    assert sample_value(samples, "requests_total", status="client_error") == 1


def test_gauge_sets_and_moves(registry: CollectorRegistry) -> None:
    ready = Gauge("ready", "Ready.", ["model"], registry=registry)
    ready.labels("m").set(1)
    ready.labels("m").inc(2)
    ready.labels("m").dec()
    assert sample_value(parse_prometheus_text(_text(registry)), "ready", model="m") == 2


def test_histogram_buckets_are_cumulative_with_le_semantics(registry: CollectorRegistry) -> None:
    latency = Histogram("lat_seconds", "Latency.", registry=registry, buckets=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 5.0):
        latency.observe(value)
    samples = parse_prometheus_text(_text(registry))
    buckets = {s.labels["le"]: s.value for s in samples["lat_seconds_bucket"]}
    # 0.1 is counted in le="0.1": buckets are upper-inclusive.
    assert buckets == {"0.1": 2, "1.0": 3, "+Inf": 4}
    assert sample_value(samples, "lat_seconds_count") == 4
    assert sample_value(samples, "lat_seconds_sum") == pytest.approx(5.65)


def test_label_values_are_escaped_and_parsed_back(registry: CollectorRegistry) -> None:
    odd = 'a "quoted"\\ value\nnext'
    Counter("odd_total", "Odd.", ["v"], registry=registry).labels(odd).inc()
    [sample] = parse_prometheus_text(_text(registry))["odd_total"]
    assert sample.labels == {"v": odd}


def test_no_created_series_are_exposed(registry: CollectorRegistry) -> None:
    Counter("c_total", "C.", registry=registry).inc()
    Histogram("h", "H.", registry=registry).observe(1)
    assert "_created" not in _text(registry)


def test_registries_are_independent() -> None:
    # Two servers in one process (the tests run several) each own the same metric names.
    first, second = new_registry(), new_registry()
    RuntimeMetrics(first, "m", "1").ok.inc()
    RuntimeMetrics(second, "m", "1")
    assert sample_value(parse_prometheus_text(_text(first)), "axiom_inference_total") == 1
    assert sample_value(parse_prometheus_text(_text(second)), "axiom_inference_total") == 0


def test_duplicate_registration_is_refused(registry: CollectorRegistry) -> None:
    RuntimeMetrics(registry, "m", "1")
    with pytest.raises(ValueError, match="Duplicated"):
        RuntimeMetrics(registry, "m", "2")


def test_runtime_exposition_is_valid_for_prometheus_client(registry: CollectorRegistry) -> None:
    metrics = RuntimeMetrics(registry, "digits", "1.0.0")
    metrics.ok.inc()
    metrics.latency.observe(0.003)
    families = {family.name: family for family in text_string_to_metric_families(_text(registry))}
    assert families["axiom_inference"].type == "counter"
    assert families["axiom_inference_latency_seconds"].type == "histogram"
    assert families["axiom_traffic_config_generation"].samples[0].value == -1
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_parser_reads_special_values_and_timestamps() -> None:
    text = 'x{a="1"} +Inf 1700000000\ny NaN\nz -Inf\n# comment\n\nw 2.5e-3\n'
    samples = parse_prometheus_text(text)
    assert math.isinf(samples["x"][0].value)
    assert math.isnan(samples["y"][0].value)
    assert samples["z"][0].value == -math.inf
    assert samples["w"][0].value == pytest.approx(0.0025)


def test_parser_error_names_what_it_refused() -> None:
    with pytest.raises(MetricsParseError, match="a=1"):
        parse_prometheus_text("ok 1\nbroken{a=1} 2\n")


def test_parser_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="abc"):
        parse_prometheus_text("x abc\n")


def test_batch_histogram_exposes_what_the_library_histogram_would() -> None:
    values = [0.05, 0.1, 0.35, 0.9, 0.99, 1.0, 1.5]
    ours, theirs = new_registry(), new_registry()
    batched = BatchHistogram("c", "C.", ["model"], buckets=(0.1, 0.5, 1.0), registry=ours)
    library = Histogram("c", "C.", ["model"], buckets=(0.1, 0.5, 1.0), registry=theirs)
    batched.labels("m").observe_many(np.array(values))
    for value in values:
        library.labels("m").observe(value)
    assert _text(ours) == _text(theirs)


def test_batch_histogram_name_is_registered_once(registry: CollectorRegistry) -> None:
    BatchHistogram("c", "C.", [], buckets=(1.0,), registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Histogram("c", "C.", registry=registry)


def test_batch_histogram_wrong_label_count_names_the_metric(registry: CollectorRegistry) -> None:
    histogram = BatchHistogram("c", "C.", ["model", "version"], buckets=(1.0,), registry=registry)
    with pytest.raises(ValueError, match="c: expected label values"):
        histogram.labels("only-one")
