"""Shadow traffic and pinning with real `axiom serve` processes: digits 1.0.0 stable,
digits 4.0.0 (1.0.0 with its labels permuted) as the canary at weight 0, mirror 100 %.

Both answer shapes the runtime serves are compared (/predict and the V2 JSON infer), the
user always gets 1.0.0's answer, and requests a tester pinned stay out of the analysed
series on both pods.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_traffic_real_runtime import ROW, Runtime, _start

from axiom_runtime import metric_names as names
from axiom_runtime.metrics import parse_prometheus_text, sample_value

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
PIN = "X-Axiom-Pin"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Runtime]]:
    work = tmp_path_factory.mktemp("shadow")
    config = work / "traffic.json"
    config.write_text('{"generation": 0, "canary": null}')
    canary = _start("4.0.0", work / "canary.log", traffic_config=config)
    stable = _start("1.0.0", work / "stable.log", traffic_config=config)
    document = {
        "generation": 1,
        "pinHeader": PIN,
        "canary": {"version": "4.0.0", "url": canary.base, "weight": 0, "mirrorPercent": 100},
    }
    config.with_suffix(".tmp").write_text(json.dumps(document))
    os.replace(config.with_suffix(".tmp"), config)
    deadline = time.monotonic() + 10
    while stable.ready_document().get("trafficGeneration") != 1:
        assert time.monotonic() < deadline, "generation 1 never applied"
        time.sleep(0.05)
    yield stable, canary
    stable.stop()
    canary.stop()


def post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[str, object]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with _NO_PROXY.open(request, timeout=5) as answer:
        return str(answer.headers.get("X-Axiom-Version")), json.loads(answer.read())


def metric(runtime: Runtime, name: str, **labels: str) -> float:
    with _NO_PROXY.open(f"{runtime.base}/metrics", timeout=5) as answer:
        parsed = parse_prometheus_text(answer.read().decode())
    return sample_value(parsed, name, 0.0, **labels)


def settle(stable: Runtime, compared: float) -> None:
    deadline = time.monotonic() + 10
    labels = {"outcome": "compared", "canary": "4.0.0"}
    while metric(stable, names.SHADOW_REQUESTS_TOTAL, **labels) < compared:
        assert time.monotonic() < deadline, "the copies were never compared"
        time.sleep(0.05)


V2_BODY = {"inputs": [{"name": "input-0", "shape": [1, 64], "datatype": "FP32", "data": ROW}]}


def test_both_answer_shapes_are_mirrored_and_compared_while_users_get_the_stable(
    pair: tuple[Runtime, Runtime],
) -> None:
    stable, _ = pair
    before = metric(stable, names.SHADOW_ROWS_TOTAL, canary="4.0.0")
    versions = {post(f"{stable.base}/predict", {"input": ROW})[0] for _ in range(10)}
    versions |= {post(f"{stable.base}/v2/models/digits/infer", V2_BODY)[0] for _ in range(10)}
    assert versions == {"1.0.0"}
    settle(stable, 20)
    assert metric(stable, names.SHADOW_ROWS_TOTAL, canary="4.0.0") - before == 20
    assert metric(stable, names.SHADOW_AGREEMENTS_TOTAL, canary="4.0.0") == 0
    flips = metric(
        stable, names.SHADOW_LABEL_FLIPS_TOTAL, canary="4.0.0", **{"from": "3", "to": "4"}
    )
    assert flips == 20


def test_a_pinned_request_reaches_the_canary_and_no_analysed_series_counts_it(
    pair: tuple[Runtime, Runtime],
) -> None:
    stable, canary = pair
    canary_before = metric(canary, names.INFERENCE_TOTAL, status="ok")
    stable_before = metric(stable, names.INFERENCE_TOTAL, status="ok")
    version, answer = post(f"{stable.base}/predict", {"input": ROW}, {PIN: "canary"})
    assert version == "4.0.0" and answer["class"] == "4"  # type: ignore[index]
    version, _ = post(f"{stable.base}/predict", {"input": ROW}, {PIN: "stable"})
    assert version == "1.0.0"
    assert metric(stable, names.PINNED_REQUESTS_TOTAL, target="canary") == 1
    assert metric(stable, names.PINNED_REQUESTS_TOTAL, target="stable") == 1
    assert metric(canary, names.PINNED_REQUESTS_TOTAL, target="canary") == 1
    assert metric(stable, names.INFERENCE_TOTAL, status="ok") == stable_before
    assert metric(canary, names.INFERENCE_TOTAL, status="ok") == canary_before
