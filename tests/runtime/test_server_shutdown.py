"""SIGTERM: stop accepting, finish in-flight requests, exit 0 — with `axiom serve` as a process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from axiom_runtime.server.testing import ServeProcess, SignedModel, build_signed_model, free_port

INPUT = 16
REQUESTS = 16


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> SignedModel:
    # Deep and wide enough that a 64-row request takes ~10-40 ms: requests stay in flight.
    return build_signed_model(
        tmp_path_factory.mktemp("slow"),
        input_size=INPUT,
        hidden=1024,
        hidden_layers=6,
        input_range=None,
    )


@pytest.fixture
def serve(slow_model: SignedModel, tmp_path: Path) -> Iterator[tuple[ServeProcess, str]]:
    port = free_port()
    env = {
        **os.environ,
        "AXIOM_MODEL_URI": str(slow_model.package),
        "AXIOM_CERTIFICATE": str(slow_model.certificate),
        "AXIOM_TRUSTED_KEYS": str(slow_model.trusted_keys),
        "AXIOM_HOST": "127.0.0.1",
        "AXIOM_PORT": str(port),
    }
    process = ServeProcess([], env, tmp_path / "serve.log")
    yield process, f"http://127.0.0.1:{port}"
    process.stop()


async def _wait_ready(base_url: str, process: ServeProcess) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert process.process.poll() is None, process.log_path.read_text()
            try:
                async with session.get(base_url + "/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("server did not become ready: " + process.log_path.read_text())


async def test_sigterm_finishes_in_flight_requests_and_exits_zero(
    serve: tuple[ServeProcess, str],
) -> None:
    process, base_url = serve
    await _wait_ready(base_url, process)
    rows = np.random.default_rng(0).random((64, INPUT)).round(3).tolist()
    body = json.dumps({"input": rows}).encode()
    signalled_at = 0.0
    async with aiohttp.ClientSession() as session:

        async def infer() -> tuple[int, float]:
            async with session.post(
                base_url + "/predict", data=body, headers={"Content-Type": "application/json"}
            ) as response:
                await response.read()
                return response.status, time.monotonic()

        in_flight = [asyncio.create_task(infer()) for _ in range(REQUESTS)]
        # Signal once the first answer is back: the server is then working through the
        # rest (a fixed sleep raced the server on a quiet machine and signalled too late).
        await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        signalled_at = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        results = await asyncio.gather(*in_flight)
    assert [status for status, _ in results] == [200] * REQUESTS
    # The test only means something if some requests were still running at SIGTERM.
    assert any(done > signalled_at for _, done in results)
    code = await asyncio.get_running_loop().run_in_executor(None, process.process.wait, 30)
    assert code == 0, process.log_path.read_text()
    events = [event["event"] for event in process.log_events()]
    assert "shutting down: finishing in-flight requests" in events
    assert events[-1] == "stopped"


async def test_after_sigterm_new_connections_are_refused(serve: tuple[ServeProcess, str]) -> None:
    process, base_url = serve
    await _wait_ready(base_url, process)
    process.process.send_signal(signal.SIGTERM)
    await asyncio.get_running_loop().run_in_executor(None, process.process.wait, 30)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(base_url + "/health"):
                pass


def test_bad_configuration_fails_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "AXIOM_MODEL_URI": "x.axiom", "AXIOM_PORT": "eighty"}
    process = ServeProcess([], env, tmp_path / "bad.log")
    code = process.process.wait(timeout=30)
    process.stop()
    output = (tmp_path / "bad.log").read_text().strip()
    assert code == 1
    assert output.count("\n") == 0 and "AXIOM_PORT" in output and sys.executable


async def test_sigterm_drains_grpc_and_http_together(
    slow_model: SignedModel, tmp_path: Path
) -> None:
    import grpc
    from tritonclient.grpc import service_pb2 as pb
    from tritonclient.grpc import service_pb2_grpc as pb_grpc

    http_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "AXIOM_MODEL_URI": str(slow_model.package),
        "AXIOM_CERTIFICATE": str(slow_model.certificate),
        "AXIOM_TRUSTED_KEYS": str(slow_model.trusted_keys),
        "AXIOM_HOST": "127.0.0.1",
    }
    process = ServeProcess(
        ["--port", str(http_port), "--grpc-port", str(grpc_port)], env, tmp_path / "serve.log"
    )
    base_url = f"http://127.0.0.1:{http_port}"
    try:
        await _wait_ready(base_url, process)
        rows = np.random.default_rng(0).random((64, INPUT)).astype("<f4")
        tensor = pb.ModelInferRequest().InferInputTensor(
            name="x", datatype="FP32", shape=rows.shape
        )
        request = pb.ModelInferRequest(
            model_name="tiny", inputs=[tensor], raw_input_contents=[rows.tobytes()]
        )
        body = json.dumps({"input": rows.round(3).tolist()}).encode()
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel,
            aiohttp.ClientSession() as session,
        ):
            stub = pb_grpc.GRPCInferenceServiceStub(channel)

            async def infer_grpc() -> tuple[str, float]:
                answer = await stub.ModelInfer(request, timeout=30)
                return answer.model_version, time.monotonic()

            async def infer_http() -> tuple[str, float]:
                async with session.post(
                    base_url + "/predict", data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    await response.read()
                    return str(response.status), time.monotonic()

            await stub.ServerReady(pb.ServerReadyRequest(), timeout=10)  # connected
            in_flight = [asyncio.create_task(infer_grpc()) for _ in range(REQUESTS)]
            in_flight += [asyncio.create_task(infer_http()) for _ in range(REQUESTS)]
            await asyncio.wait(in_flight[REQUESTS:], return_when=asyncio.FIRST_COMPLETED)
            signalled_at = time.monotonic()
            process.process.send_signal(signal.SIGTERM)
            results = await asyncio.gather(*in_flight)
            assert [answer for answer, _ in results] == ["1.0.0"] * REQUESTS + ["200"] * REQUESTS
            assert any(done > signalled_at for _, done in results[:REQUESTS])
            code = await asyncio.get_running_loop().run_in_executor(None, process.process.wait, 30)
            assert code == 0, process.log_path.read_text()
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.ServerLive(pb.ServerLiveRequest(), timeout=5)
            assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        process.stop()
