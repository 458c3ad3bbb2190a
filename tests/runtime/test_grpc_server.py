"""The gRPC transport's own rules, over a real channel to a real `axiom serve` process.

Requests are built with tritonclient's generated messages (the protocol's wire format,
not ours: the server's stubs are never imported into the test process, whose protobuf
pool already holds tritonclient's ``inference.*`` symbols). Covers what a client library
would never send: typed ``contents`` in the wrong field, ``raw_input_contents`` that do not
match the inputs, a message over the size cap, a server that is not ready.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from axiom_runtime.metrics import parse_prometheus_text, sample_value
from axiom_runtime.server.testing import ServedBoth, SignedModel, serve_both

ROW = [float(i) for i in range(8)]


@pytest.fixture(scope="module")
def stub(served_both: ServedBoth) -> Iterator[Any]:
    with grpc.insecure_channel(served_both.grpc_address) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def _request(datatype: str = "FP32", shape: tuple[int, ...] = (1, 8), **contents: Any) -> Any:
    tensor = pb.ModelInferRequest().InferInputTensor(name="x", datatype=datatype, shape=shape)
    for field, values in contents.items():
        getattr(tensor.contents, field).extend(values)
    return pb.ModelInferRequest(model_name="tiny", inputs=[tensor])


def _error(stub: Any, request: Any) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(request, timeout=10)
    error = raised.value
    return error.code(), error.details(), dict(error.trailing_metadata() or ())


@pytest.mark.parametrize(
    ("datatype", "field", "values"),
    [
        ("FP32", "fp32_contents", ROW),
        ("FP64", "fp64_contents", ROW),
        ("INT8", "int_contents", [int(v) for v in ROW]),
        ("INT32", "int_contents", [int(v) for v in ROW]),
        ("INT64", "int64_contents", [int(v) for v in ROW]),
        ("UINT16", "uint_contents", [int(v) for v in ROW]),
        ("UINT64", "uint64_contents", [int(v) for v in ROW]),
    ],
)
def test_typed_contents_give_the_raw_answer(
    stub: Any, datatype: str, field: str, values: list[Any]
) -> None:
    typed = stub.ModelInfer(_request(datatype, **{field: values}), timeout=10)
    raw_request = _request()
    raw_request.raw_input_contents.append(np.asarray(ROW, dtype="<f4").tobytes())
    raw = stub.ModelInfer(raw_request, timeout=10)
    assert [o.name for o in typed.outputs] == ["output", "class", "confidence"]
    np.testing.assert_allclose(
        np.frombuffer(typed.raw_output_contents[0], "<f4"),
        np.frombuffer(raw.raw_output_contents[0], "<f4"),
    )


def test_contents_in_the_wrong_field_name_it(stub: Any) -> None:
    code, details, trailers = _error(stub, _request("FP32", fp64_contents=ROW))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("inputs[0].contents.fp64_contents: does not carry datatype FP32")
    assert trailers["axiom-field"] == "inputs[0].contents.fp64_contents"


def test_fp16_needs_raw_contents(stub: Any) -> None:
    code, details, _ = _error(stub, _request("FP16"))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and details.startswith("raw_input_contents:")


def test_integers_outside_the_datatype_are_refused(stub: Any) -> None:
    code, details, _ = _error(stub, _request("INT8", int_contents=[1, 2, 3, 4, 5, 6, 7, 300]))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("inputs[0].contents.int_contents: has values outside the INT8")


def test_element_count_must_match_the_shape(stub: Any) -> None:
    code, details, _ = _error(stub, _request("FP32", fp32_contents=ROW[:5]))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("inputs[0].contents.fp32_contents: has 5 elements")


def test_values_outside_the_input_range_name_the_element(stub: Any) -> None:
    code, details, _ = _error(stub, _request("FP32", fp32_contents=[*ROW[:7], 99.0]))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("inputs[0].contents.fp32_contents[0][7]: value 99")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([b"\0" * 32, b"\0" * 32], "raw_input_contents"),
        ([b"\0" * 31], "raw_input_contents[0]"),
    ],
)
def test_raw_contents_that_lie_are_refused(stub: Any, raw: list[bytes], field: str) -> None:
    request = _request()
    request.raw_input_contents.extend(raw)
    code, details, _ = _error(stub, request)
    assert code is grpc.StatusCode.INVALID_ARGUMENT and details.startswith(f"{field}:")


def test_raw_and_typed_contents_together_are_refused(stub: Any) -> None:
    request = _request(fp32_contents=ROW)
    request.raw_input_contents.append(np.asarray(ROW, dtype="<f4").tobytes())
    code, details, _ = _error(stub, request)
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("inputs[0].contents.fp32_contents: must be empty")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"datatype": "BYTES"}, "inputs[0].datatype"),
        ({"datatype": "fp32"}, "inputs[0].datatype"),
        ({"shape": (-1, 8)}, "inputs[0].shape"),
        ({"shape": ()}, "inputs[0].shape"),
        ({"shape": (2**40, 2**40)}, "inputs[0].contents.fp32_contents"),
    ],
)
def test_bad_tensor_headers_name_the_field(stub: Any, change: dict[str, Any], field: str) -> None:
    request = _request(fp32_contents=ROW)
    tensor = request.inputs[0]
    if "datatype" in change:
        tensor.datatype = change["datatype"]
    if "shape" in change:
        del tensor.shape[:]
        tensor.shape.extend(change["shape"])
    code, details, _ = _error(stub, request)
    assert code is grpc.StatusCode.INVALID_ARGUMENT and details.startswith(f"{field}:"), details


def test_no_inputs_and_unknown_outputs_are_refused(stub: Any) -> None:
    code, details, _ = _error(stub, pb.ModelInferRequest(model_name="tiny"))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and details.startswith("inputs:")
    request = _request(fp32_contents=ROW)
    request.outputs.add(name="logits")
    code, details, _ = _error(stub, request)
    assert code is grpc.StatusCode.INVALID_ARGUMENT and details.startswith("outputs[0].name:")


def test_unknown_version_is_not_found(stub: Any) -> None:
    request = _request(fp32_contents=ROW)
    request.model_version = "9.9.9"
    code, details, _ = _error(stub, request)
    assert code is grpc.StatusCode.NOT_FOUND and details.startswith("version:")
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelReady(pb.ModelReadyRequest(name="other"), timeout=10)
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


def test_a_message_over_the_body_cap_is_resource_exhausted(
    signed_model: SignedModel, tmp_path: Path
) -> None:
    served = serve_both(signed_model, tmp_path / "serve.log", AXIOM_MAX_BODY_BYTES="4096")
    try:
        with grpc.insecure_channel(served.grpc_address) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            small = _request(fp32_contents=ROW)
            assert stub.ModelInfer(small, timeout=10).outputs
            big = _request(shape=(200, 8), fp32_contents=ROW * 200)  # 6.4 kB of floats
            code, _, _ = _error(stub, big)
            assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert stub.ModelInfer(small, timeout=10).outputs  # and the server carries on
    finally:
        served.process.stop()


def test_not_ready_is_unavailable_and_reported_by_the_health_rpcs(
    signed_model: SignedModel, other_keys: Path, tmp_path: Path
) -> None:
    # A certificate signed by a key the server does not trust: enforce keeps it not ready.
    log = tmp_path / "serve.log"
    served = _serve_not_ready(signed_model, other_keys, log)
    try:
        with grpc.insecure_channel(served.grpc_address) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            assert stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live
            assert not stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready
            assert not stub.ModelReady(pb.ModelReadyRequest(name="tiny"), timeout=10).ready
            code, details, _ = _error(stub, _request(fp32_contents=ROW))
            assert code is grpc.StatusCode.UNAVAILABLE and details.startswith("model: ")
    finally:
        served.process.stop()


def _serve_not_ready(model: SignedModel, keys: Path, log: Path) -> ServedBoth:
    import time
    import urllib.error
    import urllib.request

    from axiom_runtime.server.testing import ServeProcess, free_port

    http_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "AXIOM_MODEL_URI": str(model.package),
        "AXIOM_CERTIFICATE": str(model.certificate),
        "AXIOM_TRUSTED_KEYS": str(keys),
        "AXIOM_HOST": "127.0.0.1",
        "AXIOM_PORT": str(http_port),
        "AXIOM_GRPC_PORT": str(grpc_port),
    }
    served = ServedBoth(ServeProcess([], env, log), http_port, grpc_port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://{served.http_address}/ready", timeout=2)
        except urllib.error.HTTPError as error:
            if b'"Loading"' not in error.read():
                return served
        except OSError:
            pass
        time.sleep(0.05)
    served.process.stop()
    raise AssertionError(log.read_text())


def _metric(served: ServedBoth, name: str) -> float:
    return sample_value(parse_prometheus_text(served.metrics_text()), name)


async def _concurrent(target: str, count: int) -> list[grpc.StatusCode]:
    request = _request()
    request.raw_input_contents.append(np.asarray(ROW, dtype="<f4").tobytes())
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        await stub.ServerReady(pb.ServerReadyRequest(), timeout=10)

        async def one() -> grpc.StatusCode:
            try:
                await stub.ModelInfer(request, timeout=10)
                return grpc.StatusCode.OK
            except grpc.aio.AioRpcError as error:
                assert error.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED or (
                    (error.details() or "").startswith("input: ")
                )
                return error.code()

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_concurrent_grpc_calls_share_forward_passes(served_both: ServedBoth) -> None:
    batches = _metric(served_both, "axiom_batch_size_count")
    codes = await _concurrent(served_both.grpc_address, 64)
    assert set(codes) == {grpc.StatusCode.OK}
    assert _metric(served_both, "axiom_batch_size_count") - batches < 64


async def test_an_overloaded_server_answers_resource_exhausted(
    signed_model: SignedModel, tmp_path: Path
) -> None:
    served = serve_both(
        signed_model,
        tmp_path / "serve.log",
        AXIOM_MAX_BATCH_SIZE="1",
        AXIOM_MAX_PENDING_ROWS="1",
    )
    try:
        codes = await _concurrent(served.grpc_address, 64)
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes and grpc.StatusCode.OK in codes
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    finally:
        served.process.stop()
