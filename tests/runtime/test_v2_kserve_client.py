"""A KServe/Triton V2 client's plain JSON request, exactly as the protocol spells it, works.

The request and the checks follow the Open Inference Protocol REST examples: health and
metadata first (what clients do on connect), then ``$inference_request`` with one FP32 tensor,
answered by ``$inference_response`` whose outputs carry name, shape, datatype and row-major data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from axiom_runtime.package import load_package
from axiom_runtime.server.testing import RunningServer, SignedModel

ROWS = [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]]


def _protocol_request() -> dict[str, Any]:
    # Shape of the example request in the V2 protocol document (flat, row-major data).
    return {
        "id": "42",
        "inputs": [
            {
                "name": "input0",
                "shape": [2, 8],
                "datatype": "FP32",
                "data": [value for row in ROWS for value in row],
            }
        ],
        "outputs": [{"name": "output"}],
    }


async def test_client_handshake_routes(server: RunningServer) -> None:
    assert (await server.get("/v2/health/live"))[0] == 200
    assert (await server.get("/v2/health/ready"))[0] == 200
    status, metadata = await server.get("/v2/models/tiny")
    assert status == 200
    for tensor in metadata["inputs"] + metadata["outputs"]:
        assert {"name", "datatype", "shape"} <= set(tensor)


async def test_protocol_request_gets_a_correct_answer(
    server: RunningServer, signed_model: SignedModel
) -> None:
    status, response = await server.post_json("/v2/models/tiny/infer", _protocol_request())
    assert status == 200
    assert response["model_name"] == "tiny" and response["id"] == "42"
    [output] = response["outputs"]
    assert output["name"] == "output" and output["datatype"] == "FP32"
    assert output["shape"] == [2, 3] and len(output["data"]) == math.prod(output["shape"])
    expected = load_package(signed_model.package).predict(np.asarray(ROWS, dtype=np.float32))
    np.testing.assert_allclose(np.reshape(output["data"], output["shape"]), expected, rtol=1e-6)


@pytest.mark.parametrize("datatype", ["FP64", "INT32", "INT64", "UINT8"])
async def test_other_numeric_datatypes_give_the_same_answer(
    server: RunningServer, datatype: str
) -> None:
    request = _protocol_request()
    request["inputs"][0]["datatype"] = datatype
    request["inputs"][0]["data"] = [int(v) for v in request["inputs"][0]["data"]]
    _, reference = await server.post_json("/v2/models/tiny/infer", _protocol_request())
    status, response = await server.post_json("/v2/models/tiny/infer", request)
    assert status == 200
    np.testing.assert_allclose(response["outputs"][0]["data"], reference["outputs"][0]["data"])


async def test_error_follows_the_protocol_error_shape(server: RunningServer) -> None:
    request = _protocol_request()
    request["inputs"][0]["shape"] = [3, 8]
    status, response = await server.post_json("/v2/models/tiny/infer", request)
    assert status == 400 and isinstance(response["error"], str)
