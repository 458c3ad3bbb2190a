"""Analysis figures from a Prometheus server (``spec.rollout.analysis.prometheus``).

The default source needs no extra tier: the operator scrapes the pods itself (``observe/analysis.py``).
A team that already runs Prometheus can point the analysis at it instead; the figures are
the same runtime series, asked for with PromQL over the window:

- requests, errors: ``sum(increase(axiom_inference_total{...}[W]))`` (errors: status
  ``server_error``);
- p99: ``histogram_quantile(0.99, sum by (le) (increase(..._bucket{...}[W])))``;
- mean confidence: increase of ``axiom_model_confidence_sum`` over that of ``_count``;
- unanswered forwards (stable only): ``axiom_canary_forward_failures_total`` with reason
  connect or timeout, as the direct scrape counts them;
- the latency histogram's buckets (``sum by (le)``), which the sequential latency tests count
  slow requests from;
- the same-input comparison (stable only, ``shadow_queries``): every ``axiom_shadow_*``
  series of the stable version for this canary, summed by the labels the direct scrape
  keeps apart (outcome, from/to, side, class, le), and turned into the window's
  ``ShadowSample`` by the same code (``samples.shadow_from_totals``), so a shadow step reads
  the same agreement, confidence delta and distribution shift either way.

``W`` is the time since the window started, in whole milliseconds. Query building and
answer parsing are pure (unit-tested on literals); ``query_reading`` is the only I/O. Any
failure (no answer, HTTP error, a PromQL error, a timeout) is an ``Unreachable`` reading
that names it, which the machine treats as inconclusive: never as a pass.
"""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from axiom_operator import api
from axiom_operator.api import duration_seconds
from axiom_operator.rollout import AnalysisSample, MetricsReading, Unreachable
from axiom_operator.rollout.comparison import ShadowSample
from axiom_operator.rollout.samples import (
    CONFIDENCE,
    FORWARD_FAILURES,
    LATENCY,
    REQUESTS,
    UNANSWERED_REASONS,
    shadow_from_totals,
    shadow_key,
)
from axiom_runtime import metric_names as names
from axiom_runtime.metric_names import STATUS_SERVER_ERROR

QUERY_PATH = "/api/v1/query"
# Prometheus' own lower bound for a range is one scrape interval; a shorter window than this
# gives empty answers, which read as "no requests" (inconclusive), never as a verdict.
MIN_WINDOW_MS = 1000


class PrometheusAnswerError(ValueError):
    """The server answered, but not with a PromQL instant vector this module can read."""


class PrometheusCredentialsError(ValueError):
    """The credentials Secret is missing or holds neither a token nor username + password."""


@dataclass(frozen=True)
class PrometheusSource:
    """``spec.rollout.analysis.prometheus``, resolved (timeout in seconds)."""

    address: str
    namespace_label: str = "namespace"
    timeout_seconds: float = 5.0
    credentials_secret: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def query_url(self) -> str:
        return self.address.rstrip("/") + QUERY_PATH


def source_of(spec: api.AxiomModelSpec) -> PrometheusSource | None:
    """The model's Prometheus source, or None for the default (scrape the pods)."""
    analysis = spec.rollout.analysis if spec.rollout is not None else None
    if analysis is None or analysis.prometheus is None:
        return None
    prometheus = analysis.prometheus
    credentials = prometheus.credentials_secret_ref
    return PrometheusSource(
        address=prometheus.address,
        namespace_label=prometheus.namespace_label,
        timeout_seconds=duration_seconds(prometheus.timeout),
        credentials_secret=credentials.name if credentials is not None else None,
        headers=tuple(sorted((prometheus.headers or {}).items())),
    )


def authorization(entries: Mapping[str, bytes], secret: str) -> str:
    """The Authorization header from a credentials Secret's entries: ``token`` -> Bearer,
    ``username`` + ``password`` -> Basic. Surrounding whitespace (a trailing newline from
    ``kubectl create secret --from-file``) is dropped."""
    if "token" in entries:
        token = entries["token"].decode("utf-8", "replace").strip()
        if token:
            return f"Bearer {token}"
    if "username" in entries and "password" in entries:
        user = entries["username"].decode("utf-8", "replace").strip()
        password = entries["password"].decode("utf-8", "replace").strip()
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    raise PrometheusCredentialsError(
        f"Secret {secret} holds neither a non-empty `token` nor `username` and `password` "
        f"(keys: {', '.join(sorted(entries)) or 'none'})"
    )


