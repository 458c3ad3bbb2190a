"""Every route of a real server on a loopback port answers what its contract says."""

from __future__ import annotations

import asyncio

import numpy as np

from axiom_runtime.metrics import parse_prometheus_text, sample_value
from axiom_runtime.server.testing import RunningServer

ROW = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
V2_ONE_ROW = {"inputs": [{"name": "input-0", "shape": [1, 8], "datatype": "FP32", "data": ROW}]}


async def test_health_is_alive(server: RunningServer) -> None:
    assert await server.get("/health") == (200, {"status": "alive"})


async def test_ready_reports_model_and_valid_certificate(server: RunningServer) -> None:
    status, document = await server.get("/ready")
    assert status == 200
    assert document["ready"] is True and document["phase"] == "Ready"
    assert document["model"]["name"] == "tiny" and document["model"]["version"] == "1.0.0"
    assert document["certificate"]["status"] == "Valid"
    assert document["certificate"]["policy"] == "enforce"
    assert "trafficGeneration" not in document  # no splitter configured


async def test_predict_one_row(server: RunningServer) -> None:
    status, answer = await server.post_json("/predict", {"input": ROW})
    assert status == 200
    assert set(answer) == {"prediction", "class", "confidence", "model"}
    assert len(answer["prediction"]) == 3
    assert answer["class"] == int(np.argmax(answer["prediction"]))


async def test_predict_batch(server: RunningServer) -> None:
    status, answer = await server.post_json("/predict", {"input": [ROW, ROW]})
    assert status == 200 and len(answer["class"]) == 2


async def test_inference_responses_carry_the_version_header(server: RunningServer) -> None:
    for path, payload in (("/predict", {"input": ROW}), ("/v2/models/tiny/infer", V2_ONE_ROW)):
        async with server.session.post(server.base_url + path, json=payload) as response:
            assert response.headers["X-Axiom-Version"] == "1.0.0"


async def test_error_responses_carry_the_version_header(server: RunningServer) -> None:
    async with server.session.post(server.base_url + "/predict", json={"x": 1}) as response:
        assert response.status == 400
        assert response.headers["X-Axiom-Version"] == "1.0.0"


async def test_v2_server_metadata(server: RunningServer) -> None:
    status, document = await server.get("/v2")
    assert status == 200 and document["name"] == "axiom" and "version" in document


async def test_v2_live_and_ready(server: RunningServer) -> None:
    assert await server.get("/v2/health/live") == (200, {"live": True})
    assert await server.get("/v2/health/ready") == (200, {"ready": True})


async def test_v2_model_metadata(server: RunningServer) -> None:
    status, document = await server.get("/v2/models/tiny")
    assert status == 200
    assert document["name"] == "tiny" and document["versions"] == ["1.0.0"]
    assert document["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 8]}]


async def test_v2_model_ready(server: RunningServer) -> None:
    assert await server.get("/v2/models/tiny/ready") == (200, {"name": "tiny", "ready": True})


async def test_v2_versioned_routes(server: RunningServer) -> None:
    assert (await server.get("/v2/models/tiny/versions/1.0.0"))[0] == 200
    assert (await server.get("/v2/models/tiny/versions/1.0.0/ready"))[0] == 200
    status, answer = await server.post_json("/v2/models/tiny/versions/1.0.0/infer", V2_ONE_ROW)
    assert status == 200 and answer["model_version"] == "1.0.0"


async def test_v2_infer(server: RunningServer) -> None:
    status, answer = await server.post_json("/v2/models/tiny/infer", V2_ONE_ROW)
    assert status == 200
    scores = answer["outputs"][0]
    assert scores["name"] == "output" and scores["shape"] == [1, 3] and len(scores["data"]) == 3


async def test_v2_and_predict_agree(server: RunningServer) -> None:
    _, v1 = await server.post_json("/predict", {"input": ROW})
    _, v2 = await server.post_json("/v2/models/tiny/infer", V2_ONE_ROW)
    np.testing.assert_allclose(v1["prediction"], v2["outputs"][0]["data"], rtol=1e-6)


async def test_metrics_count_requests_by_status(server: RunningServer) -> None:
    await server.post_json("/predict", {"input": ROW})
    await server.post_json("/predict", {"input": [ROW, ROW]})
    await server.post_json("/predict", {"input": "bad"})
    status, text = await server.get("/metrics")
    assert status == 200
    samples = parse_prometheus_text(text)
    labels = {"model": "tiny", "version": "1.0.0"}
    assert sample_value(samples, "axiom_inference_total", 0.0, status="ok", **labels) == 2
    assert sample_value(samples, "axiom_inference_total", 0.0, status="client_error", **labels) == 1
    assert sample_value(samples, "axiom_inference_latency_seconds_count", 0.0, **labels) == 3
    assert sample_value(samples, "axiom_model_confidence_count", 0.0, **labels) == 3
    assert sample_value(samples, "axiom_batch_size_sum", 0.0, **labels) >= 3
    assert sample_value(samples, "axiom_ready", 0.0, **labels) == 1
    assert sample_value(samples, "axiom_certificate_valid", 0.0, **labels) == 1
    assert sample_value(samples, "axiom_traffic_config_generation", 0.0, **labels) == -1


async def test_metrics_content_type_is_prometheus_text(server: RunningServer) -> None:
    async with server.session.get(server.base_url + "/metrics") as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")


async def test_openapi_documents_every_route(server: RunningServer) -> None:
    status, document = await server.get("/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    documented = set(document["paths"])
    served = {
        route.resource.canonical
        for route in server.app.router.routes()
        if route.resource is not None
    }
    assert served == documented


async def test_openapi_shows_the_model_row_shape(server: RunningServer) -> None:
    _, document = await server.get("/openapi.json")
    row = document["components"]["schemas"]["PredictRequest"]["properties"]["input"]["oneOf"][0]
    assert row["minItems"] == row["maxItems"] == 8
    assert row["items"] == {"type": "number", "minimum": 0.0, "maximum": 16.0}


async def test_concurrent_requests_are_batched(server: RunningServer) -> None:
    results = await asyncio.gather(
        *(server.post_json("/predict", {"input": ROW}) for _ in range(64))
    )
    assert all(status == 200 for status, _ in results)
    _, text = await server.get("/metrics")
    samples = parse_prometheus_text(text)
    passes = sample_value(samples, "axiom_batch_size_count")
    rows = sample_value(samples, "axiom_batch_size_sum")
    assert rows == 64 and passes < 64
