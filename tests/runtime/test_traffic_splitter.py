"""The splitter over real HTTP: a stable server in this process, the canary a real process.

What a user of the split relies on, measured end to end on loopback: the share is exact,
an id is sticky, a broken or dead canary is invisible to the client (and counted), and a
weight change under load drops nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from axiom_runtime.metrics import new_registry, parse_prometheus_text, render, sample_value
from axiom_runtime.server.runtime_metrics import RuntimeMetrics
from axiom_runtime.traffic import TrafficSplitter
from axiom_runtime.traffic.config import CanaryTarget, TrafficConfig, render_traffic_config
from axiom_runtime.traffic.split import goes_to_canary

pytestmark = pytest.mark.timeout(120)

CANARY_APP = Path(__file__).with_name("canary_app.py")
STABLE_VERSION = "1.0.0"
CANARY_VERSION = "2.0.0"


@dataclass
class Canary:
    process: subprocess.Popen[str]
    url: str

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def start_canary() -> Iterator[Callable[[str], Canary]]:
    started: list[Canary] = []

    def start(mode: str) -> Canary:
        process = subprocess.Popen(
            [sys.executable, str(CANARY_APP), CANARY_VERSION, mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        port = json.loads(process.stdout.readline())["port"]
        canary = Canary(process=process, url=f"http://127.0.0.1:{port}")
        started.append(canary)
        return canary

    yield start
    for canary in started:
        canary.kill()


@dataclass
class Stable:
    url: str
    splitter: TrafficSplitter
    registry: CollectorRegistry
    config_path: Path

    async def configure(
        self,
        generation: int,
        canary: Canary | None,
        weight: float = 0.0,
        forward_timeout: float = 2.0,
    ) -> None:
        target = None if canary is None else CanaryTarget(CANARY_VERSION, canary.url, weight)
        text = render_traffic_config(
            TrafficConfig(
                generation=generation, canary=target, forward_timeout_seconds=forward_timeout
            )
        )
        # Write then rename, like the kubelet's symlink swap: readers never see half a file.
        scratch = self.config_path.with_suffix(".tmp")
        scratch.write_text(text)
        os.replace(scratch, self.config_path)
        for _ in range(200):
            if self.splitter.applied_generation == generation:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"generation {generation} never applied")

    def metric(self, name: str, **labels: str) -> float:
        return sample_value(
            parse_prometheus_text(render(self.registry).decode()), name, 0.0, **labels
        )


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
    )

    async def predict(request: web.Request) -> web.StreamResponse:
        body = await request.read()

        async def serve_locally() -> web.StreamResponse:
            return web.json_response(
                {"version": STABLE_VERSION}, headers={"X-Axiom-Version": STABLE_VERSION}
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
    yield Stable(f"http://127.0.0.1:{port}/predict", splitter, registry, config_path)
    await splitter.close()
    await runner.cleanup()


Result = tuple[int, str, str]  # status, X-Axiom-Version, request id


async def fire(
    url: str, request_ids: list[str], concurrency: int = 32, pace: float = 0.0
) -> list[Result]:
    """Send one POST per id with bounded concurrency; every outcome is recorded, none raised."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for request_id in request_ids:
        queue.put_nowait(request_id)
    results: list[Result] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            request_id = queue.get_nowait()
            try:
                async with session.post(
                    url, json={"input": [0.0]}, headers={"X-Request-ID": request_id}
                ) as response:
                    await response.read()
                    results.append(
                        (response.status, response.headers.get("X-Axiom-Version", ""), request_id)
                    )
            except aiohttp.ClientError as error:
                results.append((0, type(error).__name__, request_id))
            if pace:
                await asyncio.sleep(pace)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return results


def new_ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


async def test_measured_split_over_10000_requests_is_within_2_points_of_the_weight(
    stable: Stable, start_canary: Callable[[str], Canary]
) -> None:
    await stable.configure(1, start_canary("ok"), weight=10.0)
    results = await fire(stable.url, new_ids(10_000))
    assert all(status == 200 for status, _, _ in results)
    versions = Counter(version for _, version, _ in results)
    assert set(versions) == {STABLE_VERSION, CANARY_VERSION}
    assert abs(versions[CANARY_VERSION] / 100.0 - 10.0) <= 2.0


async def test_the_same_request_id_always_reaches_the_same_version(
    stable: Stable, start_canary: Callable[[str], Canary]
) -> None:
    await stable.configure(1, start_canary("ok"), weight=50.0)
    ids = new_ids(200)
    results = await fire(stable.url, ids * 5)
    seen: dict[str, set[str]] = {}
    for _, version, request_id in results:
        seen.setdefault(request_id, set()).add(version)
    assert all(len(versions) == 1 for versions in seen.values())
    for request_id, versions in seen.items():
        expected = CANARY_VERSION if goes_to_canary(request_id, 50.0) else STABLE_VERSION
        assert versions == {expected}


async def test_a_canary_answering_500_is_invisible_to_clients_and_counted(
    stable: Stable, start_canary: Callable[[str], Canary]
) -> None:
    await stable.configure(1, start_canary("fail"), weight=30.0)
    ids = new_ids(1_000)
    results = await fire(stable.url, ids)
    assert {(status, version) for status, version, _ in results} == {(200, STABLE_VERSION)}
    expected_failures = sum(goes_to_canary(request_id, 30.0) for request_id in ids)
    assert stable.metric("axiom_canary_forward_failures_total", reason="status_5xx") == (
        expected_failures
    )


