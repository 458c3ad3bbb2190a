"""Fuzz the gRPC surface: no ModelInferRequest may produce INTERNAL/UNKNOWN, a hang or a crash.

Near-valid requests (right fields, wrong everything else: datatypes, shapes, element
counts, typed contents in any field, raw contents that lie about their length, requested
outputs) go to a real `axiom serve` process; every answer must be OK or one of the
protocol's client codes, and the server must still answer afterwards. Built with
tritonclient's generated messages (the protocol's wire format).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from axiom_runtime.server.testing import ServedBoth

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
DATATYPES = st.sampled_from(
    ["FP32", "FP64", "FP16", "INT8", "INT32", "INT64", "UINT8", "UINT64", "BOOL", "BYTES", ""]
)
CONTENTS = {
    "fp32_contents": st.floats(width=32),
    "fp64_contents": st.floats(),
    "int_contents": st.integers(-(2**31), 2**31 - 1),
    "int64_contents": st.integers(-(2**63), 2**63 - 1),
    "uint_contents": st.integers(0, 2**32 - 1),
    "uint64_contents": st.integers(0, 2**64 - 1),
    "bool_contents": st.booleans(),
    "bytes_contents": st.binary(max_size=4),
}


@st.composite
def infer_requests(draw: st.DrawFn) -> Any:
    request = pb.ModelInferRequest(
        model_name=draw(st.sampled_from(["tiny", "tiny", "other", ""])),
        model_version=draw(st.sampled_from(["", "1.0.0", "2"])),
        id=draw(st.text(max_size=4)),
    )
    for _ in range(draw(st.integers(0, 2))):
        tensor = request.inputs.add(
            name=draw(st.text(max_size=3)),
            datatype=draw(DATATYPES),
            shape=draw(
                st.lists(st.integers(-2, 9) | st.sampled_from([2**31, 2**62]), max_size=3)
                | st.just([1, 8])
                | st.just([8])
            ),
        )
        for field in draw(st.lists(st.sampled_from(sorted(CONTENTS)), max_size=2, unique=True)):
            getattr(tensor.contents, field).extend(draw(st.lists(CONTENTS[field], max_size=12)))
    for raw in draw(st.lists(st.binary(max_size=80), max_size=2)):
        request.raw_input_contents.append(raw)
    for name in draw(st.lists(st.sampled_from(["output", "class", "confidence", "x"]), max_size=3)):
        request.outputs.add(name=name)
    return request


@pytest.fixture(scope="module")
def stub(served_both: ServedBoth) -> Iterator[Any]:
    with grpc.insecure_channel(served_both.grpc_address) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)
        assert stub_alive(pb_grpc.GRPCInferenceServiceStub(channel)), "server wedged"


def stub_alive(stub: Any) -> bool:
    return bool(stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=infer_requests())
def test_no_request_gets_a_server_side_code(stub: Any, request: Any) -> None:
    try:
        stub.ModelInfer(request, timeout=10)
        code = grpc.StatusCode.OK
    except grpc.RpcError as error:
        code = error.code()
        assert error.details(), "every refusal says why"
    assert code in ALLOWED, (code, request)
