"""The Runtime-mode split for gRPC, with real `axiom serve` processes of digits 1.0.0 and 2.0.0.

The stable pod serves a ModelInfer itself or forwards it to the canary's gRPC port by the
same weight and the same buckets as HTTP (the ``x-request-id`` metadata is the id), and a
canary that fails is answered by the stable pod and counted against the canary in the same
``axiom_canary_forward_failures_total`` series the operator's analysis reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from axiom_runtime.metrics import parse_prometheus_text, sample_value
from axiom_runtime.server.testing import free_port

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits"
KEYS = ROOT / "examples" / "keys" / "trusted"
ROW = np.asarray(json.loads((DIGITS / "sample-digit-3.json").read_text())["input"][0], "<f4")


@dataclass
class Runtime:
    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def get(self, path: str) -> str:
        try:
            with urllib.request.urlopen(self.base + path, timeout=2) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError as error:
            return str(error.read().decode())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def _start(version: str, log: Path, *, traffic: Path | None = None, keys: Path = KEYS) -> Runtime:
    http_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "AXIOM_MODEL_URI": str(DIGITS / f"digits-{version}.axiom"),
        "AXIOM_CERTIFICATE": str(DIGITS / f"digits-{version}.cert.json"),
        "AXIOM_TRUSTED_KEYS": str(keys),
        "AXIOM_HOST": "127.0.0.1",
        "AXIOM_PORT": str(http_port),
        "AXIOM_GRPC_PORT": str(grpc_port),
        "AXIOM_LOG_LEVEL": "WARNING",
    }
    if traffic is not None:
        env["AXIOM_TRAFFIC_CONFIG"] = str(traffic)
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "axiom_runtime.server"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    runtime = Runtime(process, http_port, grpc_port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"runtime {version} exited:\n{log.read_text()[-2000:]}")
        if '"phase": "Loading"' not in (document := _ready_or_empty(runtime)) and document:
            return runtime
        time.sleep(0.1)
    runtime.stop()
    raise RuntimeError(f"runtime {version} not ready:\n{log.read_text()[-2000:]}")


def _ready_or_empty(runtime: Runtime) -> str:
    try:
        return runtime.get("/ready")
    except OSError:
        return ""


@dataclass
class Pair:
    stable: Runtime
    canary: Runtime
    config: Path

    def set_weight(self, generation: int, weight: float, canary: Runtime | None = None) -> None:
        target = canary or self.canary
        document = {
            "generation": generation,
            "canary": {
                "version": "2.0.0",
                "url": target.base,
                "grpcTarget": target.grpc_target,
                "weight": weight,
            },
        }
        scratch = self.config.with_suffix(".tmp")
        scratch.write_text(json.dumps(document))
        os.replace(scratch, self.config)
        deadline = time.monotonic() + 10
        while json.loads(self.stable.get("/ready")).get("trafficGeneration") != generation:
            if time.monotonic() > deadline:
                raise AssertionError(f"generation {generation} never applied")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    work = tmp_path_factory.mktemp("grpc-split")
    config = work / "traffic.json"
    config.write_text('{"generation": 0, "canary": null}')
    canary = _start("2.0.0", work / "canary.log")
    stable = _start("1.0.0", work / "stable.log", traffic=config)
    yield Pair(stable, canary, config)
    stable.stop()
    canary.stop()


def _request() -> pb.ModelInferRequest:
    tensor = pb.ModelInferRequest().InferInputTensor(name="x", datatype="FP32", shape=[1, 64])
    return pb.ModelInferRequest(
        model_name="digits", inputs=[tensor], raw_input_contents=[ROW.tobytes()]
    )


async def _fire(target: str, ids: list[str], concurrency: int = 16) -> list[tuple[str, str]]:
    """(answering version or the error code's name, request id) for each id."""
    queue = list(reversed(ids))
    results: list[tuple[str, str]] = []
    request = _request()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)

        async def worker() -> None:
            while queue:
                request_id = queue.pop()
                try:
                    answer = await stub.ModelInfer(
                        request, metadata=(("x-request-id", request_id),), timeout=10
                    )
                    results.append((answer.model_version, request_id))
                except grpc.aio.AioRpcError as error:
                    results.append((error.code().name, request_id))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def _ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


