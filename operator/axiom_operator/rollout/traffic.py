"""Traffic: the canary's size for a weight, the split to write, and whether it is live.

The split written to the traffic ConfigMap (or HTTPRoute) is ``status.traffic``; its
generation bumps whenever the split changes, and a weight counts as live only once every
stable pod (or the route) reports that generation. In Replicas mode there is no split to
write: the weight is the ratio of ready pods behind one Service.

A canary that leaves the split (rolled back, superseded) drains: the stable pods read the
traffic ConfigMap through the kubelet, which refreshes a mounted ConfigMap only at its pod
sync (up to a minute and more on a default kubelet), and until then they still forward its
share. So its pods are kept until every stable pod reports the split without it, at most
``spec.drain_limit_seconds`` (the operator's setting, 180 s by default): past that, a stable
pod that still forwards to a version scaled away answers the call itself (a forward that
fails is answered locally).
"""

from __future__ import annotations

import math

from axiom_operator.rollout.model import Phase, TrafficMode, TrafficState
from axiom_operator.rollout.run import POLL_SECONDS, Run


def canary_replicas(mode: TrafficMode, weight: float, replicas: int) -> int:
    """Canary size for ``weight``. Runtime/GatewayAPI: enough for its share, at least one so
    it is ready before traffic moves. Replicas: the count whose ratio to the (untouched)
    stable replicas is closest to the weight, at least one while the weight is above 0."""
    if mode is not TrafficMode.REPLICAS:
        return max(1, math.ceil(replicas * weight / 100.0))
    if weight <= 0:
        return 0
    if weight >= 100:
        return replicas
    return max(1, round(replicas * weight / (100.0 - weight)))


def mirror_percent(run: Run) -> float:
    """The current step's shadow share: mirrored only while its canary step runs (or is
    paused there), only in Runtime mode (the stable pods copy the requests)."""
    s = run.status
    steps = run.spec.steps
    if (
        run.spec.mode is not TrafficMode.RUNTIME
        or run.spec.canary_percent is not None
        or s.phase not in (Phase.CANARY, Phase.PAUSED)
        or s.step is None
        or not 0 <= s.step < len(steps)
    ):
        return 0.0
    return steps[s.step].mirror


def sync_traffic(run: Run) -> None:
    """Bump the traffic generation when the split to write differs from the one written."""
    s = run.status
    wanted: tuple[str | None, float, TrafficMode, float]
    if s.canary_version is not None and run.spec.mode is not TrafficMode.REPLICAS:
        wanted = (s.canary_version, s.canary_weight, run.spec.mode, mirror_percent(run))
    else:
        wanted = (None, 0.0, run.spec.mode, 0.0)
    written = s.traffic
    if (written.canary_version, written.weight, written.mode, written.mirror) != wanted:
        leaving = written.canary_version
        # A version whose certificate is refused goes at once: it must not answer anyone,
        # and a stale stable pod's forward to it fails over to the stable pod itself.
        refused = leaving == run.spec.version and not run.spec.certificate_ok
        if (
            leaving is not None
            and leaving not in (wanted[0], s.stable_version)
            and written.mode is not TrafficMode.REPLICAS
            and not refused
        ):
            run.set(
                draining_versions=(*(v for v in s.draining_versions if v != leaving), leaving),
                draining_generation=written.generation + 1,
                draining_since=run.now,
            )
        run.set(
            traffic=TrafficState(
                generation=written.generation + 1,
                canary_version=wanted[0],
                weight=wanted[1],
                mode=wanted[2],
                mirror=wanted[3],
            )
        )


def traffic_live(run: Run) -> bool:
    """Is the written weight what users get now?"""
    s = run.status
    sync_traffic(run)
    if run.spec.mode is TrafficMode.REPLICAS:
        assert s.canary_version is not None
        wanted = canary_replicas(run.spec.mode, s.canary_weight, run.spec.replicas)
        return run.available(s.canary_version) >= wanted
    return traffic_applied(run)


def effective_weight(run: Run) -> float | None:
    s = run.status
    if s.canary_version is None or s.stable_version is None:
        return None
    if run.spec.mode is TrafficMode.REPLICAS:
        canary = run.available(s.canary_version)
        total = canary + run.available(s.stable_version)
        return round(100.0 * canary / total, 2) if total else None
    if traffic_applied(run):
        return s.traffic.weight
    return s.effective_weight


def traffic_applied(run: Run, generation: int | None = None) -> bool:
    """Has every stable pod (or the route) applied ``generation`` (default: the newest)?"""
    reports = run.obs.applied_traffic_generations
    wanted = run.status.traffic.generation if generation is None else generation
    return bool(reports) and min(reports) >= wanted


def settle_draining(run: Run) -> None:
    """Forget the draining versions once every stable pod applied the first split without
    them (or the limit passed, said in a Warning); until then look again soon."""
    s = run.status
    if not s.draining_versions:
        return
    waited = 0.0 if s.draining_since is None else run.seconds_since(s.draining_since)
    applied = traffic_applied(run, s.draining_generation)
    if not applied and waited < run.spec.drain_limit_seconds:
        run.requeue(POLL_SECONDS)
        return
    if not applied:
        reports = run.obs.applied_traffic_generations
        run.event(
            "Warning",
            "TrafficNotConfirmed",
            f"after {waited:.0f}s not every stable pod applied traffic generation "
            f"{s.draining_generation} (reported: {', '.join(map(str, reports)) or 'none'}); "
            f"{', '.join(s.draining_versions)} scaled down anyway: a call still forwarded to "
            "it is answered by the stable pod",
        )
    run.set(draining_versions=(), draining_generation=0, draining_since=None)
