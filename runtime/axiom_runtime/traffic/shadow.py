"""Shadow traffic: a mirrored copy of a request to the canary, compared with the stable answer.

The user is answered by the stable pod as if there were no mirror: the copy is queued only
after the local answer exists, and the queue is bounded (``queue_size``) and drained by a
few workers (``workers``), so a slow or hanging canary fills the queue and further copies
are *dropped and counted* (``outcome="dropped"``), never waited for. Each worker sends one
copy at a time with the split's forward timeout, decodes both answers, compares them
(:mod:`.compare`) and counts the result under the canary's version:

- ``axiom_shadow_requests_total{outcome}``: ``compared``, ``uncomparable`` (binary or error
  answers), ``dropped`` (queue full), ``connect``, ``timeout``, ``status_5xx`` (the canary
  gave no usable answer; the first two are what a user would have suffered),
- ``axiom_shadow_rows_total`` and ``axiom_shadow_agreements_total`` (rows whose class agreed),
- ``axiom_shadow_label_flips_total{from,to}`` (stable class -> canary class),
- ``axiom_shadow_confidence_delta`` (|canary - stable| confidence per row, a histogram),
- ``axiom_shadow_output_distance`` (largest output difference per request, a histogram),
- ``axiom_shadow_confidence{side}`` and ``axiom_shadow_class_total{side,class}``: each
  side's confidence and class mix on the same inputs, for the distribution shift.

The canary counts the copies in its own ``axiom_inference_total`` and latency, so its error
rate and latency are measured on real inputs while no user sees its answers.

gRPC ``ModelInfer`` calls are mirrored the same way (:class:`GrpcMirrorJob`): the copy goes
over the mirror's own channel to the canary's gRPC target, and both ``ModelInferResponse``
messages are read as V2 answers (``grpc_codec.answer_document``) before the same comparison,
in the worker: the request path only queues the two messages it already holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram

from axiom_runtime import metric_names as names
from axiom_runtime.traffic.compare import Comparison, Uncomparable, compare, read_answer
from axiom_runtime.traffic.forward import ForwardedAnswer, Forwarder, ForwardFailure
from axiom_runtime.traffic.mirror_client import MirrorAnswer, MirrorConnection

if TYPE_CHECKING:
    from axiom_runtime.server.protocol import open_inference_pb2 as pb
    from axiom_runtime.traffic.grpc_forward import GrpcForwarder

log = logging.getLogger(__name__)

MIRROR_HEADER = "X-Axiom-Mirror"
MIRROR_GRPC_KEY = MIRROR_HEADER.lower()
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
DELTA_BUCKETS = (0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
DISTANCE_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
# Class labels become label values: a model with more classes than this counts the rest as
# "other" so a huge label set cannot blow up the series count.
MAX_CLASS_SERIES = 100


@dataclass(frozen=True)
class MirrorJob:
    canary_version: str
    url: str
    method: str
    headers: Mapping[str, str]
    body: bytes
    stable_body: bytes
    timeout_seconds: float


@dataclass(frozen=True)
class GrpcMirrorJob:
    """A gRPC ``ModelInfer`` the stable pod answered, to be sent to the canary and compared."""

    canary_version: str
    target: str
    request: pb.ModelInferRequest
    metadata: tuple[tuple[str, str], ...]
    stable_answer: pb.ModelInferResponse
    timeout_seconds: float
    max_message_bytes: int


class ShadowMetrics:
    """The shadow series of one stable pod; children per canary version on first use."""

    def __init__(self, registry: CollectorRegistry, model: str, version: str) -> None:
        self._labels = (model, version)
        base = (*names.MODEL_LABELS, names.CANARY_LABEL)
        self.requests = Counter(
            names.SHADOW_REQUESTS_TOTAL,
            "Mirrored requests by outcome (compared, uncomparable, dropped, connect, ...).",
            (*base, names.OUTCOME_LABEL),
            registry=registry,
        )
        self.rows = Counter(
            names.SHADOW_ROWS_TOTAL, "Rows of mirrored requests compared.", base, registry=registry
        )
        self.agreements = Counter(
            names.SHADOW_AGREEMENTS_TOTAL,
            "Compared rows where the canary's class equals the stable's.",
            base,
            registry=registry,
        )
        self.flips = Counter(
            names.SHADOW_LABEL_FLIPS_TOTAL,
            "Compared rows by stable class (from) and differing canary class (to).",
            (*base, names.FROM_LABEL, names.TO_LABEL),
            registry=registry,
        )
        self.delta = Histogram(
            names.SHADOW_CONFIDENCE_DELTA,
            "|canary - stable| top-class confidence per compared row.",
            base,
            registry=registry,
            buckets=DELTA_BUCKETS,
        )
        self.distance = Histogram(
            names.SHADOW_OUTPUT_DISTANCE,
            "Largest absolute output difference per compared request.",
            base,
            registry=registry,
            buckets=DISTANCE_BUCKETS,
        )
        self.confidence = Histogram(
            names.SHADOW_CONFIDENCE,
            "Top-class confidence per compared row, by side (stable or canary).",
            (*base, names.SIDE_LABEL),
            registry=registry,
            buckets=CONFIDENCE_BUCKETS,
        )
        self.classes = Counter(
            names.SHADOW_CLASS_TOTAL,
            "Compared rows by side (stable or canary) and predicted class.",
            (*base, names.SIDE_LABEL, names.CLASS_LABEL),
            registry=registry,
        )
        self._seen_classes: set[str] = set()
        self._by_canary: dict[str, _CanaryChildren] = {}
        self._class_children: dict[tuple[str, str, str], Counter] = {}

    def outcome(self, canary: str, outcome: str) -> None:
        self.requests.labels(*self._labels, canary, outcome).inc()

    def dropped(self, canary: str) -> None:
        """A copy the full queue refused: on the request path, so no ``labels()`` lookup."""
        self._children(canary).dropped.inc()

    def _class(self, label: str) -> str:
        if label in self._seen_classes or len(self._seen_classes) < MAX_CLASS_SERIES:
            self._seen_classes.add(label)
            return label
        return "other"

    def _children(self, canary: str) -> _CanaryChildren:
        """The children of one canary, resolved once (``labels()`` costs a lock and a hash
        per call; a mirrored request updates a dozen series)."""
        children = self._by_canary.get(canary)
        if children is None:
            labels = (*self._labels, canary)
            children = _CanaryChildren(
                compared=self.requests.labels(*labels, names.OUTCOME_COMPARED),
                dropped=self.requests.labels(*labels, names.OUTCOME_DROPPED),
                rows=self.rows.labels(*labels),
                agreements=self.agreements.labels(*labels),
                delta=self.delta.labels(*labels),
                distance=self.distance.labels(*labels),
                confidence={
                    side: self.confidence.labels(*labels, side)
                    for side in (names.SIDE_STABLE, names.SIDE_CANARY)
                },
            )
            self._by_canary[canary] = children
        return children

    def _class_child(self, canary: str, side: str, label: str) -> Counter:
        key = (canary, side, label)
        child = self._class_children.get(key)
        if child is None:
            child = self.classes.labels(*self._labels, canary, side, self._class(label))
            self._class_children[key] = child
        return child

    def record(self, canary: str, comparison: Comparison) -> None:
        children = self._children(canary)
        children.compared.inc()
        children.rows.inc(comparison.rows)
        children.agreements.inc(comparison.agreements)
        for source, target in comparison.flips:
            self.flips.labels(*self._labels, canary, self._class(source), self._class(target)).inc()
        for value in comparison.confidence_deltas:
            children.delta.observe(value)
        children.distance.observe(comparison.max_output_distance)
        for side, answer in (
            (names.SIDE_STABLE, comparison.stable),
            (names.SIDE_CANARY, comparison.canary),
        ):
            if answer.confidences is not None:
                histogram = children.confidence[side]
                for value in answer.confidences:
                    histogram.observe(value)
            if answer.classes is not None:
                for label in answer.classes:
                    self._class_child(canary, side, label).inc()


@dataclass(frozen=True)
class _CanaryChildren:
    compared: Counter
    dropped: Counter
    rows: Counter
    agreements: Counter
    delta: Histogram
    distance: Histogram
    confidence: dict[str, Histogram]


class Mirror:
    """A bounded queue of mirrored requests and the workers that send and compare them."""

    def __init__(
        self,
        metrics: ShadowMetrics,
        *,
        queue_size: int = 256,
        workers: int = 4,
    ) -> None:
        self.metrics = metrics
        self._queue: asyncio.Queue[MirrorJob | GrpcMirrorJob] = asyncio.Queue(maxsize=queue_size)
        self._workers_wanted = workers
        self._workers: list[asyncio.Task[None]] = []
        self._connections: list[MirrorConnection] = []
        # https canaries only (the operator writes http ClusterIP URLs); its own pool, so that
        # copies never take the connections the split's forwards use.
        self._forwarder = Forwarder(max_connections=workers * 2)
        self._grpc: GrpcForwarder | None = None  # its own channel, on the first gRPC copy

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def refuse_if_full(self, canary_version: str) -> bool:
        """True (and the copy counted as dropped) when the queue has no room: the caller
        then builds no copy at all, so a saturated mirror costs the request path least."""
        if self._queue.full():
            self.metrics.dropped(canary_version)
            return True
        return False

    def offer(self, job: MirrorJob | GrpcMirrorJob) -> bool:
        """Queue ``job`` if there is room; a full queue drops it (counted). Never waits."""
        if not self._workers:
            self._connections = [MirrorConnection() for _ in range(self._workers_wanted)]
            self._workers = [
                asyncio.create_task(self._work(connection), name=f"shadow-mirror-{index}")
                for index, connection in enumerate(self._connections)
            ]
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.metrics.dropped(job.canary_version)
            return False
        return True

    async def _work(self, connection: MirrorConnection) -> None:
        while True:
            job = await self._queue.get()
            try:
                if isinstance(job, GrpcMirrorJob):
                    await self._mirror_grpc(job)
                else:
                    await self._mirror(job, connection)
            except Exception:  # a worker must outlive any surprise; the next copy is fine
                log.exception("shadow mirror failed")
            finally:
                self._queue.task_done()

    async def _mirror(self, job: MirrorJob, connection: MirrorConnection) -> None:
        try:
            if job.method == "POST" and job.url.startswith("http://"):
                answer: MirrorAnswer | ForwardedAnswer = await connection.post(
                    job.url, job.headers, job.body, job.timeout_seconds
                )
            else:
                answer = await self._forwarder.forward(
                    job.method, job.url, job.headers, job.body, job.timeout_seconds
                )
        except ForwardFailure as failure:
            self.metrics.outcome(job.canary_version, failure.reason)
            return
        try:
            if answer.status >= 400:
                raise Uncomparable(f"canary answered {answer.status}")
            comparison = compare(
                read_answer(orjson.loads(job.stable_body)), read_answer(orjson.loads(answer.body))
            )
        except (Uncomparable, orjson.JSONDecodeError):
            self.metrics.outcome(job.canary_version, names.OUTCOME_UNCOMPARABLE)
            return
        self.metrics.record(job.canary_version, comparison)

    async def _mirror_grpc(self, job: GrpcMirrorJob) -> None:
        from axiom_runtime.server.grpc_codec import answer_document
        from axiom_runtime.traffic.grpc_forward import CanaryRelayedError, GrpcForwarder

        if self._grpc is None:
            self._grpc = GrpcForwarder(max_message_bytes=job.max_message_bytes)
        try:
            answer = await self._grpc.forward(
                job.target, job.request, job.metadata, job.timeout_seconds
            )
        except ForwardFailure as failure:
            self.metrics.outcome(job.canary_version, failure.reason)
            return
        except CanaryRelayedError:
            self.metrics.outcome(job.canary_version, names.OUTCOME_UNCOMPARABLE)
            return
        try:
            comparison = compare(
                read_answer(answer_document(job.stable_answer)),
                read_answer(answer_document(answer)),
            )
        except Uncomparable:
            self.metrics.outcome(job.canary_version, names.OUTCOME_UNCOMPARABLE)
            return
        self.metrics.record(job.canary_version, comparison)

    async def drain(self) -> None:
        """Wait until every queued copy was handled (tests and benches)."""
        await self._queue.join()

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        for connection in self._connections:
            connection.close()
        self._connections = []
        await self._forwarder.close()
        if self._grpc is not None:
            await self._grpc.close()
            self._grpc = None
