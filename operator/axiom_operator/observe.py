"""Gather what the rollout machine needs to see (the I/O half of a reconcile's input).

- Deployments of the model, by version label: replicas asked for and available.
- Runtime mode, while a canary exists: the traffic generation each Ready stable pod has
  applied, read from its ``/ready`` (``trafficGeneration``); ``-1`` for a pod that did not
  answer, so the machine waits. GatewayAPI mode: the generation written on the HTTPRoute.
- While a canary is analysed: ``/metrics`` of every Ready canary and stable pod, parsed with
  the runtime's own parser, minus the baseline scraped when the window started; or, when
  the model names a Prometheus server, the same figures over the window asked of it with
  PromQL (``prometheus.py``; no baseline scrape is needed then, only the start time).

Baselines live in operator memory (``OperatorContext.baselines``), keyed by model: they are
large, change every window and are worthless after a restart, so persisting them would cost
an API write per window for nothing. A restarted operator has no baseline: the machine asks
for a new window (``StartAnalysisWindow``) and the rollout loses one interval, never a verdict.

Pods are reached at their pod IP (``status.podIP``) on the runtime port, with short timeouts,
and only when the address is inside ``AXIOM_OPERATOR_POD_NETWORK_ALLOWLIST`` (when set): a
test or demo cluster on loopback sets ``127.0.0.0/8`` so the operator can never send a request
off the machine, whatever address a pod reports.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from axiom_operator import api
from axiom_operator.certificates import object_entries
from axiom_operator.context import OperatorContext
from axiom_operator.plan import DeploymentState
from axiom_operator.prometheus import (
    PrometheusCredentialsError,
    PrometheusSource,
    query_reading,
    request_headers,
)
from axiom_operator.resources import labels as names
from axiom_operator.resources.owner import owner_of
from axiom_operator.resources.traffic import TRAFFIC_GENERATION_ANNOTATION
from axiom_operator.rollout import (
    AnalysisWindow,
    DeploymentObservation,
    MetricsReading,
    Unreachable,
    window_sample,
)
from axiom_operator.rollout.samples import Scrape
from axiom_runtime.metrics import MetricsParseError, parse_prometheus_text

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_allowed(address: str, allowlist: Sequence[Network]) -> bool:
    """Whether the operator may connect to ``address`` (an empty allowlist allows any)."""
    if not allowlist:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in allowlist)


@dataclass(frozen=True)
class RuntimePod:
    name: str
    ip: str


@dataclass(frozen=True)
class Baseline:
    """Scrapes taken when an analysis window started: version -> pod name -> scrape."""

    started_at: datetime
    canary_version: str
    scrapes: Mapping[str, Mapping[str, Scrape]]


def deployment_states(live: Sequence[dict[str, Any]], model: str) -> dict[str, DeploymentState]:
    states = {}
    for deployment in live:
        if owner_of(deployment) == model:
            state = DeploymentState.from_live(deployment)
            states[state.version] = state
    return states


def deployment_observations(
    states: Mapping[str, DeploymentState],
) -> dict[str, DeploymentObservation]:
    """Only pods of the Deployment's current template count as available."""
    return {
        version: DeploymentObservation(
            desired=state.desired, available=min(state.available, state.updated)
        )
        for version, state in states.items()
    }


async def observe_deployments(
    ctx: OperatorContext, model: str, namespace: str
) -> dict[str, DeploymentState]:
    live = await ctx.kube.list("Deployment", namespace, {names.MODEL_LABEL: model})
    return deployment_states(live, model)


