"""Setting a verb's annotation so that the operator acts on it.

``rollback``, ``promote`` and ``resume`` act once per appearance of their annotation: the
operator records the request's id in ``status.handledRequests`` and forgets it only after
seeing the annotation gone. So asking again for what was already handled (a second
``abort``, ``rollback`` to the same value) removes the annotation first, waits until the
operator has forgotten the id, and sets it again. After setting, the verb waits (bounded)
until the operator acted on it (:func:`.requests.settled`), so it can say what happened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from lightkube.types import PatchType

from axiom_operator import api
from axiom_operator.kube import AxiomModelResource, Kube, translated
from axiom_operator.kubectl.requests import Request, settled

POLL_SECONDS = 0.5


class NotFound(LookupError):
    """The AxiomModel does not exist."""


async def read_model(kube: Kube, name: str, namespace: str) -> dict[str, Any]:
    model = await kube.get(api.KIND, name, namespace)
    if model is None:
        raise NotFound(f"AxiomModel {namespace}/{name} not found")
    return model


async def annotate(
    kube: Kube, name: str, namespace: str, annotations: Mapping[str, str | None]
) -> None:
    """Merge-patch the model's annotations (None removes one), as ``kubectl annotate``."""
    async with translated(f"annotate {api.KIND} {namespace}/{name}"):
        await kube.client.patch(
            AxiomModelResource,
            name,
            {"metadata": {"annotations": dict(annotations)}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )


def handled(model: Mapping[str, Any]) -> set[str]:
    return set((model.get("status") or {}).get("handledRequests") or ())


async def until(
    kube: Kube,
    name: str,
    namespace: str,
    check: Callable[[dict[str, Any]], bool],
    within: float,
) -> dict[str, Any] | None:
    """The model once ``check`` holds, or None after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        model = await read_model(kube, name, namespace)
        if check(model):
            return model
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(POLL_SECONDS)


async def send(
    kube: Kube, name: str, namespace: str, request: Request, *, wait: float
) -> dict[str, Any] | None:
    """Set ``request``; the model once the operator acted on it (None: not within ``wait``)."""
    model = await read_model(kube, name, namespace)
    request_id = request.request_id
    current = (model["metadata"].get("annotations") or {}).get(request.annotation)
    if request_id is not None and current == request.value and request_id in handled(model):
        await annotate(kube, name, namespace, {request.annotation: None})
        forgotten = await until(
            kube, name, namespace, lambda m: request_id not in handled(m), max(wait, 30.0)
        )
        if forgotten is None:
            raise TimeoutError(
                f"the operator did not notice {request.annotation} was removed (is it running?)"
            )
    await annotate(kube, name, namespace, {request.annotation: request.value})
    if wait <= 0:
        return None
    return await until(kube, name, namespace, lambda m: settled(request, m), wait)
