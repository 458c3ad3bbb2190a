"""The metrics registry renders valid Prometheus text and its parser reads it back."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from axiom_runtime.metrics import (
    MetricsParseError,
    Registry,
    parse_prometheus_text,
    sample_value,
)


@pytest.fixture
def registry() -> Registry:
    return Registry()


def test_counter_increments_per_label_set(registry: Registry) -> None:
    total = registry.counter("requests_total", "Requests.", ["status"])
    total.labels("ok").inc()
    total.labels("ok").inc(2)
    total.labels(status="client_error").inc()
    samples = parse_prometheus_text(registry.render())
    assert sample_value(samples, "requests_total", status="ok") == 3
    assert sample_value(samples, "requests_total", status="client_error") == 1


def test_counter_refuses_negative_increment(registry: Registry) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        registry.counter("c_total", "C.").labels().inc(-1)


def test_gauge_sets_and_moves(registry: Registry) -> None:
    ready = registry.gauge("ready", "Ready.", ["model"])
    ready.labels("m").set(1)
    ready.labels("m").inc(2)
    ready.labels("m").dec()
    assert sample_value(parse_prometheus_text(registry.render()), "ready", model="m") == 2


def test_histogram_buckets_are_cumulative_with_le_semantics(registry: Registry) -> None:
    latency = registry.histogram("lat_seconds", "Latency.", buckets=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 5.0):
        latency.labels().observe(value)
    samples = parse_prometheus_text(registry.render())
    buckets = {s.labels["le"]: s.value for s in samples["lat_seconds_bucket"]}
    # 0.1 is counted in le="0.1": buckets are upper-inclusive.
    assert buckets == {"0.1": 2, "1.0": 3, "+Inf": 4}
    assert sample_value(samples, "lat_seconds_count") == 4
    assert sample_value(samples, "lat_seconds_sum") == pytest.approx(5.65)


def test_observe_many_equals_repeated_observe(registry: Registry) -> None:
    values = np.array([0.0, 0.1, 0.2, 0.55, 0.9, 1.0, 3.0])
    one_by_one = registry.histogram("a", "A.", buckets=(0.1, 0.5, 1.0)).labels()
    batched = registry.histogram("b", "B.", buckets=(0.1, 0.5, 1.0)).labels()
    for value in values:
        one_by_one.observe(float(value))
    batched.observe_many(values)
    assert batched.snapshot() == one_by_one.snapshot()


def test_label_values_are_escaped_and_parsed_back(registry: Registry) -> None:
    odd = 'a "quoted"\\ value\nnext'
    registry.counter("odd_total", "Odd.", ["v"]).labels(odd).inc()
    [sample] = parse_prometheus_text(registry.render())["odd_total"]
    assert sample.labels == {"v": odd}


def test_render_has_help_and_type_lines(registry: Registry) -> None:
    registry.histogram("h", "Help text.", ["model"]).labels("m").observe(1)
    text = registry.render()
    assert "# HELP h Help text.\n# TYPE h histogram\n" in text
    assert text.endswith("\n")


def test_wrong_label_count_names_the_metric(registry: Registry) -> None:
    metric = registry.counter("x_total", "X.", ["model", "version"])
    with pytest.raises(ValueError, match="x_total"):
        metric.labels("only-one")


def test_duplicate_registration_is_refused(registry: Registry) -> None:
    registry.counter("dup_total", "D.")
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("dup_total", "D.")


def test_invalid_metric_name_is_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="not a valid"):
        registry.counter("bad-name", "B.")


def test_parser_reads_special_values_and_timestamps() -> None:
    text = 'x{a="1"} +Inf 1700000000\ny NaN\nz -Inf\n# comment\n\nw 2.5e-3\n'
    samples = parse_prometheus_text(text)
    assert math.isinf(samples["x"][0].value)
    assert math.isnan(samples["y"][0].value)
    assert samples["z"][0].value == -math.inf
    assert samples["w"][0].value == pytest.approx(0.0025)


def test_parser_names_the_bad_line() -> None:
    with pytest.raises(MetricsParseError, match="line 2"):
        parse_prometheus_text("ok 1\nbroken{a=1} 2\n")


def test_concurrent_increments_are_not_lost(registry: Registry) -> None:
    child = registry.counter("t_total", "T.").labels()

    def work() -> None:
        for _ in range(10_000):
            child.inc()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert child.value == 40_000