def _ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def ready_pods(
    ctx: OperatorContext, model: str, namespace: str, version: str
) -> list[RuntimePod]:
    """Ready pods of one version whose address the operator may contact."""
    pods = await ctx.kube.list("Pod", namespace, names.pod_selector(model, version))
    found = []
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or not _ready(pod):
            continue
        if not address_allowed(ip, ctx.settings.pod_network_allowlist):
            logger.warning(
                "pod %s/%s has address %s outside AXIOM_OPERATOR_POD_NETWORK_ALLOWLIST: "
                "not contacted (counts as unreachable)",
                namespace,
                pod["metadata"]["name"],
                ip,
            )
            found.append(RuntimePod(pod["metadata"]["name"], ""))
            continue
        found.append(RuntimePod(pod["metadata"]["name"], ip))
    return found


def _session(ctx: OperatorContext) -> aiohttp.ClientSession:
    if ctx.http is None or ctx.http.closed:
        timeout = aiohttp.ClientTimeout(
            total=ctx.settings.pod_request_timeout, connect=ctx.settings.pod_request_timeout
        )
        # trust_env False: a proxy variable must never route pod traffic elsewhere.
        ctx.http = aiohttp.ClientSession(timeout=timeout, trust_env=False)
    return ctx.http


def _url(pod: RuntimePod, path: str) -> str:
    host = f"[{pod.ip}]" if ":" in pod.ip else pod.ip
    return f"http://{host}:{names.RUNTIME_PORT}{path}"


async def _get_text(ctx: OperatorContext, pod: RuntimePod, path: str) -> tuple[int, str] | None:
    if not pod.ip:
        return None
    try:
        async with _session(ctx).get(_url(pod, path)) as response:
            return response.status, await response.text()
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


async def traffic_generation(ctx: OperatorContext, pod: RuntimePod) -> int:
    """The traffic generation ``pod`` applied (``/ready``), -1 when it cannot be told."""
    answer = await _get_text(ctx, pod, "/ready")
    if answer is None:
        return -1
    try:
        document = json.loads(answer[1])
        return int(document.get("trafficGeneration", -1))
    except (ValueError, TypeError, AttributeError):
        return -1


async def applied_generations(
    ctx: OperatorContext, model: str, namespace: str, stable_version: str
) -> tuple[int, ...]:
    pods = await ready_pods(ctx, model, namespace, stable_version)
    return tuple(await asyncio.gather(*(traffic_generation(ctx, pod) for pod in pods)))


def route_accepted(route: Mapping[str, Any], gateway: api.GatewayRef) -> bool:
    """Has ``gateway``'s controller accepted the route as it is now (its current
    metadata.generation), with its backends resolved? Gateway API's route status: one entry
    per parent in ``status.parents``, conditions Accepted and ResolvedRefs."""
    meta = route.get("metadata") or {}
    generation = int(meta.get("generation") or 0)
    gateway_namespace = gateway.namespace or meta.get("namespace")
    for parent in (route.get("status") or {}).get("parents") or ():
        ref = parent.get("parentRef") or {}
        if ref.get("name") != gateway.name:
            continue
        if (ref.get("namespace") or meta.get("namespace")) != gateway_namespace:
            continue
        if gateway.section_name is not None and ref.get("sectionName") != gateway.section_name:
            continue
        found = {c.get("type"): c for c in parent.get("conditions") or ()}
        accepted = found.get("Accepted") or {}
        resolved = found.get("ResolvedRefs")
        if (
            accepted.get("status") == "True"
            and int(accepted.get("observedGeneration") or 0) >= generation
            and (resolved is None or resolved.get("status") != "False")
        ):
            return True
    return False


async def route_generation(
    ctx: OperatorContext, model: str, namespace: str, *, gateway: api.GatewayRef | None = None
) -> tuple[int, ...]:
    """GatewayAPI mode: the traffic generation the HTTPRoute was last written at, once it is
    live. Attached to a Gateway, it is live when that Gateway's controller has accepted the
    route's current spec; until then nothing is reported, so the machine does not measure
    a weight users may not get yet (and fails the canary after progressDeadline if the
    Gateway never accepts it). Without a gatewayRef the route is attached to nothing and
    counts as live once written."""
    route = await ctx.kube.get("HTTPRoute", names.route_name(model), namespace)
    if route is None:
        return ()
    if gateway is not None and not route_accepted(route, gateway):
        return ()
    value = (route["metadata"].get("annotations") or {}).get(TRAFFIC_GENERATION_ANNOTATION)
    try:
        return (int(value),) if value is not None else ()
    except ValueError:
        return ()