def request_headers(
    source: PrometheusSource, credentials: Mapping[str, bytes] | None
) -> dict[str, str]:
    """Headers of every query: the configured ones, and Authorization when the source names
    a credentials Secret (``credentials``: its entries, None when it does not exist)."""
    headers = dict(source.headers)
    if source.credentials_secret is not None:
        if credentials is None:
            raise PrometheusCredentialsError(
                f"credentials Secret {source.credentials_secret} not found"
            )
        headers["Authorization"] = authorization(credentials, source.credentials_secret)
    return headers


def _quote(value: str) -> str:
    """A PromQL string literal (double-quoted, backslash and quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector(
    source: PrometheusSource, *, model: str, namespace: str, version: str, **extra: str
) -> str:
    """``{model="m",version="v",namespace="ns",...}``; values of ``extra`` starting with
    ``~`` are regular-expression matchers."""
    matchers = [f"model={_quote(model)}", f"version={_quote(version)}"]
    if source.namespace_label:
        matchers.append(f"{source.namespace_label}={_quote(namespace)}")
    for label, value in extra.items():
        if value.startswith("~"):
            matchers.append(f"{label}=~{_quote(value[1:])}")
        else:
            matchers.append(f"{label}={_quote(value)}")
    return "{" + ",".join(matchers) + "}"


def window_queries(
    source: PrometheusSource, *, model: str, namespace: str, version: str, window_seconds: float
) -> dict[str, str]:
    """The PromQL, by figure, for one version over the last ``window_seconds``."""
    window = _window(window_seconds)

    def select(**extra: str) -> str:
        return selector(source, model=model, namespace=namespace, version=version, **extra)

    def increase(metric: str, **extra: str) -> str:
        return f"sum(increase({metric}{select(**extra)}{window}))"

    unanswered = "~" + "|".join(sorted(UNANSWERED_REASONS))
    return {
        "requests": increase(REQUESTS),
        "errors": increase(REQUESTS, status=STATUS_SERVER_ERROR),
        "p99_seconds": (
            f"histogram_quantile(0.99, sum by (le) (increase({LATENCY}_bucket{select()}{window})))"
        ),
        "confidence_sum": increase(f"{CONFIDENCE}_sum"),
        "confidence_count": increase(f"{CONFIDENCE}_count"),
        "unanswered": increase(FORWARD_FAILURES, reason=unanswered),
    }


def _window(window_seconds: float) -> str:
    return f"[{max(MIN_WINDOW_MS, round(window_seconds * 1000))}ms]"


def latency_buckets_query(
    source: PrometheusSource, *, model: str, namespace: str, version: str, window_seconds: float
) -> str:
    """The window's latency histogram, one series per bucket edge (seconds)."""
    select = selector(source, model=model, namespace=namespace, version=version)
    return f"sum by (le) (increase({LATENCY}_bucket{select}{_window(window_seconds)}))"


# The shadow series: (key kind of ``samples.shadow_key``, metric, labels kept apart).
SHADOW_SERIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("outcome", names.SHADOW_REQUESTS_TOTAL, (names.OUTCOME_LABEL,)),
    ("rows", names.SHADOW_ROWS_TOTAL, ()),
    ("agreements", names.SHADOW_AGREEMENTS_TOTAL, ()),
    ("flip", names.SHADOW_LABEL_FLIPS_TOTAL, (names.FROM_LABEL, names.TO_LABEL)),
    ("delta_sum", f"{names.SHADOW_CONFIDENCE_DELTA}_sum", ()),
    ("delta_count", f"{names.SHADOW_CONFIDENCE_DELTA}_count", ()),
    ("distance", f"{names.SHADOW_OUTPUT_DISTANCE}_bucket", ("le",)),
    ("confidence", f"{names.SHADOW_CONFIDENCE}_bucket", (names.SIDE_LABEL, "le")),
    ("class", names.SHADOW_CLASS_TOTAL, (names.SIDE_LABEL, names.CLASS_LABEL)),
)


