"""Forward one gRPC ``ModelInfer`` to the canary over a pooled channel per target.

The gRPC twin of :mod:`axiom_runtime.traffic.forward`, with the same failure classes so
the operator's analysis reads one series: ``connect`` (UNAVAILABLE: refused, reset, no
address), ``timeout`` (DEADLINE_EXCEEDED), ``status_5xx`` (the canary answered with a
server-side code). A client-side code (INVALID_ARGUMENT, NOT_FOUND, ...) is the caller's
mistake, relayed as it is, as HTTP relays a 4xx.

Imported only by a pod that serves gRPC and splits traffic.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from axiom_runtime.server.errors import GRPC_FIELD_METADATA_KEY
from axiom_runtime.server.protocol import open_inference_pb2 as pb
from axiom_runtime.server.protocol import open_inference_pb2_grpc as pb_grpc
from axiom_runtime.traffic.forward import ForwardFailure

# What the canary may say that is about the request, not about the canary.
CLIENT_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.CANCELLED,
    }
)


class CanaryRelayedError(Exception):
    """The canary refused the request for a client-side reason: answer the client with it."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class GrpcForwarder:
    """One channel per canary target, reused across calls (HTTP/2 multiplexes them)."""

    def __init__(self, *, max_message_bytes: int) -> None:
        self._max_message_bytes = max_message_bytes
        self._channels: dict[str, tuple[grpc.aio.Channel, pb_grpc.GRPCInferenceServiceStub]] = {}
        self._closing: list[grpc.aio.Channel] = []

    def _stub(self, target: str) -> pb_grpc.GRPCInferenceServiceStub:
        entry = self._channels.get(target)
        if entry is None:
            channel = grpc.aio.insecure_channel(
                target,
                options=[
                    ("grpc.max_send_message_length", self._max_message_bytes),
                    ("grpc.max_receive_message_length", -1),
                    # A canary pod that went away must fail fast to the local fallback.
                    ("grpc.initial_reconnect_backoff_ms", 100),
                    ("grpc.max_reconnect_backoff_ms", 1000),
                ],
            )
            stub = pb_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
            entry = (channel, stub)
            # One target at a time in practice: drop channels of canaries no longer named.
            for old, (old_channel, _) in list(self._channels.items()):
                del self._channels[old]
                self._closing.append(old_channel)
            self._channels[target] = entry
        return entry[1]

    async def forward(
        self,
        target: str,
        request: pb.ModelInferRequest,
        metadata: Sequence[tuple[str, str]],
        timeout_seconds: float,
    ) -> pb.ModelInferResponse:
        """One attempt; raises ForwardFailure (fall back) or CanaryRelayedError (relay)."""
        try:
            answer: pb.ModelInferResponse = await self._stub(target).ModelInfer(
                request, metadata=tuple(metadata), timeout=timeout_seconds
            )
            return answer
        except grpc.aio.AioRpcError as error:
            code = error.code()
            details = error.details() or ""
            if code in CLIENT_CODES:
                raise CanaryRelayedError(code, details) from None
            if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ForwardFailure(
                    "timeout", f"{target} took more than {timeout_seconds}s"
                ) from None
            # UNAVAILABLE is also what a canary that is up but not ready answers; it names the
            # field then, and has counted the call itself, like an HTTP 503.
            if code is grpc.StatusCode.UNAVAILABLE and not _answered_by_runtime(error):
                raise ForwardFailure("connect", f"{target}: {details}") from None
            raise ForwardFailure(
                "status_5xx", f"{target} answered {code.name}: {details}"
            ) from None

    async def close(self) -> None:
        channels = [channel for channel, _ in self._channels.values()] + self._closing
        self._channels.clear()
        self._closing = []
        for channel in channels:
            await channel.close()


def _answered_by_runtime(error: grpc.aio.AioRpcError) -> bool:
    return any(key == GRPC_FIELD_METADATA_KEY for key, _ in error.trailing_metadata() or ())
