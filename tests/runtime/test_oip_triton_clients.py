"""NVIDIA's own V2 clients, ``tritonclient.http`` and ``tritonclient.grpc``, against `axiom serve`.

A real server process with both ports; each client does what an application does: health,
metadata, inference with JSON and with binary tensors, a batch, and an error, which must
come back as the protocol's error (HTTP 400 / INVALID_ARGUMENT) naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from axiom_runtime.metrics import parse_prometheus_text, sample_value
from axiom_runtime.package import load_package
from axiom_runtime.server.testing import ServedBoth, SignedModel

MODEL = "tiny"
ROWS = np.arange(40, dtype=np.float32).reshape(5, 8) % 16  # a batch of 5 in the input range


@pytest.fixture(scope="module")
def http(served_both: ServedBoth) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(served_both.http_address)
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc(served_both: ServedBoth) -> Iterator[grpcclient.InferenceServerClient]:
    client = grpcclient.InferenceServerClient(served_both.grpc_address)
    yield client
    client.close()


@pytest.fixture(scope="module")
def expected(signed_model: SignedModel) -> np.ndarray:
    return load_package(signed_model.package).predict(ROWS)


# -- tritonclient.http --------------------------------------------------------------------


def test_http_health(http: httpclient.InferenceServerClient) -> None:
    assert http.is_server_live() and http.is_server_ready() and http.is_model_ready(MODEL)


def test_http_metadata(http: httpclient.InferenceServerClient) -> None:
    assert "binary_tensor_data" in http.get_server_metadata()["extensions"]
    metadata = http.get_model_metadata(MODEL)
    assert metadata["inputs"][0]["shape"] == [-1, 8]
    assert [o["name"] for o in metadata["outputs"]] == ["output", "class", "confidence"]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_http_batch_infer(
    http: httpclient.InferenceServerClient, expected: np.ndarray, binary: bool
) -> None:
    tensor = httpclient.InferInput("input-0", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS, binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput(name, binary_data=binary)
        for name in ("output", "class", "confidence")
    ]
    result = http.infer(MODEL, [tensor], outputs=outputs, request_id="r-1")
    np.testing.assert_allclose(result.as_numpy("output"), expected, rtol=1e-5)
    assert result.as_numpy("class").tolist() == expected.argmax(axis=1).tolist()
    assert result.get_response()["id"] == "r-1"


@pytest.mark.parametrize("datatype", ["FP16", "FP64", "INT8", "INT32", "UINT16", "UINT64"])
def test_http_binary_inputs_of_other_datatypes(
    http: httpclient.InferenceServerClient, expected: np.ndarray, datatype: str
) -> None:
    rows = ROWS.astype(grpcclient.triton_to_np_dtype(datatype))
    tensor = httpclient.InferInput("input-0", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows, binary_data=True)
    result = http.infer(MODEL, [tensor])
    np.testing.assert_allclose(result.as_numpy("output"), expected, rtol=1e-3)


def test_http_error_names_the_field(http: httpclient.InferenceServerClient) -> None:
    tensor = httpclient.InferInput("input-0", [2, 7], "FP32")
    tensor.set_data_from_numpy(np.zeros((2, 7), dtype=np.float32), binary_data=True)
    with pytest.raises(InferenceServerException) as raised:
        http.infer(MODEL, [tensor])
    assert raised.value.status() == "400"
    assert "inputs[0].shape" in raised.value.message()


# -- tritonclient.grpc --------------------------------------------------------------------


def test_grpc_health(grpc: grpcclient.InferenceServerClient) -> None:
    assert grpc.is_server_live() and grpc.is_server_ready() and grpc.is_model_ready(MODEL)
    assert grpc.is_model_ready(MODEL, "1.0.0")


def test_grpc_metadata(grpc: grpcclient.InferenceServerClient) -> None:
    server = grpc.get_server_metadata(as_json=True)
    assert server["name"] == "axiom" and "binary_tensor_data" in server["extensions"]
    model = grpc.get_model_metadata(MODEL, as_json=True)
    assert model["versions"] == ["1.0.0"] and model["inputs"][0]["shape"] == ["-1", "8"]


def test_grpc_batch_infer(grpc: grpcclient.InferenceServerClient, expected: np.ndarray) -> None:
    tensor = grpcclient.InferInput("input-0", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)  # raw_input_contents: the client's only encoding
    result = grpc.infer(MODEL, [tensor], request_id="g-1")
    np.testing.assert_allclose(result.as_numpy("output"), expected, rtol=1e-5)
    assert result.as_numpy("class").tolist() == expected.argmax(axis=1).tolist()
    assert result.get_response().id == "g-1"


def test_grpc_requested_outputs(grpc: grpcclient.InferenceServerClient) -> None:
    tensor = grpcclient.InferInput("input-0", [1, 8], "UINT8")
    tensor.set_data_from_numpy(ROWS[:1].astype(np.uint8))
    result = grpc.infer(MODEL, [tensor], outputs=[grpcclient.InferRequestedOutput("confidence")])
    assert [o.name for o in result.get_response().outputs] == ["confidence"]
    assert result.as_numpy("confidence").shape == (1,)


def test_grpc_error_names_the_field(grpc: grpcclient.InferenceServerClient) -> None:
    tensor = grpcclient.InferInput("input-0", [2, 7], "FP32")
    tensor.set_data_from_numpy(np.zeros((2, 7), dtype=np.float32))
    with pytest.raises(InferenceServerException) as raised:
        grpc.infer(MODEL, [tensor])
    assert raised.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert raised.value.message().startswith("inputs[0].shape: expected [N, 8]")


def test_grpc_unknown_model_is_not_found(grpc: grpcclient.InferenceServerClient) -> None:
    tensor = grpcclient.InferInput("input-0", [1, 8], "FP32")
    tensor.set_data_from_numpy(ROWS[:1])
    with pytest.raises(InferenceServerException) as raised:
        grpc.infer("nope", [tensor])
    assert raised.value.status() == "StatusCode.NOT_FOUND"
    assert raised.value.message().startswith("name: model 'nope' is not served here")


def test_grpc_calls_count_in_the_same_metrics_series(
    grpc: grpcclient.InferenceServerClient, served_both: ServedBoth
) -> None:
    def total(status: str) -> float:
        samples = parse_prometheus_text(served_both.metrics_text())
        return sample_value(samples, "axiom_inference_total", model="tiny", status=status)

    ok, client_error = total("ok"), total("client_error")
    good = grpcclient.InferInput("input-0", [1, 8], "FP32")
    good.set_data_from_numpy(ROWS[:1])
    grpc.infer(MODEL, [good])
    bad = grpcclient.InferInput("input-0", [1, 8], "FP32")
    bad.set_data_from_numpy(np.full((1, 8), 99, dtype=np.float32))  # outside the input range
    with pytest.raises(InferenceServerException):
        grpc.infer(MODEL, [bad])
    assert (total("ok"), total("client_error")) == (ok + 1, client_error + 1)
