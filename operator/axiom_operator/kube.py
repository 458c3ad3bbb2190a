"""The operator's only door to the apiserver: lightkube, apply-if-different, and one table
that turns HTTP failures into a small exception tree.

Every write goes through here, so "zero writes when idle" is enforced and counted in one
place: ``apply`` compares the desired manifest with the live object (``diff.needs_apply``)
and sends a server-side apply (field manager ``axiom-operator``, force) only when something
differs. Force is safe because the operator only sends fields it owns; fields others set
(the HPA's ``replicas``) are never in its manifests, so they are never taken over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx2 as httpx
from lightkube import ALL_NS, ApiError, AsyncClient, KubeConfig
from lightkube.core.resource import NamespacedResource
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.core_v1 import ConfigMap, Event, Pod, Secret, Service
from lightkube.types import PatchType

from axiom_operator import api
from axiom_operator.child_cache import ALL, ChildCache
from axiom_operator.diff import needs_apply, with_applied_hash
from axiom_operator.metrics import OperatorMetrics

FIELD_MANAGER = "axiom-operator"

AxiomModelResource = create_namespaced_resource(
    api.GROUP, api.VERSION, api.KIND, api.PLURAL, verbs=None
)

# GatewayAPI mode only: the CRD may not be installed; nothing else touches it.
HTTPRouteResource = create_namespaced_resource(
    "gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes", verbs=None
)

KINDS: dict[str, type[NamespacedResource]] = {
    "Deployment": Deployment,
    "Service": Service,
    "HorizontalPodAutoscaler": HorizontalPodAutoscaler,
    "ConfigMap": ConfigMap,
    "Secret": Secret,
    "Pod": Pod,  # read only: addresses of Ready runtime pods for /ready and /metrics
    "HTTPRoute": HTTPRouteResource,
    api.KIND: AxiomModelResource,
}


class APIError(RuntimeError):
    """The apiserver refused or failed a request; ``status`` is the HTTP code (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class APINotFoundError(APIError, LookupError):
    """404: the object (or its namespace) does not exist."""


class APIConflictError(APIError):
    """409: a concurrent write won; re-read and try again."""


class APIForbiddenError(APIError, PermissionError):
    """403: RBAC does not allow it."""


class APINamespaceTerminatingError(APIError):
    """The object's namespace is being deleted: nothing new may be created in it (the
    apiserver answers 403 Forbidden). Not a permission problem: the model is going away."""


class APIInvalidError(APIError, ValueError):
    """422/400: the object was rejected by validation; the message names the field."""


class APIUnavailableError(APIError, ConnectionError):
    """No answer, a timeout or a 5xx/429: the apiserver is restarting or overloaded."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: APIInvalidError,
    403: APIForbiddenError,
    404: APINotFoundError,
    409: APIConflictError,
    422: APIInvalidError,
    429: APIUnavailableError,
}


def _error_class(code: int) -> type[APIError]:
    return _BY_STATUS.get(code, APIUnavailableError if code >= 500 else APIError)


@asynccontextmanager
async def translated(what: str) -> AsyncIterator[None]:
    """Re-raise lightkube/httpx failures of ``what`` as the APIError tree."""
    try:
        yield
    except ApiError as error:
        code = int(error.status.code or 0)
        message = str(error.status.message or "")
        if code == 403 and "because it is being terminated" in message:
            raise APINamespaceTerminatingError(
                f"{what}: the namespace is being deleted", code
            ) from error
        raise _error_class(code)(f"{what}: {code} {message}", code) from error
    except httpx.HTTPStatusError as error:
        # lightkube lets an answer that is not a Status object through as httpx's error (a
        # list of a resource type the cluster does not serve answers a bare 404).
        code = error.response.status_code
        raise _error_class(code)(f"{what}: {code} {error.response.reason_phrase}", code) from error
    except (httpx.TransportError, TimeoutError) as error:
        raise APIUnavailableError(f"{what}: apiserver unreachable ({error!r})") from error


class Kube:
    """Typed, counted access to the few kinds the operator handles."""

    def __init__(
        self, client: AsyncClient, metrics: OperatorMetrics, children: ChildCache | None = None
    ) -> None:
        self.client = client
        self.metrics = metrics
        # Every answer to a write of a child goes into the watches' cache, so the next pass
        # sees its own write even before the watch delivers it (child_cache.py).
        self.children = children if children is not None else ChildCache()

    @classmethod
    def from_environment(cls, metrics: OperatorMetrics, timeout: float) -> Kube:
        client = AsyncClient(
            config=KubeConfig.from_env(),
            field_manager=FIELD_MANAGER,
            trust_env=False,
            timeout=httpx.Timeout(timeout, connect=10.0),
        )
        return cls(client, metrics)

    async def close(self) -> None:
        await self.client.close()

    def _count(self, verb: str, kind: str) -> None:
        self.metrics.api_writes.labels(verb, kind).inc()

    def _count_read(self, verb: str, kind: str) -> None:
        self.metrics.api_reads.labels(verb, kind).inc()

    async def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        self._count_read("get", kind)
        try:
            async with translated(f"get {kind} {namespace}/{name}"):
                obj = await self.client.get(KINDS[kind], name, namespace=namespace)
        except APINotFoundError:
            return None
        return _as_dict(obj)

    async def list(self, kind: str, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        self._count_read("list", kind)
        async with translated(f"list {kind} in {namespace}"):
            return [
                _as_dict(obj)
                async for obj in self.client.list(
                    KINDS[kind], namespace=namespace, labels=dict[str, Any](labels)
                )
            ]

    async def list_at(
        self, kind: str, scope: str, labels: dict[str, str]
    ) -> tuple[Sequence[dict[str, Any]], str]:
        """Every ``kind`` in ``scope`` (a namespace or ``child_cache.ALL``) with the labels, and
        the resourceVersion the list was read at (a watch continues from it)."""
        namespace = ALL_NS if scope == ALL else scope
        self._count_read("list", kind)
        async with translated(f"list {kind} in {scope}"):
            listing = self.client.list(
                KINDS[kind], namespace=namespace, labels=dict[str, Any](labels)
            )
            objs = [_as_dict(obj) async for obj in listing]
            return objs, listing.resourceVersion

    async def watch(
        self, kind: str, scope: str, labels: dict[str, str], since: str, server_timeout: int
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(event type, object) from ``since`` on, across the server's watch timeouts; any
        error (410 Gone included) raises, and the caller lists again: a list is the only way
        to learn what happened while no watch was open."""
        namespace = ALL_NS if scope == ALL else scope
        self._count_read("watch", kind)
        async with translated(f"watch {kind} in {scope}"):
            async for event_type, obj in self.client.watch(
                KINDS[kind],
                namespace=namespace,
                labels=dict[str, Any](labels),
                resource_version=since,
                server_timeout=server_timeout,
            ):
                yield event_type, _as_dict(obj)

    async def apply(
        self, manifest: dict[str, Any], live: dict[str, Any] | None
    ) -> tuple[bool, dict[str, Any]]:
        """Server-side apply ``manifest`` unless ``live`` already matches it.

        Returns (written, object as the apiserver has it now).
        """
        desired = with_applied_hash(manifest)
        if not needs_apply(desired, live):
            assert live is not None
            return False, live
        kind, meta = desired["kind"], desired["metadata"]
        async with translated(f"apply {kind} {meta['namespace']}/{meta['name']}"):
            obj = await self.client.patch(
                KINDS[kind],
                meta["name"],
                desired,
                namespace=meta["namespace"],
                patch_type=PatchType.APPLY,
                field_manager=FIELD_MANAGER,
                force=True,
            )
        self._count("apply", kind)
        answer = _as_dict(obj)
        self.children.record_written(kind, answer)
        return True, answer

    async def bootstrap_replicas(self, name: str, namespace: str, replicas: int) -> dict[str, Any]:
        """Set the first replica count of a Deployment whose replicas an HPA will own.

        Applied under its own field manager and never re-applied: the operator's main manifest
        leaves ``replicas`` out, so the HPA can take the field over without a fight, and the
        Deployment still starts at the requested size instead of the default 1.
        """
        patch = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas},
        }
        async with translated(f"set initial replicas of Deployment {namespace}/{name}"):
            obj = await self.client.patch(
                Deployment,
                name,
                patch,
                namespace=namespace,
                patch_type=PatchType.APPLY,
                field_manager=f"{FIELD_MANAGER}-bootstrap",
                force=True,
            )
        self._count("apply", "Deployment")
        answer = _as_dict(obj)
        self.children.record_written("Deployment", answer)
        return answer

    async def scale(self, kind: str, name: str, namespace: str, replicas: int) -> dict[str, Any]:
        """Merge-patch ``spec.replicas`` only (a version the operator keeps but no longer
        re-applies: the stable or a warm version while another version is spec.version)."""
        async with translated(f"scale {kind} {namespace}/{name} to {replicas}"):
            obj = await self.client.patch(
                KINDS[kind],
                name,
                {"spec": {"replicas": replicas}},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        self._count("scale", kind)
        answer = _as_dict(obj)
        self.children.record_written(kind, answer)
        return answer

    async def delete(self, kind: str, name: str, namespace: str) -> bool:
        """Delete if present; False when it was already gone."""
        try:
            async with translated(f"delete {kind} {namespace}/{name}"):
                await self.client.delete(KINDS[kind], name, namespace=namespace)
        except APINotFoundError:
            self.children.record_deleted(kind, namespace, name)
            return False
        self._count("delete", kind)
        self.children.record_deleted(kind, namespace, name)
        return True

    async def create_event(self, event: dict[str, Any]) -> None:
        meta = event["metadata"]
        async with translated(f"post Event {event['reason']} in {meta['namespace']}"):
            await self.client.create(cast(Event, Event.from_dict(event)))
        self._count("create", "Event")

    async def count_event(self, name: str, namespace: str, count: int, timestamp: str) -> None:
        """Raise the count of an Event already posted (raises APINotFoundError if it is gone)."""
        async with translated(f"patch Event {name} in {namespace}"):
            await self.client.patch(
                Event,
                name,
                {"count": count, "lastTimestamp": timestamp},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        self._count("patch", "Event")

    async def patch_status(self, name: str, namespace: str, status: dict[str, Any]) -> None:
        """Merge-patch the AxiomModel status subresource (only the fields given)."""
        async with translated(f"patch status of {api.KIND} {namespace}/{name}"):
            await self.client.patch(
                AxiomModelResource.Status,
                name,
                {"status": status},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        self._count("patch_status", api.KIND)


def _as_dict(obj: Any) -> dict[str, Any]:
    result: dict[str, Any] = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    return result
