"""Transport: the Open Inference Protocol over gRPC (``inference.GRPCInferenceService``).

It runs on grpcio's asyncio server in the same process and event loop as aiohttp, so both
protocols share one dataplane: one micro-batcher (a gRPC and an HTTP request can share a
forward pass), one readiness gate, one set of metrics series (the operator's analysis counts
gRPC traffic without knowing it exists). Errors map through ``errors.GRPC_CODE_BY_ERROR``
and their details start with the field: ``inputs[0].shape: expected [N, 8] ...``.

Imported only when a gRPC port is configured: a server without one never loads grpcio.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc

from axiom_runtime.server import grpc_codec
from axiom_runtime.server.errors import (
    GRPC_FIELD_METADATA_KEY,
    details_of,
    field_of,
    grpc_code_name_for,
    status_for,
)
from axiom_runtime.server.logging import LOGGER_NAME, log_event
from axiom_runtime.server.protocol import open_inference_pb2 as pb
from axiom_runtime.server.protocol import open_inference_pb2_grpc as pb_grpc
from axiom_runtime.server.state import ServerState
from axiom_runtime.server.v2 import server_metadata
from axiom_runtime.server.version import SERVER_VERSION
from axiom_runtime.traffic.splitter import SERVING_PINNED

log = logging.getLogger(LOGGER_NAME)
# How long no inference call may have started before the drain stops the gRPC server.
DRAIN_QUIET_SECONDS = 0.25


@dataclass
class CallActivity:
    """Inference calls being handled, and when the last one started (monotonic s)."""

    in_flight: int = 0
    last_started: float = field(default_factory=time.monotonic)

    @contextmanager
    def call(self) -> Iterator[None]:
        self.in_flight += 1
        self.last_started = time.monotonic()
        try:
            yield
        finally:
            self.in_flight -= 1


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], error: Exception) -> None:
    """Answer ``error`` with its status code; never returns (``abort`` raises)."""
    code = grpc.StatusCode[grpc_code_name_for(error)]
    if code is grpc.StatusCode.INTERNAL:
        log_event(log, logging.ERROR, "unexpected error", error=repr(error))
        await context.abort(code, "internal error")
    field = field_of(error)
    if field is not None:
        context.set_trailing_metadata(((GRPC_FIELD_METADATA_KEY, field),))
    await context.abort(code, details_of(error))


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    """The six V2 RPCs over the server's shared state (dataplane, readiness, metrics)."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.activity = CallActivity()

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerLiveResponse:
        dataplane = self.state.dataplane
        # As /health: a stopped batch worker would wedge inference, so the server is not live.
        return pb.ServerLiveResponse(live=dataplane is None or dataplane.batcher.alive)

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.state.readiness.ready)

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelReadyResponse:
        try:
            dataplane = self.state.loaded_dataplane()
            dataplane.check_model(request.name, request.version or None)
        except Exception as error:
            await abort_with(context, error)
        return pb.ModelReadyResponse(ready=self.state.readiness.ready)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerMetadataResponse:
        document = server_metadata(SERVER_VERSION)
        return pb.ServerMetadataResponse(
            name=document["name"], version=document["version"], extensions=document["extensions"]
        )

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelMetadataResponse:
        try:
            dataplane = self.state.loaded_dataplane()
            dataplane.check_model(request.name, request.version or None)
        except Exception as error:
            await abort_with(context, error)
        return grpc_codec.model_metadata(dataplane.model_metadata())

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelInferResponse:
        started = time.perf_counter()
        with self.activity.call():
            splitter = self.state.splitter
            if splitter is not None:
                return await splitter.handle_grpc(
                    request, context, lambda: self.serve_locally(request, context, started)
                )
            return await self.serve_locally(request, context, started)

    async def serve_locally(
        self,
        request: pb.ModelInferRequest,
        context: grpc.aio.ServicerContext[Any, Any],
        started: float,
    ) -> pb.ModelInferResponse:
        """Infer on this pod (the splitter's fallback too); counts the request's metrics."""
        state = self.state
        failure: Exception | None = None
        try:
            dataplane = state.serving_dataplane()
            dataplane.check_model(request.model_name, request.model_version or None)
            decoded = grpc_codec.decode_model_infer(request, dataplane.spec)
            answer = grpc_codec.encode_model_infer(await dataplane.infer_decoded(decoded))
        except Exception as error:  # every error becomes a status; the table picks the code
            failure = error
        metrics = state.metrics
        # A tester's pinned call is counted apart by the splitter, never in the analysed series.
        if metrics is not None and not SERVING_PINNED.get():
            metrics.latency.observe(time.perf_counter() - started)
            if failure is None:
                metrics.ok.inc()
            elif status_for(failure) < 500:
                metrics.client_error.inc()
            else:
                metrics.server_error.inc()
        if failure is not None:
            await abort_with(context, failure)
        return answer


def grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class GrpcServing:
    """The running gRPC server and what its drain needs to know."""

    server: grpc.aio.Server
    activity: CallActivity

    async def drain(self, limit_seconds: float) -> None:
        """SIGTERM: answer what has arrived, then refuse new calls and let the rest finish,
        all within ``limit_seconds``.

        grpcio's ``stop(grace)`` cancels every call its core has received but no handler has
        taken yet (grpc/grpc#41785): the client sees CANCELLED for a call it sent before the
        signal. While the forward pass keeps the loop busy, 15 of 16 calls were still
        waiting like that (tests/runtime/test_server_shutdown.py). So the server keeps
        taking calls until none is in flight and none has started for
        ``DRAIN_QUIET_SECONDS``, counted from the signal at the earliest; /ready already
        says 503, so endpoints have stopped sending new ones.
        """
        began = time.monotonic()
        deadline = began + limit_seconds
        activity = self.activity
        while time.monotonic() < deadline:
            quiet_since = max(activity.last_started, began)
            if activity.in_flight == 0 and time.monotonic() - quiet_since >= DRAIN_QUIET_SECONDS:
                break
            await asyncio.sleep(0.02)
        await self.server.stop(grace=max(0.0, deadline - time.monotonic()))

    async def close(self) -> None:
        await self.server.stop(grace=0)


async def start_grpc_server(state: ServerState) -> GrpcServing:
    """Bind and start the gRPC server on ``config.grpc_port``; raises when it cannot bind."""
    config = state.config
    server = grpc.aio.server(
        options=[
            # The HTTP body cap is the gRPC message cap: one limit on what a request may cost.
            ("grpc.max_receive_message_length", config.max_body_bytes),
            # Without this a second process could bind the same port and take half the calls.
            ("grpc.so_reuseport", 0),
        ]
    )
    service = InferenceService(state)
    # The generated service module is untyped (no .pyi from grpcio-tools for it).
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        service, server
    )
    address = grpc_address(config.host, config.grpc_port)
    try:
        server.add_insecure_port(address)
    except RuntimeError as error:
        raise OSError(f"cannot listen for gRPC on {address}: {error}") from error
    await server.start()
    log_event(log, logging.INFO, "listening (gRPC)", host=config.host, port=config.grpc_port)
    return GrpcServing(server, service.activity)
