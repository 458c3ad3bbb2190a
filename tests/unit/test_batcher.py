"""The micro-batcher merges concurrent requests and never delays a lone one."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from axiom_runtime.server.batcher import MicroBatcher
from axiom_runtime.server.errors import Overloaded


def _double(batch: np.ndarray) -> tuple[np.ndarray, ...]:
    return (batch * 2,)


async def test_each_request_gets_its_own_rows_back() -> None:
    batcher = MicroBatcher(_double, max_batch_size=64)
    batcher.start()
    requests = [np.full((n, 2), n, dtype=np.float32) for n in (1, 3, 2, 5)]
    results = await asyncio.gather(*(batcher.submit(r) for r in requests))
    await batcher.close()
    for request, (result,) in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result, request * 2)


async def test_concurrent_requests_share_forward_passes() -> None:
    sizes: list[int] = []

    def slow(batch: np.ndarray) -> tuple[np.ndarray, ...]:
        sizes.append(batch.shape[0])
        time.sleep(0.002)
        return (batch,)

    batcher = MicroBatcher(slow, max_batch_size=64)
    batcher.start()
    await asyncio.gather(*(batcher.submit(np.zeros((1, 2), np.float32)) for _ in range(40)))
    await batcher.close()
    assert sum(sizes) == 40
    assert len(sizes) < 10, sizes


async def test_batch_never_exceeds_max_rows() -> None:
    sizes: list[int] = []

    def record(batch: np.ndarray) -> tuple[np.ndarray, ...]:
        sizes.append(batch.shape[0])
        return (batch,)

    batcher = MicroBatcher(record, max_batch_size=8)
    batcher.start()
    await asyncio.gather(*(batcher.submit(np.zeros((3, 1), np.float32)) for _ in range(10)))
    await batcher.close()
    assert max(sizes) <= 8


async def test_oversized_request_runs_alone() -> None:
    batcher = MicroBatcher(_double, max_batch_size=4)
    batcher.start()
    (result,) = await batcher.submit(np.ones((10, 1), np.float32))
    await batcher.close()
    assert result.shape == (10, 1)


async def test_lone_request_does_not_wait_for_company() -> None:
    batcher = MicroBatcher(_double, max_batch_size=64, max_batch_wait_s=0.5)
    batcher.start()
    started = time.perf_counter()
    await batcher.submit(np.ones((1, 4), np.float32))
    elapsed = time.perf_counter() - started
    await batcher.close()
    assert elapsed < 0.1


async def test_expensive_batches_run_off_the_event_loop() -> None:
    threads: list[str] = []

    def slow(batch: np.ndarray) -> tuple[np.ndarray, ...]:
        threads.append(threading.current_thread().name)
        time.sleep(0.005)
        return (batch,)

    batcher = MicroBatcher(slow, max_batch_size=4, inline_budget_s=0.0005)
    batcher.calibrate(np.zeros(2, np.float32), repeats=1)
    batcher.start()
    threads.clear()
    await batcher.submit(np.zeros((1, 2), np.float32))
    await batcher.close()
    assert threads == [threads[0]] and threads[0].startswith("axiom-predict")


async def test_cheap_batches_run_inline() -> None:
    threads: list[str] = []

    def fast(batch: np.ndarray) -> tuple[np.ndarray, ...]:
        threads.append(threading.current_thread().name)
        return (batch,)

    batcher = MicroBatcher(fast, max_batch_size=4, inline_budget_s=0.01)
    batcher.calibrate(np.zeros(2, np.float32), repeats=1)
    batcher.start()
    threads.clear()
    await batcher.submit(np.zeros((1, 2), np.float32))
    await batcher.close()
    assert threads == [threading.current_thread().name]


async def test_model_error_fails_its_requests_but_not_the_worker() -> None:
    calls = 0

    def flaky(batch: np.ndarray) -> tuple[np.ndarray, ...]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return (batch,)

    batcher = MicroBatcher(flaky, max_batch_size=4)
    batcher.start()
    with pytest.raises(RuntimeError, match="boom"):
        await batcher.submit(np.zeros((1, 1), np.float32))
    (result,) = await batcher.submit(np.ones((1, 1), np.float32))
    await batcher.close()
    assert result[0, 0] == 1


async def test_full_queue_refuses_with_overloaded() -> None:
    gate = threading.Event()

    def blocked(batch: np.ndarray) -> tuple[np.ndarray, ...]:
        gate.wait(5)
        return (batch,)

    batcher = MicroBatcher(blocked, max_batch_size=2, max_pending_rows=4)
    batcher.start()
    first = batcher.submit(np.zeros((2, 1), np.float32))
    await asyncio.sleep(0.05)  # the worker is now inside the blocked forward pass
    queued = [batcher.submit(np.zeros((2, 1), np.float32)) for _ in range(2)]
    with pytest.raises(Overloaded):
        batcher.submit(np.zeros((1, 1), np.float32))
    gate.set()
    await asyncio.gather(first, *queued)
    await batcher.close()
