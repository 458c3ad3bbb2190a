"""The analysis window's figures: canary and stable since the window's baseline.

From the pods: every Ready pod's ``/metrics`` now, minus the baseline scraped when the window
started; the scrape taken now is also what the next window starts from, so back-to-back
windows lose no request between them. From Prometheus (when the model names a server): the
same figures over the window asked of it with PromQL (``prometheus.py``); no scrape is
needed then, only the window's start time.

Baselines live in operator memory (``OperatorContext.baselines``), keyed by model: they are
large, change every window and are worthless after a restart, so persisting them would cost
an API write per window for nothing. A restarted operator has no baseline: the machine asks
for a new window (``StartAnalysisWindow``) and the rollout loses one interval, never a verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from axiom_operator.certificates import object_entries
from axiom_operator.context import OperatorContext
from axiom_operator.observe.pods import scrape_version
from axiom_operator.prometheus import (
    PrometheusCredentialsError,
    PrometheusSource,
    query_reading,
    query_shadow,
    request_headers,
)
from axiom_operator.rollout import (
    AnalysisSample,
    AnalysisWindow,
    MetricsReading,
    Unreachable,
    window_sample,
)
from axiom_operator.rollout.samples import Scrape, shadow_sample
from axiom_operator.values import Baseline


async def scrape_versions(
    ctx: OperatorContext, model: str, namespace: str, versions: tuple[str, ...]
) -> dict[str, dict[str, Scrape]]:
    """Each version's Ready pods' parsed /metrics, by version then pod name."""
    return {version: await scrape_version(ctx, model, namespace, version) for version in versions}


def pods_window(
    baseline: Baseline, scrapes: Mapping[str, Mapping[str, Scrape]], *, model: str, stable: str
) -> AnalysisWindow:
    """The window from ``baseline`` to ``scrapes`` (both from the pods)."""
    canary = baseline.canary_version

    def reading(version: str) -> MetricsReading:
        current = scrapes.get(version) or {}
        if not current:
            return Unreachable(f"no Ready pod of version {version} answered /metrics")
        return window_sample(
            baseline.scrapes.get(version, {}), current, model=model, version=version
        )

    # The stable pods hold both answers of every mirrored request: the comparison is theirs.
    stable_now = scrapes.get(stable) or {}
    shadow = (
        shadow_sample(
            baseline.scrapes.get(stable, {}), stable_now, model=model, stable=stable, canary=canary
        )
        if stable_now
        else None
    )
    return AnalysisWindow(
        started_at=baseline.started_at,
        canary=reading(canary),
        stable=reading(stable),
        shadow=shadow,
    )


async def _prometheus_headers(
    ctx: OperatorContext, source: PrometheusSource, namespace: str
) -> dict[str, str]:
    """Read each window (a rotated token is used at the next window, no restart)."""
    entries = None
    if source.credentials_secret is not None:
        secret = await ctx.kube.get("Secret", source.credentials_secret, namespace)
        entries = None if secret is None else object_entries("Secret", secret)
    return request_headers(source, entries)


async def prometheus_window(
    ctx: OperatorContext,
    model: str,
    namespace: str,
    baseline: Baseline,
    stable: str,
    *,
    source: PrometheusSource,
    now: datetime,
) -> AnalysisWindow:
    """The window from ``baseline.started_at`` to ``now``, asked of Prometheus."""
    canary = baseline.canary_version
    try:
        headers = await _prometheus_headers(ctx, source, namespace)
    except PrometheusCredentialsError as error:
        failed = Unreachable(f"Prometheus {source.address}: {error}")
        return AnalysisWindow(started_at=baseline.started_at, canary=failed, stable=failed)
    seconds = (now - baseline.started_at).total_seconds()
    readings = [
        await query_reading(
            ctx.pod_session(),
            source,
            model=model,
            namespace=namespace,
            version=version,
            window_seconds=seconds,
            headers=headers,
        )
        for version in (canary, stable)
    ]
    # The comparison of mirrored requests, from the stable pods' series as the scrape reads
    # them. When it cannot be read the canary's reading says why (inconclusive, never a pass).
    compared = await query_shadow(
        ctx.pod_session(),
        source,
        model=model,
        namespace=namespace,
        stable=stable,
        canary=canary,
        window_seconds=seconds,
        headers=headers,
    )
    canary_reading = readings[0]
    shadow = None
    if isinstance(compared, Unreachable):
        canary_reading = compared if isinstance(canary_reading, AnalysisSample) else canary_reading
    else:
        shadow = compared
    return AnalysisWindow(
        started_at=baseline.started_at, canary=canary_reading, stable=readings[1], shadow=shadow
    )