def shadow_queries(
    source: PrometheusSource,
    *,
    model: str,
    namespace: str,
    stable: str,
    canary: str,
    window_seconds: float,
) -> dict[str, str]:
    """The PromQL, by key kind, for what the stable pods compared of ``canary``'s answers."""
    select = selector(
        source, model=model, namespace=namespace, version=stable, **{names.CANARY_LABEL: canary}
    )
    window = _window(window_seconds)
    queries = {}
    for kind, metric, labels in SHADOW_SERIES:
        grouping = f" by ({', '.join(labels)})" if labels else ""
        queries[kind] = f"sum{grouping} (increase({metric}{select}{window}))"
    return queries


def shadow_totals(vectors: Mapping[str, list[tuple[Mapping[str, str], float]]]) -> dict[str, float]:
    """The answers of ``shadow_queries`` (by key kind) as ``samples.shadow_from_totals``'
    input: one flat key per series, as the direct scrape builds it."""
    by_kind = {kind: labels for kind, _, labels in SHADOW_SERIES}
    totals: dict[str, float] = {}
    for kind, series in vectors.items():
        for metric, value in series:
            labels = [metric.get(label, "+Inf" if label == "le" else "") for label in by_kind[kind]]
            key = shadow_key(kind, *labels)
            totals[key] = totals.get(key, 0.0) + value
    return totals


def vector_values(answer: Mapping[str, Any]) -> list[tuple[Mapping[str, str], float]]:
    """Every (labels, value) of an instant-vector answer; NaN values are left out."""
    if answer.get("status") != "success":
        error = answer.get("error") or answer.get("errorType") or "no status"
        raise PrometheusAnswerError(f"query failed: {error}")
    data = answer.get("data")
    if not isinstance(data, Mapping) or data.get("resultType") != "vector":
        kind = data.get("resultType") if isinstance(data, Mapping) else None
        raise PrometheusAnswerError(f"expected an instant vector, got {kind!r}")
    result = data.get("result")
    if not isinstance(result, list):
        raise PrometheusAnswerError("malformed vector")
    values: list[tuple[Mapping[str, str], float]] = []
    for item in result:
        point = item.get("value") if isinstance(item, Mapping) else None
        metric = item.get("metric") if isinstance(item, Mapping) else None
        if not isinstance(point, list) or len(point) != 2 or not isinstance(metric, Mapping):
            raise PrometheusAnswerError(f"malformed sample {item!r}")
        try:
            value = float(point[1])
        except (TypeError, ValueError) as error:
            raise PrometheusAnswerError(f"sample value {point[1]!r} is not a number") from error
        if not math.isnan(value):
            values.append(({str(k): str(v) for k, v in metric.items()}, value))
    return values


def latency_buckets_ms(
    series: list[tuple[Mapping[str, str], float]],
) -> tuple[tuple[float, float], ...]:
    """``latency_buckets_query``'s answer as (upper bound in ms, requests), sorted."""
    buckets = []
    for metric, value in series:
        edge = metric.get("le", "+Inf")
        upper = math.inf if edge in ("+Inf", "Inf", "inf") else float(edge) * 1000.0
        buckets.append((upper, value))
    return tuple(sorted(buckets))


def instant_value(answer: Mapping[str, Any]) -> float | None:
    """The value of a one-element instant vector (or scalar) answer; None when the vector is
    empty (no such series in the window) or the value is NaN (e.g. a quantile of nothing)."""
    if answer.get("status") != "success":
        error = answer.get("error") or answer.get("errorType") or "no status"
        raise PrometheusAnswerError(f"query failed: {error}")
    data = answer.get("data")
    if not isinstance(data, Mapping):
        raise PrometheusAnswerError("answer has no data")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        point = result
    elif kind == "vector" and isinstance(result, list):
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusAnswerError(f"expected one series, got {len(result)}")
        point = result[0].get("value") if isinstance(result[0], Mapping) else None
    else:
        raise PrometheusAnswerError(f"expected an instant vector, got {kind!r}")
    if not isinstance(point, list) or len(point) != 2:
        raise PrometheusAnswerError(f"malformed sample {point!r}")
    try:
        value = float(point[1])
    except (TypeError, ValueError) as error:
        raise PrometheusAnswerError(f"sample value {point[1]!r} is not a number") from error
    return None if math.isnan(value) else value