async def test_a_canary_killed_mid_run_is_invisible_to_clients_and_counted(
    stable: Stable, start_canary: Callable[[str], Canary]
) -> None:
    canary = start_canary("ok")
    await stable.configure(1, canary, weight=50.0)
    load = asyncio.create_task(fire(stable.url, new_ids(3_000), concurrency=16, pace=0.001))
    await asyncio.sleep(0.5)
    canary.kill()
    results = await load
    assert [r for r in results if r[0] != 200] == []
    versions = Counter(version for _, version, _ in results)
    assert versions[CANARY_VERSION] > 0, "the canary answered nothing before it was killed"
    assert stable.metric("axiom_canary_forward_failures_total", reason="connect") > 0
    forwarded = stable.metric("axiom_split_requests_total", target="canary")
    failures = stable.metric("axiom_canary_forward_failures_total")
    assert forwarded == versions[CANARY_VERSION] + failures


async def test_a_slow_canary_times_out_and_the_stable_pod_answers(
    stable: Stable, start_canary: Callable[[str], Canary]
) -> None:
    await stable.configure(1, start_canary("slow"), weight=100.0, forward_timeout=0.2)
    results = await fire(stable.url, new_ids(20), concurrency=20)
    assert {(status, version) for status, version, _ in results} == {(200, STABLE_VERSION)}
    assert stable.metric("axiom_canary_forward_failures_total", reason="timeout") == 20


async def test_weight_changes_under_load_drop_no_request(
    stable: Stable, start_canary: Callable[[str], Canary]
) -> None:
    canary = start_canary("ok")
    await stable.configure(1, canary, weight=10.0)
    load = asyncio.create_task(fire(stable.url, new_ids(4_000), concurrency=32, pace=0.001))
    for generation, weight in enumerate([50.0, 0.0, 100.0, 30.0, 5.0], start=2):
        await asyncio.sleep(0.15)
        await stable.configure(generation, canary, weight=weight)
    results = await load
    assert [r for r in results if r[0] != 200] == []
    assert stable.splitter.applied_generation == 6
    assert stable.metric("axiom_traffic_config_generation") == 6


async def test_a_forwarded_request_is_never_forwarded_again(
    stable: Stable, start_canary: Callable[[str], Canary]
) -> None:
    await stable.configure(1, start_canary("ok"), weight=100.0)
    async with (
        aiohttp.ClientSession() as session,
        session.post(stable.url, json={}, headers={"X-Axiom-Forwarded": "0.9.0"}) as response,
    ):
        assert response.headers["X-Axiom-Version"] == STABLE_VERSION


async def test_forwarded_answers_carry_the_canary_version_and_the_loop_guard_header(
    stable: Stable, start_canary: Callable[[str], Canary]
) -> None:
    await stable.configure(1, start_canary("ok"), weight=100.0)
    async with (
        aiohttp.ClientSession() as session,
        session.post(stable.url, json={}) as response,
    ):
        assert response.headers["X-Axiom-Version"] == CANARY_VERSION
        assert (await response.json())["forwardedBy"] == STABLE_VERSION


async def test_a_bad_file_keeps_the_last_good_config_and_is_reported(
    stable: Stable, start_canary: Callable[[str], Canary]
) -> None:
    await stable.configure(3, start_canary("ok"), weight=100.0)
    stable.config_path.write_text('{"generation": 4, "canary": {"weight": 500}}')
    for _ in range(100):
        if stable.splitter.last_error is not None:
            break
        await asyncio.sleep(0.02)
    assert stable.splitter.last_error is not None and "canary.version" in stable.splitter.last_error
    assert stable.splitter.applied_generation == 3
    assert stable.metric("axiom_traffic_config_errors_total") == 1
    results = await fire(stable.url, new_ids(10))
    assert {version for _, version, _ in results} == {CANARY_VERSION}


async def test_without_a_config_file_every_request_is_served_locally(stable: Stable) -> None:
    assert stable.splitter.applied_generation == -1
    results = await fire(stable.url, new_ids(20))
    assert {(status, version) for status, version, _ in results} == {(200, STABLE_VERSION)}


async def test_a_pod_of_the_canary_version_serves_its_own_requests(
    tmp_path: Path, start_canary: Callable[[str], Canary]
) -> None:
    # After promotion the new stable pods mount the same ConfigMap: they must not forward.
    registry = new_registry()
    splitter = TrafficSplitter(
        tmp_path / "t.json",
        registry,
        model_name="digits",
        local_version=CANARY_VERSION,
        generation_gauge=RuntimeMetrics(registry, "digits", CANARY_VERSION).traffic_generation,
    )
    canary = start_canary("ok")
    splitter.apply(TrafficConfig(1, CanaryTarget(CANARY_VERSION, canary.url, 100.0)))
    served: list[bool] = []

    async def serve_locally() -> web.StreamResponse:
        served.append(True)
        return web.Response(text="local")

    async def handler(request: web.Request) -> web.StreamResponse:
        return await splitter.handle(request, b"", serve_locally)

    app = web.Application()
    app.router.add_post("/predict", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{port}/predict") as response,
        ):
            assert await response.text() == "local"
    finally:
        await splitter.close()
        await runner.cleanup()
    assert served == [True]
