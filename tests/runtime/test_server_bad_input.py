"""Every kind of bad request gets a 4xx JSON error naming what was wrong, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from axiom_runtime.metrics import parse_prometheus_text, sample_value
from axiom_runtime.server import ServerConfig
from axiom_runtime.server.testing import RunningServer, SignedModel, server_config

ROW = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
MakeServer = Callable[[ServerConfig], Awaitable[RunningServer]]


def _v2(data: object, shape: object = (1, 8), datatype: object = "FP32") -> dict[str, object]:
    shape_list = list(shape) if isinstance(shape, tuple) else shape
    return {"inputs": [{"name": "x", "shape": shape_list, "datatype": datatype, "data": data}]}


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/predict", {"rows": [ROW]}, "input"),
        ("/predict", [ROW], "body"),
        ("/predict", {"input": ROW[:3]}, "input"),
        ("/predict", {"input": [ROW, ROW[:4]]}, "input"),
        ("/predict", {"input": ["1"] * 8}, "input"),
        ("/predict", {"input": [None] * 8}, "input"),
        ("/predict", {"input": [*ROW[:7], False]}, "input"),
        ("/predict", {"input": [*ROW[:7], 1e39]}, "input[7]"),
        ("/predict", {"input": [*ROW[:7], 16.5]}, "input[7]"),
        ("/predict", {"input": [[*ROW[:7], -0.5]]}, "input[0][7]"),
        ("/v2/models/tiny/infer", {"input": ROW}, "inputs"),
        ("/v2/models/tiny/infer", _v2(ROW, shape=(1, 7)), "inputs[0].data"),
        ("/v2/models/tiny/infer", _v2(ROW, shape=(2, 4)), "inputs[0].shape"),
        ("/v2/models/tiny/infer", _v2(ROW, datatype="BYTES"), "inputs[0].datatype"),
        ("/v2/models/tiny/infer", _v2(ROW, datatype="INT64"), "inputs[0].data"),
        ("/v2/models/tiny/infer", _v2([*ROW[:7], "x"]), "inputs[0].data"),
        ("/v2/models/tiny/infer", _v2([*ROW[:7], 99]), "inputs[0].data[0][7]"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    server: RunningServer, path: str, payload: object, field: str
) -> None:
    status, error = await server.post_json(path, payload)
    assert status == 400, error
    assert error["field"] == field
    assert isinstance(error["error"], str) and error["error"]


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"input": [1, 2,]}',
        b"NaN",
        b'{"input": [NaN]}',
        b'{"input": [1e999]}',
        b"\xff\xfe",
        b"",
    ],
)
async def test_malformed_json_is_400_on_body(server: RunningServer, body: bytes) -> None:
    status, error = await server.post_raw("/predict", body)
    assert (status, error["field"]) == (400, "body")
    assert "malformed JSON" in error["error"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_wrong_content_type_is_415(server: RunningServer, content_type: str) -> None:
    status, error = await server.post_raw("/predict", b'{"input": [1,2,3,4,5,6,7,8]}', content_type)
    assert (status, error["field"]) == (415, "Content-Type")


@pytest.mark.parametrize("content_type", [None, "application/octet-stream"])
@pytest.mark.parametrize("path", ["/predict", "/v2/models/tiny/infer"])
async def test_json_without_a_json_content_type_is_read_as_json(
    server: RunningServer, path: str, content_type: str | None
) -> None:
    # V2 clients send plain JSON with no Content-Type, or octet-stream with no binary part.
    body = (
        b'{"input": [1,2,3,4,5,6,7,8]}'
        if path == "/predict"
        else b'{"inputs": [{"name": "x", "shape": [8], "datatype": "FP32", "data": [1,2,3,4,5,6,7,8]}]}'
    )
    status, answer = await server.post_raw(path, body, content_type)
    assert status == 200, answer


async def test_json_suffix_media_type_is_accepted(server: RunningServer) -> None:
    status, _ = await server.post_raw(
        "/predict", b'{"input": [1,2,3,4,5,6,7,8]}', "application/vnd.axiom+json"
    )
    assert status == 200


async def test_unknown_model_name_is_404(server: RunningServer) -> None:
    status, error = await server.post_json("/v2/models/other/infer", _v2(ROW))
    assert (status, error["field"]) == (404, "name")
    assert (await server.get("/v2/models/other"))[0] == 404
    assert (await server.get("/v2/models/other/ready"))[0] == 404


async def test_unknown_model_version_is_404(server: RunningServer) -> None:
    status, error = await server.post_json("/v2/models/tiny/versions/2.0.0/infer", _v2(ROW))
    assert (status, error["field"]) == (404, "version")


async def test_unknown_route_is_json_404(server: RunningServer) -> None:
    status, error = await server.get("/v1/models/tiny:predict")
    assert (status, error["field"]) == (404, "path")


async def test_wrong_method_is_json_405(server: RunningServer) -> None:
    status, error = await server.get("/predict")
    assert (status, error["field"]) == (405, "path")


async def test_oversized_body_is_413(make_server: MakeServer, signed_model: SignedModel) -> None:
    server = await make_server(server_config(signed_model, max_body_bytes=2048))
    big = {"input": [ROW] * 200}  # ~7 KB
    status, error = await server.post_json("/predict", big)
    assert (status, error["field"]) == (413, "body")


async def test_oversized_chunked_body_is_413(
    make_server: MakeServer, signed_model: SignedModel
) -> None:
    server = await make_server(server_config(signed_model, max_body_bytes=2048))

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 100  # no Content-Length: the limit must hold while reading

    async with server.session.post(
        server.base_url + "/predict", data=chunks(), headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 413
        assert (await response.json())["field"] == "body"


async def test_server_still_serves_after_bad_requests(server: RunningServer) -> None:
    for body in (b"{", b"[]", b'{"input": "x"}', b"\x00" * 100):
        await server.post_raw("/predict", body)
    status, _ = await server.post_json("/predict", {"input": ROW})
    assert status == 200


async def test_client_disconnect_mid_body_leaves_server_healthy(server: RunningServer) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"input": ['
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    assert (await server.get("/health"))[0] == 200
    status, _ = await server.post_json("/predict", {"input": ROW})
    assert status == 200


async def test_bad_requests_count_as_client_errors(server: RunningServer) -> None:
    await server.post_raw("/predict", b"{", "application/json")
    await server.post_raw("/predict", b"{}", "text/plain")
    async with server.session.get(server.base_url + "/metrics") as response:
        text = await response.text()
    samples = parse_prometheus_text(text)
    labels = {"model": "tiny", "version": "1.0.0", "status": "client_error"}
    assert sample_value(samples, "axiom_inference_total", **labels) == 2


def test_aiohttp_client_is_available() -> None:
    # The bad-input tests rely on aiohttp sending a chunked body without Content-Length.
    assert aiohttp.__version__
