"""The split with real `axiom serve` processes of two versions (digits 1.0.0 and 2.0.0).

What the split promises, measured on loopback against the actual runtime: within
2 points of the weight over 10,000 requests, sticky ids, zero failed requests while the
weight changes under load and while the canary process is killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from axiom_runtime.metrics import parse_prometheus_text, sample_value

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits"
KEYS = ROOT / "examples" / "keys" / "trusted"
ROW = json.loads((DIGITS / "sample-digit-3.json").read_text())["input"][0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Runtime:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready_document(self) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.base}/ready", timeout=2) as response:
            return dict(json.loads(response.read()))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def _start(version: str, log: Path, traffic_config: Path | None = None) -> Runtime:
    port = _free_port()
    env = {
        **os.environ,
        "AXIOM_MODEL_URI": str(DIGITS / f"digits-{version}.axiom"),
        "AXIOM_CERTIFICATE": str(DIGITS / f"digits-{version}.cert.json"),
        "AXIOM_TRUSTED_KEYS": str(KEYS),
        "AXIOM_HOST": "127.0.0.1",
        "AXIOM_PORT": str(port),
        "AXIOM_LOG_LEVEL": "WARNING",
    }
    if traffic_config is not None:
        env["AXIOM_TRAFFIC_CONFIG"] = str(traffic_config)
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "axiom_runtime.server"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    runtime = Runtime(process, port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"runtime {version} exited:\n{log.read_text()[-2000:]}")
        try:
            runtime.ready_document()
            return runtime
        except OSError:
            time.sleep(0.2)
    runtime.stop()
    raise RuntimeError(f"runtime {version} not ready:\n{log.read_text()[-2000:]}")


@dataclass
class Pair:
    stable: Runtime
    canary: Runtime
    config: Path

    def set_weight(self, generation: int, weight: float) -> None:
        document = {
            "generation": generation,
            "canary": {"version": "2.0.0", "url": self.canary.base, "weight": weight},
        }
        scratch = self.config.with_suffix(".tmp")
        scratch.write_text(json.dumps(document))
        os.replace(scratch, self.config)
        deadline = time.monotonic() + 10
        while self.stable.ready_document().get("trafficGeneration") != generation:
            if time.monotonic() > deadline:
                raise AssertionError(f"generation {generation} never applied")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    work = tmp_path_factory.mktemp("split")
    config = work / "traffic.json"
    config.write_text('{"generation": 0, "canary": null}')
    canary = _start("2.0.0", work / "canary.log")
    stable = _start("1.0.0", work / "stable.log", traffic_config=config)
    yield Pair(stable, canary, config)
    stable.stop()
    canary.stop()


async def _fire(url: str, ids: list[str], concurrency: int = 16) -> list[tuple[int, str, str]]:
    queue = list(reversed(ids))
    results: list[tuple[int, str, str]] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            request_id = queue.pop()
            try:
                async with session.post(
                    url, json={"input": ROW}, headers={"X-Request-ID": request_id}
                ) as response:
                    await response.read()
                    version = response.headers.get("X-Axiom-Version", "")
                    results.append((response.status, version, request_id))
            except aiohttp.ClientError as error:
                results.append((0, type(error).__name__, request_id))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return results


def _ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


async def test_real_runtimes_split_10000_requests_within_2_points(pair: Pair) -> None:
    pair.set_weight(1, 10.0)
    results = await _fire(f"{pair.stable.base}/predict", _ids(10_000))
    assert [r for r in results if r[0] != 200] == []
    versions = Counter(version for _, version, _ in results)
    assert abs(versions["2.0.0"] / 100.0 - 10.0) <= 2.0
    assert versions["1.0.0"] + versions["2.0.0"] == 10_000


async def test_real_runtimes_keep_an_id_on_one_version(pair: Pair) -> None:
    pair.set_weight(2, 50.0)
    ids = _ids(300)
    results = await _fire(f"{pair.stable.base}/predict", ids * 4)
    seen: dict[str, set[str]] = {}
    for _, version, request_id in results:
        seen.setdefault(request_id, set()).add(version)
    assert all(len(versions) == 1 for versions in seen.values())


async def test_real_runtimes_drop_nothing_while_the_weight_changes(pair: Pair) -> None:
    pair.set_weight(3, 10.0)
    load = asyncio.create_task(_fire(f"{pair.stable.base}/predict", _ids(6_000)))
    for generation, weight in enumerate([50.0, 0.0, 100.0, 25.0], start=4):
        await asyncio.sleep(0.3)
        await asyncio.to_thread(pair.set_weight, generation, weight)
    results = await load
    assert [r for r in results if r[0] != 200] == []


async def test_real_runtimes_hide_a_killed_canary_from_clients(pair: Pair) -> None:
    # Last in the module: it kills the canary process.
    pair.set_weight(10, 50.0)
    load = asyncio.create_task(_fire(f"{pair.stable.base}/predict", _ids(4_000)))
    await asyncio.sleep(0.4)
    pair.canary.stop()
    results = await load
    assert [r for r in results if r[0] != 200] == []
    versions = Counter(version for _, version, _ in results)
    assert versions["2.0.0"] > 0 and versions["1.0.0"] > 2_000
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{pair.stable.base}/metrics") as got,
    ):
        metrics = parse_prometheus_text(await got.text())
    assert sample_value(metrics, "axiom_canary_forward_failures_total", 0.0, reason="connect") > 0
