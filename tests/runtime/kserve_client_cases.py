"""KServe's Python clients against `axiom serve`: run by test_oip_kserve_clients.py in a child.

Not collected by the main run (no ``test_`` prefix): the kserve package registers the
protocol's ``inference.*`` protobuf symbols under its own file name, and so does
tritonclient.grpc, so the two cannot be imported into one process. The parent test starts
the server and passes its addresses in ``AXIOM_TEST_HTTP`` / ``AXIOM_TEST_GRPC``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import grpc
import httpx
import numpy as np
import pytest
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from kserve.protocol.infer_type import RequestedOutput

from axiom_runtime.package import load_package

HTTP = "http://" + os.environ.get("AXIOM_TEST_HTTP", "")
GRPC = os.environ.get("AXIOM_TEST_GRPC", "")
MODEL = "tiny"
ROWS = np.arange(40, dtype=np.float32).reshape(5, 8) % 16

pytestmark = pytest.mark.skipif(not GRPC, reason="run by test_oip_kserve_clients.py")


@pytest.fixture(scope="module")
def expected() -> np.ndarray:
    return load_package(os.environ["AXIOM_TEST_PACKAGE"]).predict(ROWS)


@pytest.fixture
async def rest() -> AsyncIterator[InferenceRESTClient]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=10))
    yield client
    await client.close()


@pytest.fixture
async def grpc_client() -> AsyncIterator[InferenceGRPCClient]:
    client = InferenceGRPCClient(GRPC, timeout=10, retries=0)
    yield client
    await client.close()


def _request(binary: bool, rows: np.ndarray = ROWS, outputs: bool = False) -> InferRequest:
    tensor = InferInput("input-0", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    requested = (
        [RequestedOutput(n, {"binary_data": binary}) for n in ("output", "class")]
        if outputs
        else None
    )
    return InferRequest(MODEL, [tensor], request_id="k-1", request_outputs=requested)


# -- InferenceRESTClient -------------------------------------------------------------------


async def test_rest_health(rest: InferenceRESTClient) -> None:
    assert await rest.is_server_live(HTTP)
    assert await rest.is_server_ready(HTTP)
    assert await rest.is_model_ready(HTTP, MODEL)


async def test_rest_metadata() -> None:
    # The REST client has no metadata call; its route is the protocol's, read with httpx.
    async with httpx.AsyncClient() as client:
        metadata = (await client.get(f"{HTTP}/v2/models/{MODEL}")).json()
    assert metadata["inputs"][0]["shape"] == [-1, 8]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
async def test_rest_batch_infer(
    rest: InferenceRESTClient, expected: np.ndarray, binary: bool
) -> None:
    response = await rest.infer(HTTP, _request(binary, outputs=True), model_name=MODEL)
    outputs = {output.name: output.as_numpy() for output in response.outputs}
    np.testing.assert_allclose(outputs["output"], expected, rtol=1e-5)
    assert outputs["class"].tolist() == expected.argmax(axis=1).tolist()
    assert response.id == "k-1"


async def test_rest_error_names_the_field(rest: InferenceRESTClient) -> None:
    with pytest.raises(httpx.HTTPStatusError) as raised:
        await rest.infer(HTTP, _request(True, np.zeros((2, 7), np.float32)), model_name=MODEL)
    assert raised.value.response.status_code == 400
    assert "inputs[0].shape" in str(raised.value)


# -- InferenceGRPCClient -------------------------------------------------------------------


async def test_grpc_health(grpc_client: InferenceGRPCClient) -> None:
    assert await grpc_client.is_server_live()
    assert await grpc_client.is_server_ready()
    assert await grpc_client.is_model_ready(MODEL)


async def test_grpc_metadata() -> None:
    # InferenceGRPCClient has no metadata call either: the kserve package's own stub does it.
    async with grpc.aio.insecure_channel(GRPC) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        server = await stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10)
        model = await stub.ModelMetadata(pb.ModelMetadataRequest(name=MODEL), timeout=10)
    assert "binary_tensor_data" in server.extensions
    assert list(model.inputs[0].shape) == [-1, 8] and list(model.versions) == ["1.0.0"]


@pytest.mark.parametrize("binary", [False, True], ids=["typed", "raw"])
async def test_grpc_batch_infer(
    grpc_client: InferenceGRPCClient, expected: np.ndarray, binary: bool
) -> None:
    # binary_data=False sends fp32_contents, True sends raw_input_contents.
    response = await grpc_client.infer(_request(binary))
    outputs = {output.name: output.as_numpy() for output in response.outputs}
    np.testing.assert_allclose(outputs["output"], expected, rtol=1e-5)
    assert outputs["class"].tolist() == expected.argmax(axis=1).tolist()
    assert response.id == "k-1"


async def test_grpc_error_names_the_field(grpc_client: InferenceGRPCClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await grpc_client.infer(_request(False, np.zeros((2, 7), np.float32)))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith("inputs[0].shape:")