async def scrape(ctx: OperatorContext, pod: RuntimePod) -> Scrape | None:
    answer = await _get_text(ctx, pod, "/metrics")
    if answer is None or answer[0] != 200:
        return None
    try:
        return parse_prometheus_text(answer[1])
    except MetricsParseError as error:
        logger.warning("metrics of pod %s unreadable: %s", pod.name, error)
        return None


async def scrape_version(
    ctx: OperatorContext, model: str, namespace: str, version: str
) -> dict[str, Scrape]:
    """Parsed /metrics of every Ready pod of ``version`` that answered, by pod name."""
    pods = await ready_pods(ctx, model, namespace, version)
    results = await asyncio.gather(*(scrape(ctx, pod) for pod in pods))
    return {pod.name: result for pod, result in zip(pods, results, strict=True) if result}


async def take_baseline(
    ctx: OperatorContext,
    model: str,
    namespace: str,
    *,
    canary: str,
    stable: str,
    now: datetime,
    source: PrometheusSource | None = None,
) -> Baseline:
    if source is not None:  # Prometheus keeps the history: the start time is enough
        return Baseline(started_at=now, canary_version=canary, scrapes={})
    scrapes = {
        version: await scrape_version(ctx, model, namespace, version)
        for version in (canary, stable)
    }
    return Baseline(started_at=now, canary_version=canary, scrapes=scrapes)


def _reading(
    baseline: Baseline, current: Mapping[str, Scrape], *, model: str, version: str
) -> MetricsReading:
    if not current:
        return Unreachable(f"no Ready pod of version {version} answered /metrics")
    return window_sample(baseline.scrapes.get(version, {}), current, model=model, version=version)


async def _prometheus_headers(
    ctx: OperatorContext, source: PrometheusSource, namespace: str
) -> dict[str, str]:
    """Read each window (a rotated token is used at the next window, no restart)."""
    entries = None
    if source.credentials_secret is not None:
        secret = await ctx.kube.get("Secret", source.credentials_secret, namespace)
        entries = None if secret is None else object_entries("Secret", secret)
    return request_headers(source, entries)


async def analysis_window(
    ctx: OperatorContext,
    model: str,
    namespace: str,
    baseline: Baseline,
    stable: str,
    *,
    source: PrometheusSource | None = None,
    now: datetime | None = None,
) -> AnalysisWindow:
    canary = baseline.canary_version
    if source is not None:
        try:
            headers = await _prometheus_headers(ctx, source, namespace)
        except PrometheusCredentialsError as error:
            reading = Unreachable(f"Prometheus {source.address}: {error}")
            return AnalysisWindow(started_at=baseline.started_at, canary=reading, stable=reading)
        seconds = (
            (now or datetime.now(baseline.started_at.tzinfo)) - baseline.started_at
        ).total_seconds()
        readings = [
            await query_reading(
                _session(ctx),
                source,
                model=model,
                namespace=namespace,
                version=version,
                window_seconds=seconds,
                headers=headers,
            )
            for version in (canary, stable)
        ]
        return AnalysisWindow(
            started_at=baseline.started_at, canary=readings[0], stable=readings[1]
        )
    canary_now = await scrape_version(ctx, model, namespace, canary)
    stable_now = await scrape_version(ctx, model, namespace, stable)
    return AnalysisWindow(
        started_at=baseline.started_at,
        canary=_reading(baseline, canary_now, model=model, version=canary),
        stable=_reading(baseline, stable_now, model=model, version=stable),
    )