def sample_from_values(values: Mapping[str, float | None]) -> AnalysisSample:
    """The figures of one version from the query results by name (``window_queries`` keys).
    ``increase`` extrapolates, so counts are rounded; a missing count is zero."""

    def count(name: str) -> int:
        return max(0, round(values.get(name) or 0.0))

    p99 = values.get("p99_seconds")
    confidence_count = values.get("confidence_count") or 0.0
    return AnalysisSample(
        requests=count("requests"),
        errors=count("errors"),
        p99_ms=None if p99 is None or math.isinf(p99) else p99 * 1000.0,
        mean_confidence=(
            (values.get("confidence_sum") or 0.0) / confidence_count
            if confidence_count > 0
            else None
        ),
        canary_forward_failures=count("unanswered"),
    )


async def _answer(
    session: aiohttp.ClientSession,
    source: PrometheusSource,
    promql: str,
    headers: Mapping[str, str],
) -> Mapping[str, Any]:
    timeout = aiohttp.ClientTimeout(total=source.timeout_seconds)
    async with session.get(
        source.query_url, params={"query": promql}, headers=headers, timeout=timeout
    ) as reply:
        if reply.status in (401, 403):
            raise PrometheusAnswerError(
                f"HTTP {reply.status}: the server refused the credentials "
                "(spec.rollout.analysis.prometheus.credentialsSecretRef)"
            )
        try:
            answer = await reply.json(content_type=None)
        except ValueError as error:
            raise PrometheusAnswerError(f"HTTP {reply.status}, not JSON") from error
        if not isinstance(answer, Mapping):
            raise PrometheusAnswerError(f"HTTP {reply.status}, not a JSON object")
        return answer


async def _query(
    session: aiohttp.ClientSession,
    source: PrometheusSource,
    promql: str,
    headers: Mapping[str, str],
) -> float | None:
    return instant_value(await _answer(session, source, promql, headers))


async def _vector(
    session: aiohttp.ClientSession,
    source: PrometheusSource,
    promql: str,
    headers: Mapping[str, str],
) -> list[tuple[Mapping[str, str], float]]:
    return vector_values(await _answer(session, source, promql, headers))


def _unreachable(source: PrometheusSource, error: Exception) -> Unreachable:
    if isinstance(error, PrometheusAnswerError):
        return Unreachable(f"Prometheus {source.address}: {error}")
    reason = type(error).__name__ if isinstance(error, TimeoutError) else str(error)
    return Unreachable(f"Prometheus {source.address} unreachable: {reason}")


async def query_reading(
    session: aiohttp.ClientSession,
    source: PrometheusSource,
    *,
    model: str,
    namespace: str,
    version: str,
    window_seconds: float,
    headers: Mapping[str, str] | None = None,
) -> MetricsReading:
    """One version's figures over the window, or why they could not be read."""
    queries = window_queries(
        source, model=model, namespace=namespace, version=version, window_seconds=window_seconds
    )
    buckets = latency_buckets_query(
        source, model=model, namespace=namespace, version=version, window_seconds=window_seconds
    )
    try:
        results, histogram = await asyncio.gather(
            asyncio.gather(
                *(_query(session, source, promql, headers or {}) for promql in queries.values())
            ),
            _vector(session, source, buckets, headers or {}),
        )
    except (PrometheusAnswerError, aiohttp.ClientError, TimeoutError) as error:
        return _unreachable(source, error)
    sample = sample_from_values(dict(zip(queries, results, strict=True)))
    return replace(sample, latency_buckets_ms=latency_buckets_ms(histogram))


async def query_shadow(
    session: aiohttp.ClientSession,
    source: PrometheusSource,
    *,
    model: str,
    namespace: str,
    stable: str,
    canary: str,
    window_seconds: float,
    headers: Mapping[str, str] | None = None,
) -> ShadowSample | Unreachable:
    """What the stable pods compared of ``canary``'s answers over the window. One query when
    nothing was mirrored (no shadow step): the outcomes; the rest only when there are some."""
    queries = shadow_queries(
        source,
        model=model,
        namespace=namespace,
        stable=stable,
        canary=canary,
        window_seconds=window_seconds,
    )
    try:
        outcomes = await _vector(session, source, queries["outcome"], headers or {})
        if not any(value > 0 for _, value in outcomes):
            return ShadowSample()
        rest = [kind for kind in queries if kind != "outcome"]
        answers = await asyncio.gather(
            *(_vector(session, source, queries[kind], headers or {}) for kind in rest)
        )
    except (PrometheusAnswerError, aiohttp.ClientError, TimeoutError) as error:
        return _unreachable(source, error)
    return shadow_from_totals(
        shadow_totals({"outcome": outcomes, **dict(zip(rest, answers, strict=True))})
    )
