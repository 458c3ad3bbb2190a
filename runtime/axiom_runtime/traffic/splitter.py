"""The traffic splitter a stable runtime pod wraps its inference routes with.

It watches the traffic config file by polling (a mounted ConfigMap changes by an atomic
symlink swap, which inotify on the file itself would miss) and swaps in the new config as
one immutable object: a request in flight keeps the config it started with, so applying a
change drops nothing. ``applied_generation`` tells the operator, through ``/ready`` and
``/metrics``, when a new weight is live on this pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from axiom_runtime import metric_names as names
from axiom_runtime.traffic.config import TrafficConfig, TrafficConfigError, parse_traffic_config
from axiom_runtime.traffic.forward import Forwarder, ForwardFailure, request_headers_for_canary
from axiom_runtime.traffic.shadow import (
    MIRROR_GRPC_KEY,
    MIRROR_HEADER,
    GrpcMirrorJob,
    Mirror,
    MirrorJob,
    ShadowMetrics,
)
from axiom_runtime.traffic.split import goes_to_canary

if TYPE_CHECKING:
    import grpc

    from axiom_runtime.server.protocol import open_inference_pb2 as pb
    from axiom_runtime.traffic.grpc_forward import GrpcForwarder

log = logging.getLogger(__name__)

FORWARDED_HEADER = "X-Axiom-Forwarded"
VERSION_HEADER = "X-Axiom-Version"
FALLBACK_HEADER = "X-Axiom-Canary-Fallback"
PINNED_HEADER = "X-Axiom-Pinned"
# True while this pod serves a request that must not feed the analysis (a tester's pin).
# A context variable, not request storage: each aiohttp request runs in its own task, and
# the routes read it without the splitter handing them anything.
SERVING_PINNED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "axiom_serving_pinned", default=False
)
PIN_CANARY = "canary"
PIN_STABLE = "stable"

# Forwarding adds a loopback/in-cluster hop: finer buckets than the defaults at the low end.
FORWARD_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
# Re-read the file even when stat() looks unchanged, every this many polls (mtime granularity).
_FORCED_READ_EVERY = 10

ServeLocally = Callable[[], Awaitable[web.StreamResponse]]
ServeGrpcLocally = Callable[[], Awaitable["pb.ModelInferResponse"]]
# gRPC metadata keys are lowercase; the loop guard and the pin are the HTTP headers' twins.
GRPC_FORWARDED_KEY = FORWARDED_HEADER.lower()
GRPC_PINNED_KEY = PINNED_HEADER.lower()


class TrafficSplitter:
    """Serve locally or forward to the canary, by exact weight and sticky by request id."""

    def __init__(
        self,
        config_path: str | os.PathLike[str],
        registry: CollectorRegistry,
        *,
        model_name: str,
        local_version: str,
        generation_gauge: Gauge,
        poll_interval: float = 1.0,
        rng: random.Random | None = None,
        max_message_bytes: int = 4 * 1024 * 1024,
        mirror_queue_size: int = 256,
        mirror_workers: int = 4,
    ) -> None:
        self.config_path = Path(config_path)
        self.model_name = model_name
        self.local_version = local_version
        self.poll_interval = poll_interval
        self._rng = rng or random.Random()
        self._config: TrafficConfig | None = None
        self._last_error: str | None = None
        self._last_stat: tuple[int, int, int] | None = None
        self._last_text: str | None = None
        self._polls = 0
        self._watch_task: asyncio.Task[None] | None = None
        self._forwarder = Forwarder()
        self._grpc_forwarder: GrpcForwarder | None = None  # created on the first gRPC call
        self._max_message_bytes = max_message_bytes  # gRPC forwards: the server's body cap
        labels = (model_name, local_version)
        self._split = Counter(
            names.SPLIT_REQUESTS_TOTAL,
            "Inference requests by where this pod's splitter sent them.",
            (*names.MODEL_LABELS, names.SPLIT_TARGET_LABEL),
            registry=registry,
        )
        self._to_stable = self._split.labels(*labels, "stable")
        self._to_canary = self._split.labels(*labels, "canary")
        self._failures = Counter(
            names.CANARY_FORWARD_FAILURES,
            "Forwards to the canary answered locally instead, by failure class.",
            (*names.MODEL_LABELS, names.REASON_LABEL),
            registry=registry,
        )
        self._failure_children = {
            reason: self._failures.labels(*labels, reason)
            for reason in (names.REASON_CONNECT, names.REASON_TIMEOUT, names.REASON_STATUS_5XX)
        }
        self._forward_latency = Histogram(
            names.CANARY_FORWARD_LATENCY,
            "Time to get the canary's answer for a forwarded request.",
            names.MODEL_LABELS,
            registry=registry,
            buckets=FORWARD_LATENCY_BUCKETS,
        ).labels(*labels)
        # The server's gauge (RuntimeMetrics.traffic_generation): one series per pod, which
        # reads -1 until this splitter applies a config.
        self._generation_gauge = generation_gauge
        self._generation_gauge.set(-1)
        self.mirror = Mirror(
            ShadowMetrics(registry, model_name, local_version),
            queue_size=mirror_queue_size,
            workers=mirror_workers,
        )
        self._pinned = Counter(
            names.PINNED_REQUESTS_TOTAL,
            "Requests a tester pinned to one version by header (never analysed).",
            (*names.MODEL_LABELS, names.SPLIT_TARGET_LABEL),
            registry=registry,
        )
        self._config_errors = Counter(
            names.TRAFFIC_CONFIG_ERRORS_TOTAL,
            "Traffic config files rejected (the last good config stays applied).",
            names.MODEL_LABELS,
            registry=registry,
        ).labels(*labels)

    # -- config ---------------------------------------------------------------------------

    @property
    def applied_generation(self) -> int:
        """Generation of the config in force, -1 when none has been applied."""
        return -1 if self._config is None else self._config.generation

    @property
    def config(self) -> TrafficConfig | None:
        return self._config

    @property
    def last_error(self) -> str | None:
        """Why the newest file was rejected, or None when it is the one applied."""
        return self._last_error

    def reload(self) -> bool:
        """Read the file now if it changed; apply it when valid. True when a config was applied."""
        self._polls += 1
        try:
            stat = self.config_path.stat()
        except FileNotFoundError:
            if self._config is not None and self._last_error is None:
                self._report(
                    f"{self.config_path} disappeared; keeping generation {self._config.generation}"
                )
            return False
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._last_stat and self._polls % _FORCED_READ_EVERY:
            return False
        self._last_stat = signature
        try:
            text = self.config_path.read_text(encoding="utf-8")
        except OSError as error:
            self._report(f"cannot read {self.config_path}: {error}")
            return False
        if text == self._last_text:
            return False
        self._last_text = text
        try:
            config = parse_traffic_config(text)
        except TrafficConfigError as error:
            self._report(f"{error}; keeping generation {self.applied_generation}")
            return False
        self.apply(config)
        return True

    def apply(self, config: TrafficConfig) -> None:
        """Make ``config`` the one in force (one reference swap: in-flight requests unaffected)."""
        self._config = config
        self._last_error = None
        self._generation_gauge.set(config.generation)
        log.info(
            "traffic config generation %d applied: canary %s",
            config.generation,
            "none"
            if config.canary is None
            else f"{config.canary.version} at {config.canary.weight}%",
        )

    def _report(self, message: str) -> None:
        self._last_error = message
        self._config_errors.inc()
        log.warning("traffic config rejected: %s", message)

    async def start(self) -> None:
        """Load the file once (if present) and start watching it."""
        self.reload()
        if self._watch_task is None:
            self._watch_task = asyncio.create_task(self._watch(), name="traffic-config-watch")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                self.reload()
            except Exception:  # the watcher must outlive any surprise; the next poll retries
                log.exception("traffic config watcher failed; retrying")

    async def close(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
            self._watch_task = None
        await self.mirror.close()
        await self._forwarder.close()
        if self._grpc_forwarder is not None:
            await self._grpc_forwarder.close()

    # -- requests -------------------------------------------------------------------------

    def _wants_canary(self, request: web.Request, config: TrafficConfig | None) -> bool:
        if config is None or config.canary is None:
            return False
        # Loop guard, and a promoted canary whose pods mount the same ConfigMap.
        if FORWARDED_HEADER in request.headers or config.canary.version == self.local_version:
            return False
        request_id = request.headers.get(config.request_id_header)
        return goes_to_canary(request_id, config.canary.weight, self._rng)

    def _wants_mirror(self, request: web.Request, config: TrafficConfig | None) -> bool:
        """Copy this locally answered request to the canary? Sticky by id, like the split,
        but on its own hash ("mirror:" + id) so the mirrored share of the requests stable
        answers is ``mirror`` percent whatever the weight."""
        if config is None or config.canary is None or not config.canary.mirror:
            return False
        if FORWARDED_HEADER in request.headers or config.canary.version == self.local_version:
            return False
        return self._mirror_by_id(request.headers.get(config.request_id_header), config)

    def _mirror_by_id(self, request_id: str | None, config: TrafficConfig) -> bool:
        assert config.canary is not None
        return goes_to_canary(
            None if request_id is None else f"mirror:{request_id}", config.canary.mirror, self._rng
        )

    def _pin_of(self, request: web.Request, config: TrafficConfig | None) -> str | None:
        """``canary`` or ``stable`` when the spec opted into pinning and the header asks."""
        if config is None or config.pin_header is None:
            return None
        if FORWARDED_HEADER in request.headers:
            # A pinned request forwarded to this (canary) pod: serve it, count it apart.
            return PIN_CANARY if request.headers.get(PINNED_HEADER) == PIN_CANARY else None
        value = request.headers.get(config.pin_header, "").strip().lower()
        if value in (PIN_CANARY, PIN_STABLE):
            return value
        return None

    async def handle(
        self, request: web.Request, body: bytes, serve_locally: ServeLocally
    ) -> web.StreamResponse:
        """Answer ``request`` locally or from the canary; a failed forward is answered locally."""
        config = self._config  # one read: this request sticks to this generation
        pin = self._pin_of(request, config)
        if pin is not None:
            return await self._handle_pinned(request, body, serve_locally, config, pin)
        if not self._wants_canary(request, config):
            self._to_stable.inc()
            response = await serve_locally()
            if self._wants_mirror(request, config):
                self._offer_mirror(request, body, response, config)
            return response
        assert config is not None and config.canary is not None
        self._to_canary.inc()
        return await self._forward(request, body, serve_locally, config, count_failures=True)

    async def _forward(
        self,
        request: web.Request,
        body: bytes,
        serve_locally: ServeLocally,
        config: TrafficConfig,
        *,
        count_failures: bool,
        pinned: bool = False,
    ) -> web.StreamResponse:
        canary = config.canary
        assert canary is not None
        headers = request_headers_for_canary(
            request.headers, config.request_id_header, self.local_version
        )
        if pinned:
            headers[PINNED_HEADER] = PIN_CANARY
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            answer = await self._forwarder.forward(
                request.method,
                canary.url + request.path_qs,
                headers,
                body,
                config.forward_timeout_seconds,
            )
        except ForwardFailure as failure:
            if count_failures:
                self._failure_children[failure.reason].inc()
            else:
                SERVING_PINNED.set(True)
            response = await serve_locally()
            if not response.prepared:
                response.headers[FALLBACK_HEADER] = failure.reason
            return response
        if count_failures:
            self._forward_latency.observe(loop.time() - started)
        answer.headers.setdefault(VERSION_HEADER, canary.version)
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    async def _handle_pinned(
        self,
        request: web.Request,
        body: bytes,
        serve_locally: ServeLocally,
        config: TrafficConfig | None,
        pin: str,
    ) -> web.StreamResponse:
        """A tester's request: the version asked for, outside every analysed count."""
        # Children on first use: a pod nobody pinned exports no pinned series at all.
        self._pinned.labels(self.model_name, self.local_version, pin).inc()
        forwarded_to_me = FORWARDED_HEADER in request.headers
        canary = None if config is None else config.canary
        if (
            pin == PIN_STABLE
            or forwarded_to_me
            or canary is None
            or canary.version == self.local_version
        ):
            SERVING_PINNED.set(True)  # the routes skip the analysed metrics for this one
            return await serve_locally()
        assert config is not None
        return await self._forward(
            request, body, serve_locally, config, count_failures=False, pinned=True
        )

    def _offer_mirror(
        self,
        request: web.Request,
        body: bytes,
        response: web.StreamResponse,
        config: TrafficConfig | None,
    ) -> None:
        """Queue a copy of a request stable answered (only a complete 2xx JSON answer)."""
        if config is None or config.canary is None or not isinstance(response, web.Response):
            return
        stable_body = response.body
        if response.status >= 300 or not isinstance(stable_body, bytes):
            return
        if self.mirror.refuse_if_full(config.canary.version):
            return
        headers = request_headers_for_canary(
            request.headers, config.request_id_header, self.local_version
        )
        headers[MIRROR_HEADER] = "1"
        self.mirror.offer(
            MirrorJob(
                canary_version=config.canary.version,
                url=config.canary.url + request.path_qs,
                method=request.method,
                headers=headers,
                body=body,
                stable_body=stable_body,
                timeout_seconds=config.forward_timeout_seconds,
            )
        )

    # -- gRPC requests --------------------------------------------------------------------

    async def handle_grpc(
        self,
        request: pb.ModelInferRequest,
        context: grpc.aio.ServicerContext[Any, Any],
        serve_locally: ServeGrpcLocally,
    ) -> pb.ModelInferResponse:
        """The gRPC twin of :meth:`handle`: same weight, same buckets, same fallback and counts,
        the same mirror (a copy of a call stable answered, compared) and the same pin.

        Stickiness reads the request id from the call's metadata (the config's header name,
        lowercased as gRPC sends it), so a caller using both protocols stays on one version;
        the pin is the pin header's name, lowercased, in the metadata.
        """
        config = self._config
        metadata = tuple((key, str(value)) for key, value in context.invocation_metadata() or ())
        canary = None if config is None else config.canary
        forwarded_to_me = any(key == GRPC_FORWARDED_KEY for key, _ in metadata)
        pin = self._grpc_pin_of(metadata, config, forwarded_to_me)
        if pin is not None:
            # A tester's call: the version asked for, outside every analysed count.
            self._pinned.labels(self.model_name, self.local_version, pin).inc()
            if (
                pin == PIN_STABLE
                or forwarded_to_me
                or canary is None
                or canary.grpc_target is None
                or canary.version == self.local_version
            ):
                SERVING_PINNED.set(True)  # serve_locally skips the analysed metrics
                return await serve_locally()
        elif (
            config is None
            or canary is None
            or canary.grpc_target is None
            or canary.version == self.local_version
            or forwarded_to_me
            or not goes_to_canary(
                _metadata_value(metadata, config.request_id_header.lower()),
                canary.weight,
                self._rng,
            )
        ):
            self._to_stable.inc()
            answer = await serve_locally()
            if (
                config is not None
                and canary is not None
                and canary.mirror
                and canary.grpc_target is not None
                and canary.version != self.local_version
                and not forwarded_to_me
                and self._mirror_by_id(
                    _metadata_value(metadata, config.request_id_header.lower()), config
                )
            ):
                self._offer_grpc_mirror(request, answer, metadata, config)
            return answer
        assert config is not None and canary is not None and canary.grpc_target is not None
        from axiom_runtime.traffic.grpc_forward import CanaryRelayedError, GrpcForwarder

        if self._grpc_forwarder is None:
            self._grpc_forwarder = GrpcForwarder(max_message_bytes=self._max_message_bytes)
        forwarded = self._grpc_forward_metadata(metadata, config)
        if pin is not None:
            forwarded.append((GRPC_PINNED_KEY, PIN_CANARY))
        else:
            self._to_canary.inc()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            answer = await self._grpc_forwarder.forward(
                canary.grpc_target, request, forwarded, config.forward_timeout_seconds
            )
        except ForwardFailure as failure:
            if pin is None:
                self._failure_children[failure.reason].inc()
            else:
                SERVING_PINNED.set(True)
            return await serve_locally()
        except CanaryRelayedError as refused:
            if pin is None:
                self._forward_latency.observe(loop.time() - started)
            await context.abort(refused.code, refused.details)
            raise  # abort raises; this line only tells the type checker so
        if pin is None:
            self._forward_latency.observe(loop.time() - started)
        return answer

    def _grpc_pin_of(
        self,
        metadata: tuple[tuple[str, str], ...],
        config: TrafficConfig | None,
        forwarded_to_me: bool,
    ) -> str | None:
        """:meth:`_pin_of` for a gRPC call: the pin header's name, lowercased, in metadata."""
        if config is None or config.pin_header is None:
            return None
        if forwarded_to_me:
            return PIN_CANARY if _metadata_value(metadata, GRPC_PINNED_KEY) == PIN_CANARY else None
        value = (_metadata_value(metadata, config.pin_header.lower()) or "").strip().lower()
        return value if value in (PIN_CANARY, PIN_STABLE) else None

    def _grpc_forward_metadata(
        self, metadata: tuple[tuple[str, str], ...], config: TrafficConfig
    ) -> list[tuple[str, str]]:
        """What a forwarded or mirrored call carries: the ids and trace context, and the
        loop guard."""
        kept = (config.request_id_header.lower(), "x-request-id", "traceparent", "tracestate")
        forwarded = [(key, value) for key, value in metadata if key in kept]
        forwarded.append((GRPC_FORWARDED_KEY, self.local_version))
        return forwarded

    def _offer_grpc_mirror(
        self,
        request: pb.ModelInferRequest,
        answer: pb.ModelInferResponse,
        metadata: tuple[tuple[str, str], ...],
        config: TrafficConfig,
    ) -> None:
        """Queue a copy of a gRPC call stable answered (the messages it already holds)."""
        canary = config.canary
        assert canary is not None and canary.grpc_target is not None
        if self.mirror.refuse_if_full(canary.version):
            return
        forwarded = self._grpc_forward_metadata(metadata, config)
        forwarded.append((MIRROR_GRPC_KEY, "1"))
        self.mirror.offer(
            GrpcMirrorJob(
                canary_version=canary.version,
                target=canary.grpc_target,
                request=request,
                metadata=tuple(forwarded),
                stable_answer=answer,
                timeout_seconds=config.forward_timeout_seconds,
                max_message_bytes=self._max_message_bytes,
            )
        )


def _metadata_value(metadata: tuple[tuple[str, str], ...], key: str) -> str | None:
    for name, value in metadata:
        if name == key:
            return value
    return None
