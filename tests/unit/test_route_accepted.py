"""When is a weight written into an HTTPRoute live? When the Gateway it is attached to has
accepted the route's current generation with its backends resolved (pure, on literals)."""

from __future__ import annotations

from typing import Any

import pytest

from axiom_operator import api
from axiom_operator.observe.routes import route_accepted

PUBLIC = api.GatewayRef(name="public")


def route(*parents: dict[str, Any], generation: int = 3) -> dict[str, Any]:
    return {
        "metadata": {"name": "digits", "namespace": "prod", "generation": generation},
        "status": {"parents": list(parents)},
    }


def parent(
    name: str = "public",
    *,
    accepted: str = "True",
    observed: int = 3,
    resolved: str | None = "True",
    **ref: str,
) -> dict[str, Any]:
    conditions = [{"type": "Accepted", "status": accepted, "observedGeneration": observed}]
    if resolved is not None:
        conditions.append(
            {"type": "ResolvedRefs", "status": resolved, "observedGeneration": observed}
        )
    return {"parentRef": {"name": name, **ref}, "conditions": conditions}


def test_accepted_at_the_current_generation() -> None:
    assert route_accepted(route(parent()), PUBLIC)


def test_no_status_yet_is_not_accepted() -> None:
    assert not route_accepted({"metadata": {"generation": 1, "namespace": "prod"}}, PUBLIC)


def test_accepted_at_an_older_generation_is_not_the_new_weight() -> None:
    assert not route_accepted(route(parent(observed=2)), PUBLIC)


@pytest.mark.parametrize(
    "entry",
    [
        parent(accepted="False"),
        parent(resolved="False"),
        parent(name="internal"),
        parent(namespace="other"),
    ],
)
def test_refused_unresolved_or_another_gateway_is_not_accepted(entry: dict[str, Any]) -> None:
    assert not route_accepted(route(entry), PUBLIC)


def test_a_gateway_in_another_namespace_and_section_must_match() -> None:
    ref = api.GatewayRef(name="public", namespace="gateways", section_name="https")
    assert route_accepted(route(parent(namespace="gateways", sectionName="https")), ref)
    assert not route_accepted(route(parent(namespace="gateways", sectionName="http")), ref)


def test_resolved_refs_absent_is_enough_with_accepted() -> None:
    assert route_accepted(route(parent(resolved=None)), PUBLIC)
