"""Shadow traffic and pinning over real HTTP: a stable server in this process, the canary a
real process. The user is always answered by stable, the copy never delays that answer,
both answers are compared, and a tester's pinned request stays out of the analysed series.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from axiom_runtime import metric_names as names
from axiom_runtime.metrics import new_registry, parse_prometheus_text, render, sample_value
from axiom_runtime.server.runtime_metrics import RuntimeMetrics
from axiom_runtime.traffic import TrafficSplitter
from axiom_runtime.traffic.config import CanaryTarget, TrafficConfig, render_traffic_config
from axiom_runtime.traffic.split import goes_to_canary
from axiom_runtime.traffic.splitter import SERVING_PINNED

sys.path.insert(0, str(Path(__file__).parent))
from canary_app import classify

pytestmark = pytest.mark.timeout(120)

CANARY_APP = Path(__file__).with_name("canary_app.py")
STABLE_VERSION = "1.0.0"
CANARY_VERSION = "2.0.0"
PIN_HEADER = "X-Axiom-Pin"


@dataclass
class Stable:
    url: str
    splitter: TrafficSplitter
    registry: CollectorRegistry
    config_path: Path
    pinned_served: list[bool]

    async def configure(
        self,
        generation: int,
        canary_url: str,
        *,
        weight: float = 0.0,
        mirror: float = 100.0,
        pin_header: str | None = None,
        forward_timeout: float = 2.0,
    ) -> None:
        text = render_traffic_config(
            TrafficConfig(
                generation=generation,
                canary=CanaryTarget(CANARY_VERSION, canary_url, weight, mirror=mirror),
                forward_timeout_seconds=forward_timeout,
                pin_header=pin_header,
            )
        )
        scratch = self.config_path.with_suffix(".tmp")
        scratch.write_text(text)
        os.replace(scratch, self.config_path)
        for _ in range(200):
            if self.splitter.applied_generation == generation:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"generation {generation} never applied")

    def metric(self, name: str, **labels: str) -> float:
        labels = {"model": "digits", "version": STABLE_VERSION, **labels}
        return sample_value(
            parse_prometheus_text(render(self.registry).decode()), name, 0.0, **labels
        )


@pytest.fixture
def start_canary() -> Iterator[Callable[[str], str]]:
    started: list[subprocess.Popen[str]] = []

    def start(mode: str) -> str:
        process = subprocess.Popen(
            [sys.executable, str(CANARY_APP), CANARY_VERSION, mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        return f"http://127.0.0.1:{json.loads(process.stdout.readline())['port']}"

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
async def stable(tmp_path: Path) -> AsyncIterator[Stable]:
    registry = new_registry()
    config_path = tmp_path / "traffic.json"
    splitter = TrafficSplitter(
        config_path,
        registry,
        model_name="digits",
        local_version=STABLE_VERSION,
        generation_gauge=RuntimeMetrics(registry, "digits", STABLE_VERSION).traffic_generation,
        poll_interval=0.02,
        mirror_queue_size=64,
        mirror_workers=2,
    )
    pinned_served: list[bool] = []

    async def predict(request: web.Request) -> web.StreamResponse:
        body = await request.read()

        async def serve_locally() -> web.StreamResponse:
            pinned_served.append(SERVING_PINNED.get())
            return web.json_response(
                classify(json.loads(body)["input"]), headers={"X-Axiom-Version": STABLE_VERSION}
            )

        return await splitter.handle(request, body, serve_locally)

    app = web.Application()
    app.router.add_post("/predict", predict)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    await splitter.start()
    port = runner.addresses[0][1]
    yield Stable(f"http://127.0.0.1:{port}/predict", splitter, registry, config_path, pinned_served)
    await splitter.close()
    await runner.cleanup()


async def ask(
    session: aiohttp.ClientSession, url: str, request_id: str, headers: dict[str, str] | None = None
) -> tuple[int, str, float]:
    """(status, answering version, seconds) of one /predict call."""
    started = time.perf_counter()
    row = [float(len(request_id) % 7), 2.0, 0.5, 1.0]
    async with session.post(
        url, json={"input": row}, headers={"X-Request-ID": request_id, **(headers or {})}
    ) as response:
        await response.read()
        return (
            response.status,
            response.headers.get("X-Axiom-Version", ""),
            (time.perf_counter() - started),
        )


async def ask_many(url: str, count: int, **kwargs: dict[str, str]) -> list[tuple[int, str, float]]:
    async with aiohttp.ClientSession() as session:
        return [await ask(session, url, str(uuid.uuid4()), **kwargs) for _ in range(count)]


async def settle(stable: Stable) -> None:
    for _ in range(200):
        if stable.splitter.mirror.pending == 0:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)


async def test_shadow_mode_answers_every_user_from_stable_and_compares_each_copy(
    stable: Stable, start_canary: Callable[[str], str]
) -> None:
    await stable.configure(1, start_canary("model"), weight=0.0, mirror=100.0)
    results = await ask_many(stable.url, 50)
    await settle(stable)
    assert {(status, version) for status, version, _ in results} == {(200, STABLE_VERSION)}
    canary = {"canary": CANARY_VERSION}
    compared = stable.metric(names.SHADOW_REQUESTS_TOTAL, outcome="compared", **canary)
    assert compared == 50
    assert stable.metric(names.SHADOW_ROWS_TOTAL, **canary) == 50
    assert stable.metric(names.SHADOW_AGREEMENTS_TOTAL, **canary) == 50
    assert stable.metric(f"{names.SHADOW_OUTPUT_DISTANCE}_sum", **canary) == 0.0


async def test_a_label_permuted_canary_disagrees_on_every_row_with_the_same_confidence(
    stable: Stable, start_canary: Callable[[str], str]
) -> None:
    await stable.configure(1, start_canary("permuted"), mirror=100.0)
    await ask_many(stable.url, 40)
    await settle(stable)
    canary = {"canary": CANARY_VERSION}
    assert stable.metric(names.SHADOW_ROWS_TOTAL, **canary) == 40
    assert stable.metric(names.SHADOW_AGREEMENTS_TOTAL, **canary) == 0
    text = render(stable.registry).decode()
    flips = sum(
        sample.value
        for sample in parse_prometheus_text(text).get(names.SHADOW_LABEL_FLIPS_TOTAL, [])
    )
    assert flips == 40
    assert stable.metric(f"{names.SHADOW_CONFIDENCE_DELTA}_sum", **canary) == pytest.approx(0.0)
    assert stable.metric(f"{names.SHADOW_OUTPUT_DISTANCE}_sum", **canary) > 0


async def test_a_hanging_canary_neither_delays_nor_fails_the_users_answer(
    stable: Stable, start_canary: Callable[[str], str]
) -> None:
    url = start_canary("hang")
    await stable.configure(1, url, mirror=0.0)
    await ask_many(stable.url, 20)  # warm the connection
    without = await ask_many(stable.url, 200)
    await stable.configure(2, url, mirror=100.0, forward_timeout=30.0)
    mirrored = await ask_many(stable.url, 200)
    assert all(status == 200 and version == STABLE_VERSION for status, version, _ in mirrored)
    p50_without = statistics.median(seconds for _, _, seconds in without)
    p50_mirrored = statistics.median(seconds for _, _, seconds in mirrored)
    # Not a benchmark (bench/traffic_bench.py is): the answer must not wait for the copy,
    # which here would take the whole 30 s timeout.
    assert p50_mirrored < p50_without * 2 + 0.005
    canary = {"canary": CANARY_VERSION}
    # Two workers hang on their copies, the queue holds 64: the rest were dropped and counted.
    assert stable.metric(names.SHADOW_REQUESTS_TOTAL, outcome="dropped", **canary) == 200 - 66


async def test_a_dead_canary_counts_failed_copies_and_users_see_nothing(
    stable: Stable, start_canary: Callable[[str], str]
) -> None:
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    await stable.configure(1, dead, mirror=100.0)
    results = await ask_many(stable.url, 5)
    await settle(stable)
    assert {(status, version) for status, version, _ in results} == {(200, STABLE_VERSION)}
    canary = {"canary": CANARY_VERSION}
    assert stable.metric(names.SHADOW_REQUESTS_TOTAL, outcome="connect", **canary) == 5


async def test_the_mirrored_share_is_sticky_by_request_id(
    stable: Stable, start_canary: Callable[[str], str]
) -> None:
    await stable.configure(1, start_canary("model"), mirror=50.0)
    ids = [str(uuid.uuid4()) for _ in range(60)]
    chosen = sum(goes_to_canary(f"mirror:{request_id}", 50.0) for request_id in ids)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            for request_id in ids:
                await ask(session, stable.url, request_id)
            await settle(stable)
    compared = stable.metric(names.SHADOW_REQUESTS_TOTAL, outcome="compared", canary=CANARY_VERSION)
    assert compared == 2 * chosen
    assert 0 < chosen < 60


async def test_a_pinned_request_reaches_the_canary_at_weight_zero_and_is_counted_apart(
    stable: Stable, start_canary: Callable[[str], str]
) -> None:
    await stable.configure(1, start_canary("model"), mirror=0.0, pin_header=PIN_HEADER)
    to_canary = await ask_many(stable.url, 3, headers={PIN_HEADER: "canary"})
    to_stable = await ask_many(stable.url, 2, headers={PIN_HEADER: "stable"})
    plain = await ask_many(stable.url, 4)
    assert {version for _, version, _ in to_canary} == {CANARY_VERSION}
    assert {version for _, version, _ in to_stable + plain} == {STABLE_VERSION}
    assert stable.metric(names.PINNED_REQUESTS_TOTAL, target="canary") == 3
    assert stable.metric(names.PINNED_REQUESTS_TOTAL, target="stable") == 2
    assert stable.metric(names.SPLIT_REQUESTS_TOTAL, target="canary") == 0
    assert stable.metric(names.SPLIT_REQUESTS_TOTAL, target="stable") == 4
    # The routes skip the analysed series for the requests served with SERVING_PINNED set.
    assert stable.pinned_served == [True, True, False, False, False, False]


async def test_the_pin_header_does_nothing_unless_the_spec_opted_in(
    stable: Stable, start_canary: Callable[[str], str]
) -> None:
    await stable.configure(1, start_canary("model"), mirror=0.0)
    results = await ask_many(stable.url, 3, headers={PIN_HEADER: "canary"})
    assert {version for _, version, _ in results} == {STABLE_VERSION}
    assert stable.metric(names.PINNED_REQUESTS_TOTAL, target="canary") == 0
