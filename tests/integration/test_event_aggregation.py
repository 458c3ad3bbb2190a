"""Events the operator posts, against the real apiserver: a repeat within the aggregation
window raises the count of the first Event (as client-go's recorder does) instead of adding
a line to ``kubectl describe`` per repeat; a different message is its own Event; an Event
the apiserver already removed is posted again."""

from __future__ import annotations

import pytest
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Event

from axiom_operator.events import EventRecorder
from axiom_operator.kube import Kube
from axiom_operator.metrics import OperatorMetrics
from axiom_operator.values import Event as AxiomEvent
from axiom_operator.values import ModelIdentity

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


def owner(namespace: str) -> ModelIdentity:
    return ModelIdentity.from_body(
        {"metadata": {"name": "digits", "namespace": namespace, "uid": "u-1"}}
    )


def recorder(client: AsyncClient) -> EventRecorder:
    return EventRecorder(Kube(client, OperatorMetrics()))


async def events(client: AsyncClient, namespace: str) -> list[Event]:
    return [e async for e in client.list(Event, namespace=namespace)]


async def test_a_repeated_event_is_counted_not_duplicated(
    kube_client: AsyncClient, namespace: str
) -> None:
    events_out = recorder(kube_client)
    for _ in range(3):
        await events_out.post(
            owner(namespace), AxiomEvent("Warning", "AnalysisFailed", "confidence 0.1")
        )
    await events_out.post(
        owner(namespace), AxiomEvent("Warning", "AnalysisFailed", "confidence 0.2")
    )

    posted = await events(kube_client, namespace)
    by_message = {e.message: e for e in posted}
    assert len(posted) == 2, [(e.message, e.count) for e in posted]
    assert by_message["confidence 0.1"].count == 3
    assert by_message["confidence 0.2"].count == 1
    assert by_message["confidence 0.1"].involvedObject.kind == "AxiomModel"


async def test_an_event_removed_meanwhile_is_posted_again(
    kube_client: AsyncClient, namespace: str
) -> None:
    events_out = recorder(kube_client)
    await events_out.post(
        owner(namespace), AxiomEvent("Normal", "Stable", "1.0.0 serves all traffic")
    )
    (first,) = await events(kube_client, namespace)
    await kube_client.delete(Event, first.metadata.name, namespace=namespace)
    await events_out.post(
        owner(namespace), AxiomEvent("Normal", "Stable", "1.0.0 serves all traffic")
    )
    (again,) = await events(kube_client, namespace)
    assert again.metadata.name != first.metadata.name and again.count == 1
