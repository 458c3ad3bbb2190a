"""The Prometheus analysis source: PromQL built from the model, answers read back (pure).

tests/e2e/test_prometheus_analysis.py runs the same code against a real Prometheus that
scrapes real runtime pods; these pin the query text and every answer shape on literals.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import pytest

from axiom_operator import api
from axiom_operator.prometheus import (
    SHADOW_SERIES,
    PrometheusAnswerError,
    PrometheusCredentialsError,
    PrometheusSource,
    authorization,
    instant_value,
    latency_buckets_ms,
    request_headers,
    sample_from_values,
    selector,
    shadow_queries,
    shadow_totals,
    source_of,
    vector_values,
    window_queries,
)
from axiom_operator.rollout.comparison import figures
from axiom_operator.rollout.samples import Scrape, shadow_from_totals, shadow_sample
from axiom_runtime.metrics import new_registry, parse_prometheus_text, render
from axiom_runtime.traffic.compare import compare, read_answer
from axiom_runtime.traffic.shadow import ShadowMetrics

SOURCE = PrometheusSource(address="http://127.0.0.1:9090/")


def vector(*values: str) -> dict[str, object]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {}, "value": [1.0, v]} for v in values],
        },
    }


def test_selector_names_model_version_and_namespace() -> None:
    assert (
        selector(SOURCE, model="digits", namespace="prod", version="2.0.0")
        == '{model="digits",version="2.0.0",namespace="prod"}'
    )


def test_selector_without_namespace_label_and_with_a_regex_matcher() -> None:
    source = PrometheusSource(address="http://p:9090", namespace_label="")
    assert (
        selector(source, model="m", namespace="ignored", version="1", reason="~connect|timeout")
        == '{model="m",version="1",reason=~"connect|timeout"}'
    )


def test_selector_escapes_quotes_and_backslashes() -> None:
    assert 'model="a\\"b\\\\c"' in selector(SOURCE, model='a"b\\c', namespace="n", version="1")


def test_window_queries_use_increase_over_the_window_in_milliseconds() -> None:
    queries = window_queries(
        SOURCE, model="digits", namespace="prod", version="2.0.0", window_seconds=4.2
    )
    sel = '{model="digits",version="2.0.0",namespace="prod"}'
    assert queries["requests"] == f"sum(increase(axiom_inference_total{sel}[4200ms]))"
    assert queries["errors"] == (
        'sum(increase(axiom_inference_total{model="digits",version="2.0.0",namespace="prod",'
        'status="server_error"}[4200ms]))'
    )
    assert queries["p99_seconds"] == (
        "histogram_quantile(0.99, sum by (le) "
        f"(increase(axiom_inference_latency_seconds_bucket{sel}[4200ms])))"
    )
    assert queries["confidence_sum"] == f"sum(increase(axiom_model_confidence_sum{sel}[4200ms]))"
    assert 'reason=~"connect|timeout"' in queries["unanswered"]
    assert "axiom_canary_forward_failures_total" in queries["unanswered"]


def test_a_window_shorter_than_a_second_is_asked_for_one_second() -> None:
    queries = window_queries(SOURCE, model="m", namespace="n", version="1", window_seconds=0.01)
    assert queries["requests"].endswith("[1000ms]))")


def test_query_url_joins_without_a_double_slash() -> None:
    assert SOURCE.query_url == "http://127.0.0.1:9090/api/v1/query"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (vector("12"), 12.0),
        (vector(), None),  # no such series in the window
        (vector("NaN"), None),  # a quantile over nothing
        (vector("+Inf"), math.inf),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "3.5"]}}, 3.5),
    ],
)
def test_instant_value(answer: dict[str, object], expected: float | None) -> None:
    assert instant_value(answer) == expected


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {"status": "error", "errorType": "bad_data", "error": "parse error at char 4"},
            "parse error",
        ),
        ({"status": "success"}, "no data"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "instant vector"),
        (vector("1", "2"), "one series, got 2"),
        (vector("many"), "not a number"),
        (
            {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1]}]}},
            "malformed",
        ),
    ],
)
def test_instant_value_refuses_what_it_cannot_read(answer: dict[str, object], message: str) -> None:
    with pytest.raises(PrometheusAnswerError, match=message):
        instant_value(answer)


def test_sample_from_values_rounds_counts_and_derives_means() -> None:
    sample = sample_from_values(
        {
            "requests": 99.6,
            "errors": 1.2,
            "p99_seconds": 0.0125,
            "confidence_sum": 45.0,
            "confidence_count": 50.0,
            "unanswered": None,
        }
    )
    assert (sample.requests, sample.errors, sample.canary_forward_failures) == (100, 1, 0)
    assert sample.p99_ms == pytest.approx(12.5)
    assert sample.mean_confidence == pytest.approx(0.9)


def test_sample_from_nothing_is_zero_requests_and_no_figures() -> None:
    sample = sample_from_values({})
    assert (sample.requests, sample.errors, sample.p99_ms, sample.mean_confidence) == (
        0,
        0,
        None,
        None,
    )


def test_an_infinite_p99_is_no_figure_rather_than_a_number() -> None:
    assert sample_from_values({"requests": 5, "p99_seconds": math.inf}).p99_ms is None


def test_source_of_reads_the_spec() -> None:
    spec = api.AxiomModelSpec.model_validate(
        {
            "version": "1.0.0",
            "model": {"uri": "file:///m.axiom", "sha256": "a" * 64},
            "certificate": {"secretRef": {"name": "c"}},
            "rollout": {
                "analysis": {
                    "prometheus": {
                        "address": "http://prom:9090",
                        "namespaceLabel": "",
                        "timeout": "1500ms",
                    }
                }
            },
        }
    )
    assert source_of(spec) == PrometheusSource(
        address="http://prom:9090", namespace_label="", timeout_seconds=1.5
    )


def test_source_of_is_none_by_default() -> None:
    spec = api.AxiomModelSpec.model_validate(
        {
            "version": "1.0.0",
            "model": {"uri": "file:///m.axiom", "sha256": "a" * 64},
            "certificate": {"secretRef": {"name": "c"}},
            "rollout": {"analysis": {"interval": "10s"}},
        }
    )
    assert source_of(spec) is None


def test_a_token_is_sent_as_a_bearer() -> None:
    assert authorization({"token": b"abc\n"}, "s") == "Bearer abc"


def test_username_and_password_are_sent_as_basic_auth() -> None:
    header = authorization({"username": b"axiom", "password": b"pw\n"}, "s")
    assert header == "Basic " + base64.b64encode(b"axiom:pw").decode()


@pytest.mark.parametrize("entries", [{}, {"token": b"  "}, {"username": b"only"}])
def test_credentials_without_a_usable_pair_are_refused_by_name(entries: dict[str, bytes]) -> None:
    with pytest.raises(PrometheusCredentialsError, match="Secret reader holds neither"):
        authorization(entries, "reader")


def test_request_headers_carry_the_configured_ones_and_the_authorization() -> None:
    source = PrometheusSource(
        address="http://p:9090", credentials_secret="reader", headers=(("X-Scope-OrgID", "a"),)
    )
    assert request_headers(source, {"token": b"t"}) == {
        "X-Scope-OrgID": "a",
        "Authorization": "Bearer t",
    }


def test_request_headers_name_a_missing_credentials_secret() -> None:
    source = PrometheusSource(address="http://p:9090", credentials_secret="reader")
    with pytest.raises(PrometheusCredentialsError, match="credentials Secret reader not found"):
        request_headers(source, None)


def test_request_headers_without_credentials_are_just_the_configured_ones() -> None:
    assert request_headers(SOURCE, None) == {}


def test_shadow_queries_sum_the_stable_series_for_this_canary_by_the_labels_kept_apart() -> None:
    queries = shadow_queries(
        SOURCE, model="digits", namespace="ml", stable="1.0.0", canary="4.0.0", window_seconds=8
    )
    select = '{model="digits",version="1.0.0",namespace="ml",canary="4.0.0"}'
    assert (
        queries["outcome"]
        == f"sum by (outcome) (increase(axiom_shadow_requests_total{select}[8000ms]))"
    )
    assert queries["rows"] == f"sum (increase(axiom_shadow_rows_total{select}[8000ms]))"
    assert queries["flip"].startswith("sum by (from, to) (increase(axiom_shadow_label_flips_total")
    assert queries["confidence"].startswith(
        "sum by (side, le) (increase(axiom_shadow_confidence_bucket"
    )
    assert set(queries) == {
        "outcome", "rows", "agreements", "flip", "delta_sum", "delta_count", "distance",
        "confidence", "class",
    }  # fmt: skip


def _as_prometheus_answers(scrape: Scrape, queries: dict[str, str]) -> dict[str, list[Any]]:
    """What Prometheus answers ``shadow_queries`` with over a window that starts at zero:
    the scraped series of the stable version for canary 4.0.0, summed by each query's labels
    (the same grouping PromQL's ``sum by`` does)."""
    answers: dict[str, list[Any]] = {}
    for kind, metric, labels in SHADOW_SERIES:
        groups: dict[tuple[str, ...], float] = {}
        for sample in scrape.get(metric, ()):
            if sample.labels.get("canary") != "4.0.0" or sample.labels.get("version") != "1.0.0":
                continue
            key = tuple(sample.labels.get(label, "") for label in labels)
            groups[key] = groups.get(key, 0.0) + sample.value
        answers[kind] = [
            ({"metric": dict(zip(labels, key, strict=True)), "value": [1.0, str(value)]})
            for key, value in groups.items()
        ]
    assert set(answers) == set(queries)
    return {
        kind: vector_values({"status": "success", "data": {"resultType": "vector", "result": r}})
        for kind, r in answers.items()
    }


def test_prometheus_answers_give_the_same_comparison_as_the_scrape_of_the_pods() -> None:
    registry = new_registry()
    metrics = ShadowMetrics(registry, "digits", "1.0.0")
    stable = {"prediction": [[0.9, 0.1, 0.0]] * 3, "class": [0, 0, 0], "confidence": [0.9] * 3}
    permuted = {"prediction": [[0.1, 0.9, 0.0]] * 3, "class": [1, 1, 1], "confidence": [0.9] * 3}
    for _ in range(5):
        metrics.record("4.0.0", compare(read_answer(stable), read_answer(permuted)))
        metrics.record("4.0.0", compare(read_answer(stable), read_answer(stable)))
    metrics.outcome("4.0.0", "dropped")
    scrape = parse_prometheus_text(render(registry).decode())
    queries = shadow_queries(
        SOURCE, model="digits", namespace="ml", stable="1.0.0", canary="4.0.0", window_seconds=8
    )
    from_prometheus = shadow_from_totals(shadow_totals(_as_prometheus_answers(scrape, queries)))
    from_pods = shadow_sample({}, {"pod-a": scrape}, model="digits", stable="1.0.0", canary="4.0.0")
    assert from_prometheus == from_pods
    assert (from_prometheus.rows, from_prometheus.agreements) == (30, 15)
    assert from_prometheus.flips == {("0", "1"): 15}
    assert figures(from_prometheus) == figures(from_pods)


def test_vector_values_keep_every_series_and_leave_out_nan() -> None:
    answer = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"le": "0.005"}, "value": [1.0, "3"]},
                {"metric": {"le": "+Inf"}, "value": [1.0, "4.5"]},
                {"metric": {"le": "1"}, "value": [1.0, "NaN"]},
            ],
        },
    }
    values = vector_values(answer)
    assert values == [({"le": "0.005"}, 3.0), ({"le": "+Inf"}, 4.5)]
    assert latency_buckets_ms(values) == ((5.0, 3.0), (math.inf, 4.5))
    with pytest.raises(PrometheusAnswerError, match="instant vector"):
        vector_values({"status": "success", "data": {"resultType": "matrix", "result": []}})