async def test_grpc_split_follows_the_weight(pair: Pair) -> None:
    pair.set_weight(1, 20.0)
    results = await _fire(pair.stable.grpc_target, _ids(3_000))
    versions = Counter(version for version, _ in results)
    assert versions["1.0.0"] + versions["2.0.0"] == 3_000, versions
    assert abs(versions["2.0.0"] / 30.0 - 20.0) <= 3.0, versions


async def test_grpc_ids_are_sticky_and_agree_with_http(pair: Pair) -> None:
    pair.set_weight(2, 50.0)
    ids = _ids(200)
    results = await _fire(pair.stable.grpc_target, ids * 3)
    seen: dict[str, set[str]] = {}
    for version, request_id in results:
        seen.setdefault(request_id, set()).add(version)
    assert all(len(versions) == 1 for versions in seen.values())
    # The same id over HTTP (tritonclient.http, binary tensors) lands on the same version.
    client = httpclient.InferenceServerClient(f"127.0.0.1:{pair.stable.http_port}")
    try:
        for request_id in ids[:40]:
            tensor = httpclient.InferInput("x", [1, 64], "FP32")
            tensor.set_data_from_numpy(ROW.reshape(1, 64), binary_data=True)
            answer = client.infer("digits", [tensor], headers={"X-Request-ID": request_id})
            assert {answer.get_response()["model_version"]} == seen[request_id]
    finally:
        client.close()


def test_tritonclient_grpc_through_the_stable_pod(pair: Pair) -> None:
    pair.set_weight(3, 100.0)
    client = grpcclient.InferenceServerClient(pair.stable.grpc_target)
    try:
        tensor = grpcclient.InferInput("x", [1, 64], "FP32")
        tensor.set_data_from_numpy(ROW.reshape(1, 64))
        answer = client.infer("digits", [tensor], headers={"x-request-id": "abc"})
        assert answer.get_response().model_version == "2.0.0"
        assert answer.as_numpy("class").tolist() == [3]
        # A client error from the canary reaches the client as it is, not retried.
        bad = grpcclient.InferInput("x", [1, 63], "FP32")
        bad.set_data_from_numpy(ROW[:63].reshape(1, 63).copy())
        with pytest.raises(grpcclient.InferenceServerException) as raised:
            client.infer("digits", [bad])
        assert raised.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert raised.value.message().startswith("inputs[0].shape:")
    finally:
        client.close()


def _failures(runtime: Runtime, reason: str) -> float:
    metrics = parse_prometheus_text(runtime.get("/metrics"))
    return sample_value(metrics, "axiom_canary_forward_failures_total", 0.0, reason=reason)


async def test_a_not_ready_canary_is_answered_by_stable_and_counted(
    pair: Pair, tmp_path: Path, other_keys: Path
) -> None:
    broken = _start("2.0.0", tmp_path / "broken.log", keys=other_keys)  # never ready
    try:
        before = _failures(pair.stable, "status_5xx")
        pair.set_weight(4, 100.0, canary=broken)
        results = await _fire(pair.stable.grpc_target, _ids(200))
        assert Counter(version for version, _ in results) == {"1.0.0": 200}
        assert _failures(pair.stable, "status_5xx") == before + 200
    finally:
        broken.stop()


async def test_a_killed_canary_is_hidden_from_grpc_clients(pair: Pair) -> None:
    # Last in the module: it kills the canary process.
    pair.set_weight(5, 50.0)
    load = asyncio.create_task(_fire(pair.stable.grpc_target, _ids(3_000)))
    await asyncio.sleep(0.4)
    pair.canary.stop()
    results = await load
    versions = Counter(version for version, _ in results)
    assert set(versions) == {"1.0.0", "2.0.0"}, versions  # no error code among them
    assert versions["1.0.0"] > 1_500
    assert _failures(pair.stable, "connect") > 0
