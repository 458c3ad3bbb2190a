"""The binary tensor data extension over real HTTP: inputs of every datatype, binary outputs.

Requests are framed as the extension says: the JSON header's length in
``Inference-Header-Content-Length``, the header, then each binary input's bytes (row-major,
little-endian) in input order. Every framing mistake is a 400 naming what lies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from axiom_runtime.server.testing import RunningServer
from axiom_runtime.server.v2 import WIRE_DTYPES

INFER = "/v2/models/tiny/infer"
ROWS = np.arange(16, dtype=np.float32).reshape(2, 8)


def _header(
    datatype: str, size: int, shape: list[int] | None = None, **extra: Any
) -> dict[str, Any]:
    tensor = {
        "name": "input-0",
        "shape": shape or [2, 8],
        "datatype": datatype,
        "parameters": {"binary_data_size": size},
    }
    return {"inputs": [tensor], **extra}


async def _json_answer(server: RunningServer) -> dict[str, Any]:
    request = {
        "inputs": [
            {"name": "x", "shape": [2, 8], "datatype": "FP32", "data": ROWS.ravel().tolist()}
        ]
    }
    status, answer = await server.post_json(INFER, request)
    assert status == 200
    return dict(answer)


@pytest.mark.parametrize("datatype", sorted(WIRE_DTYPES))
async def test_binary_input_of_every_datatype_answers_like_json(
    server: RunningServer, datatype: str
) -> None:
    raw = ROWS.astype(WIRE_DTYPES[datatype]).tobytes()
    status, answer, rest = await server.post_binary(INFER, _header(datatype, len(raw)), raw)
    assert status == 200, answer
    assert rest == b""  # JSON outputs unless asked for binary
    reference = await _json_answer(server)
    np.testing.assert_allclose(
        answer["outputs"][0]["data"], reference["outputs"][0]["data"], rtol=1e-3
    )


async def test_binary_data_output_answers_every_output_as_bytes(server: RunningServer) -> None:
    raw = ROWS.tobytes()
    header = _header("FP32", len(raw), parameters={"binary_data_output": True})
    status, answer, rest = await server.post_binary(INFER, header, raw)
    assert status == 200, answer
    reference = {o["name"]: o for o in (await _json_answer(server))["outputs"]}
    offset = 0
    for output in answer["outputs"]:
        assert "data" not in output
        size = output["parameters"]["binary_data_size"]
        values = np.frombuffer(rest[offset : offset + size], dtype=WIRE_DTYPES[output["datatype"]])
        offset += size
        np.testing.assert_allclose(values, reference[output["name"]]["data"], rtol=1e-6)
    assert offset == len(rest)
    assert [o["name"] for o in answer["outputs"]] == ["output", "class", "confidence"]


async def test_per_output_binary_data_mixes_json_and_binary(server: RunningServer) -> None:
    raw = ROWS.tobytes()
    header = _header(
        "FP32",
        len(raw),
        outputs=[{"name": "class", "parameters": {"binary_data": True}}, {"name": "confidence"}],
    )
    status, answer, rest = await server.post_binary(INFER, header, raw)
    assert status == 200, answer
    klass, confidence = answer["outputs"]
    assert klass["parameters"] == {"binary_data_size": 16} and "data" not in klass
    assert len(confidence["data"]) == 2
    reference = {o["name"]: o for o in (await _json_answer(server))["outputs"]}
    assert np.frombuffer(rest, "<i8").tolist() == reference["class"]["data"]


async def test_json_input_may_ask_for_binary_output(server: RunningServer) -> None:
    request = {
        "inputs": [{"name": "x", "shape": [8], "datatype": "FP32", "data": ROWS[0].tolist()}],
        "outputs": [{"name": "output", "parameters": {"binary_data": True}}],
    }
    status, answer, rest = await server.post_binary(INFER, request)
    assert status == 200, answer
    assert answer["outputs"][0]["parameters"] == {"binary_data_size": 12}
    assert np.frombuffer(rest, "<f4").shape == (3,)


async def test_server_metadata_lists_the_extension(server: RunningServer) -> None:
    status, metadata = await server.get("/v2")
    assert status == 200 and "binary_tensor_data" in metadata["extensions"]


async def _framed(
    server: RunningServer, head: bytes, tensors: bytes, declared: str
) -> tuple[int, Any]:
    return await server.post_raw(
        INFER,
        head + tensors,
        "application/octet-stream",
        headers={"Inference-Header-Content-Length": declared},
    )


@pytest.mark.parametrize(
    "declared", ["-1", "abc", "1e3", "١٢", "99999999999999999999999999", "10 0"]
)
async def test_a_header_length_that_is_no_length_is_400(
    server: RunningServer, declared: str
) -> None:
    status, error = await _framed(server, b'{"inputs": []}', b"", declared)
    assert (status, error["field"]) == (400, "Inference-Header-Content-Length"), error


async def test_a_header_length_past_the_body_is_400(server: RunningServer) -> None:
    head = b'{"inputs": []}'
    status, error = await _framed(server, head, b"", str(len(head) + 1))
    assert (status, error["field"]) == (400, "Inference-Header-Content-Length")


async def test_a_header_length_cutting_the_json_is_400_on_body(server: RunningServer) -> None:
    head = b'{"inputs": []}'
    status, error = await _framed(server, head, b"", str(len(head) - 3))
    assert (status, error["field"]) == (400, "body")


@pytest.mark.parametrize(
    ("size", "tensors", "reason"),
    [
        (64, ROWS.tobytes()[:40], "only 40 bytes"),  # truncated body
        (2**64 - 1, ROWS.tobytes(), "only 64 bytes"),  # overflows int64 and any buffer
        (2**70, ROWS.tobytes(), "non-negative integer"),  # past uint64: JSON reads a float
        (60, ROWS.tobytes()[:60], "do not hold shape [2, 8]"),  # size disagrees with shape
    ],
)
async def test_a_binary_data_size_that_lies_is_400_naming_it(
    server: RunningServer, size: int, tensors: bytes, reason: str
) -> None:
    status, error, _ = await server.post_binary(INFER, _header("FP32", size), tensors)
    assert status == 400
    assert error["field"] == "inputs[0].parameters.binary_data_size"
    assert reason in error["error"]


async def test_bytes_claimed_by_no_input_are_400(server: RunningServer) -> None:
    raw = ROWS.tobytes()
    status, error, _ = await server.post_binary(INFER, _header("FP32", len(raw)), raw + b"\0")
    assert (status, error["field"]) == (400, "Inference-Header-Content-Length")


async def test_binary_size_without_a_binary_part_is_400(server: RunningServer) -> None:
    status, error = await server.post_json(INFER, _header("FP32", 64))
    assert (status, error["field"]) == (400, "inputs[0].parameters.binary_data_size")


async def test_data_and_binary_size_together_are_400(server: RunningServer) -> None:
    header = _header("FP32", 64)
    header["inputs"][0]["data"] = ROWS.ravel().tolist()
    status, error, _ = await server.post_binary(INFER, header, ROWS.tobytes())
    assert (status, error["field"]) == (400, "inputs[0].data")


@pytest.mark.parametrize("size", [-1, 1.5, True, "64"])
async def test_a_binary_size_that_is_no_size_is_400(server: RunningServer, size: Any) -> None:
    status, error, _ = await server.post_binary(INFER, _header("FP32", size), ROWS.tobytes())
    assert (status, error["field"]) == (400, "inputs[0].parameters.binary_data_size")


async def test_binary_data_must_be_a_boolean(server: RunningServer) -> None:
    header = _header("FP32", 64, outputs=[{"name": "output", "parameters": {"binary_data": 1}}])
    status, error, _ = await server.post_binary(INFER, header, ROWS.tobytes())
    assert (status, error["field"]) == (400, "outputs[0].parameters.binary_data")


async def test_non_finite_binary_values_are_400_with_the_element(server: RunningServer) -> None:
    rows = ROWS.copy()
    rows[1, 3] = np.nan
    status, error, _ = await server.post_binary(INFER, _header("FP32", 64), rows.tobytes())
    assert status == 400
    assert error["field"] == "inputs[0].parameters.binary_data_size[1][3]"


async def test_binary_on_predict_is_400(server: RunningServer) -> None:
    status, error, _ = await server.post_binary("/predict", {"input": ROWS[0].tolist()}, b"")
    assert (status, error["field"]) == (400, "Inference-Header-Content-Length")
