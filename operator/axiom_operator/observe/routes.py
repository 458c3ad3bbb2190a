"""GatewayAPI mode: whether the HTTPRoute's current weights are live.

A weight counts as live (and is measured) only once the Gateway's controller has accepted
the route as it is now; until then users may not get it yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from axiom_operator import api
from axiom_operator.resources.traffic import TRAFFIC_GENERATION_ANNOTATION


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


def route_generation(
    route: Mapping[str, Any] | None, gateway: api.GatewayRef | None
) -> tuple[int, ...]:
    """The traffic generation the HTTPRoute was last written at, once it is live.

    Attached to a Gateway, it is live when that Gateway's controller has accepted the
    route's current spec; until then nothing is reported, so the machine does not measure a
    weight users may not get yet (and fails the canary after progressDeadline if the Gateway
    never accepts it). Without a gatewayRef the route is attached to nothing and counts as
    live once written."""
    if route is None:
        return ()
    if gateway is not None and not route_accepted(route, gateway):
        return ()
    value = ((route.get("metadata") or {}).get("annotations") or {}).get(
        TRAFFIC_GENERATION_ANNOTATION
    )
    try:
        return (int(value),) if value is not None else ()
    except ValueError:
        return ()
