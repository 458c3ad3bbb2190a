"""Shadow traffic and pinning over gRPC, with real `axiom serve` processes and the official
tritonclient gRPC client: digits 1.0.0 stable, digits 4.0.0 (its labels permuted) as the
canary at weight 0.

A ModelInfer the stable pod answers is mirrored to the canary's gRPC port and both
ModelInferResponse messages are compared into the same shadow series as HTTP copies; the
client always gets 1.0.0's answer. The pin header, sent as gRPC metadata, reaches the
version asked for (also at weight 0) and stays out of the analysed series on both pods.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.grpc as grpcclient

sys.path.insert(0, str(Path(__file__).parent))
from test_traffic_grpc import ROW, Runtime, _start

from axiom_runtime import metric_names as names
from axiom_runtime.metrics import parse_prometheus_text, sample_value

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
PIN = "X-Axiom-Pin"


def write_config(config: Path, generation: int, canary: Runtime, **extra: object) -> None:
    document = {
        "generation": generation,
        "canary": {
            "version": "4.0.0",
            "url": canary.base,
            "grpcTarget": canary.grpc_target,
            "weight": 0,
            "mirrorPercent": 100,
        },
        **extra,
    }
    config.with_suffix(".tmp").write_text(json.dumps(document))
    os.replace(config.with_suffix(".tmp"), config)


def wait_generation(pod: Runtime, generation: int) -> None:
    deadline = time.monotonic() + 10
    while json.loads(pod.get("/ready")).get("trafficGeneration") != generation:
        assert time.monotonic() < deadline, f"generation {generation} never applied"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Runtime, Path]]:
    work = tmp_path_factory.mktemp("shadow-grpc")
    config = work / "traffic.json"
    config.write_text('{"generation": 0, "canary": null}')
    canary = _start("4.0.0", work / "canary.log", traffic=config)
    stable = _start("1.0.0", work / "stable.log", traffic=config)
    write_config(config, 1, canary, pinHeader=PIN)
    # Both pods: the canary counts a forwarded pinned call apart only once it has read the
    # pin header from the same file (CI once read its counter before it had).
    wait_generation(stable, 1)
    wait_generation(canary, 1)
    yield stable, canary, config
    stable.stop()
    canary.stop()


def metric(runtime: Runtime, name: str, **labels: str) -> float:
    return sample_value(parse_prometheus_text(runtime.get("/metrics")), name, 0.0, **labels)


def shadow(stable: Runtime, name: str, **labels: str) -> float:
    return metric(stable, name, canary="4.0.0", **labels)


def infer(
    client: grpcclient.InferenceServerClient, headers: dict[str, str] | None = None
) -> tuple[str, list[int]]:
    tensor = grpcclient.InferInput("x", [1, 64], "FP32")
    tensor.set_data_from_numpy(ROW.reshape(1, 64))
    answer = client.infer("digits", [tensor], headers=headers)
    return answer.get_response().model_version, answer.as_numpy("class").tolist()


def settle(stable: Runtime, compared: float) -> None:
    """Wait until the stable pod's mirror handled ``compared`` copies (they are async)."""
    deadline = time.monotonic() + 20
    while shadow(stable, names.SHADOW_REQUESTS_TOTAL, outcome="compared") < compared:
        assert time.monotonic() < deadline, "mirrored copies were never all compared"
        time.sleep(0.05)


def test_grpc_calls_are_mirrored_and_compared_while_the_client_gets_stable(
    pods: tuple[Runtime, Runtime, Path],
) -> None:
    stable, canary, _ = pods
    before = shadow(stable, names.SHADOW_REQUESTS_TOTAL, outcome="compared")
    canary_before = metric(canary, names.INFERENCE_TOTAL, status="ok")
    flips_before = shadow(stable, names.SHADOW_LABEL_FLIPS_TOTAL, **{"from": "3", "to": "4"})
    client = grpcclient.InferenceServerClient(stable.grpc_target)
    try:
        answers = [infer(client, {"x-request-id": f"grpc-{i}"}) for i in range(60)]
    finally:
        client.close()
    assert set(map(tuple, ((v, tuple(c)) for v, c in answers))) == {("1.0.0", (3,))}
    settle(stable, before + 60)
    assert shadow(stable, names.SHADOW_ROWS_TOTAL) >= 60
    assert shadow(stable, names.SHADOW_AGREEMENTS_TOTAL) == 0  # permuted: never the same class
    flips = shadow(stable, names.SHADOW_LABEL_FLIPS_TOTAL, **{"from": "3", "to": "4"})
    assert flips == flips_before + 60
    assert shadow(stable, names.SHADOW_REQUESTS_TOTAL, outcome="uncomparable") == 0
    # The canary served every copy itself, over gRPC, and counted it: what its figures read.
    assert metric(canary, names.INFERENCE_TOTAL, status="ok") == canary_before + 60


def test_a_pinned_grpc_call_reaches_the_canary_at_weight_zero_and_is_counted_apart(
    pods: tuple[Runtime, Runtime, Path],
) -> None:
    stable, canary, _ = pods
    analysed = [metric(pod, names.INFERENCE_TOTAL, status="ok") for pod in (stable, canary)]
    compared = shadow(stable, names.SHADOW_REQUESTS_TOTAL, outcome="compared")
    client = grpcclient.InferenceServerClient(stable.grpc_target)
    try:
        to_canary = [infer(client, {PIN.lower(): "canary"}) for _ in range(5)]
        to_stable = [infer(client, {PIN.lower(): "stable"}) for _ in range(3)]
    finally:
        client.close()
    assert {version for version, _ in to_canary} == {"4.0.0"}
    assert {tuple(classes) for _, classes in to_canary} == {(4,)}  # 4.0.0's own answer
    assert {version for version, _ in to_stable} == {"1.0.0"}
    pinned = names.PINNED_REQUESTS_TOTAL
    assert metric(stable, pinned, target="canary") >= 5
    assert metric(stable, pinned, target="stable") >= 3
    assert metric(canary, pinned, target="canary") >= 5
    # Neither pod's analysed series moved, and no pinned call was mirrored.
    assert [metric(pod, names.INFERENCE_TOTAL, status="ok") for pod in (stable, canary)] == analysed
    time.sleep(0.5)
    assert shadow(stable, names.SHADOW_REQUESTS_TOTAL, outcome="compared") == compared


def test_the_grpc_pin_does_nothing_unless_the_spec_opted_in(
    pods: tuple[Runtime, Runtime, Path],
) -> None:
    stable, canary, config = pods
    write_config(config, 2, canary)  # no pinHeader
    wait_generation(stable, 2)
    wait_generation(canary, 2)
    client = grpcclient.InferenceServerClient(stable.grpc_target)
    try:
        version, _ = infer(client, {PIN.lower(): "canary", "x-request-id": "unpinned"})
    finally:
        client.close()
    assert version == "1.0.0"
