"""Micro-batching: requests that arrive together share one forward pass.

A numpy forward pass on 32 rows costs little more than on one, while the event loop pays per
call; so a single worker task drains whatever requests are queued (up to ``max_batch_size``
rows), concatenates them, runs the model once and hands each request its slice.

Latency rules: a lone request on an idle server runs at once (no wait). The configured wait
is spent only when several requests are already queued, i.e. under load, and only while
requests keep arriving (a gap of ``idle_gap_s`` ends it). While a batch runs, new requests
queue up, so under load batches fill by themselves.

Blocking rule: a forward pass that is expected to take longer than ``inline_budget_s``
runs in a one-thread executor (numpy releases the GIL) so the event loop keeps serving;
a cheaper one runs inline because a thread hop (~50-100 µs) would cost more than it saves.
The expectation is a running per-row cost estimate, measured on every batch.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from axiom_runtime.server.errors import ModelNotReady, Overloaded

FloatArray = npt.NDArray[np.float32]
# A forward pass returns one or more arrays whose first axis is the row (e.g. scores,
# classes, confidences); each request gets the same rows of every array.
Outputs = tuple[npt.NDArray[Any], ...]
BatchObserver = Callable[[Outputs], None]


@dataclass(slots=True)
class _Pending:
    rows: FloatArray
    future: asyncio.Future[Outputs]


class MicroBatcher:
    """Queue of pending requests and the worker that batches them through ``predict``."""

    def __init__(
        self,
        predict: Callable[[FloatArray], Outputs],
        *,
        max_batch_size: int = 64,
        max_batch_wait_s: float = 0.001,
        max_pending_rows: int = 16384,
        inline_budget_s: float = 0.0005,
        idle_gap_s: float = 0.0001,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_batch_wait_s = max_batch_wait_s
        self.max_pending_rows = max_pending_rows
        self.inline_budget_s = inline_budget_s
        self.idle_gap_s = idle_gap_s
        self.on_batch = on_batch
        self._queue: collections.deque[_Pending] = collections.deque()
        self._pending_rows = 0
        self._wakeup = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="axiom-predict"
        )
        self._seconds_per_row: float | None = None  # None until calibrate()
        self._fixed_s = 0.0
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        self.batches_run = 0

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="axiom-batcher")

    async def close(self) -> None:
        """Finish what is queued, then stop the worker and the executor thread."""
        self._closing = True
        self._wakeup.set()
        if self._worker is not None:
            await self._worker
            self._worker = None
        self._executor.shutdown(wait=True)

    @property
    def alive(self) -> bool:
        """False if the worker died (it should not); /health then reports the server wedged."""
        return self._worker is not None and not self._worker.done()

    @property
    def pending_rows(self) -> int:
        return self._pending_rows

    def submit(self, rows: FloatArray) -> asyncio.Future[Outputs]:
        """Queue ``rows`` (N, *input_shape); the future resolves to their N output rows."""
        if self._closing:
            raise ModelNotReady("model", "server is shutting down")
        count = rows.shape[0]
        if self._pending_rows + count > self.max_pending_rows and self._pending_rows > 0:
            raise Overloaded(
                "input", f"{self._pending_rows} rows already queued (limit {self.max_pending_rows})"
            )
        future: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(rows, future))
        self._pending_rows += count
        self._wakeup.set()
        return future

    async def predict(self, rows: FloatArray) -> Outputs:
        return await self.submit(rows)

    def _take_batch(self) -> list[_Pending]:
        """Pop queued requests while they fit; a single oversized request goes alone."""
        batch = [self._queue.popleft()]
        rows = batch[0].rows.shape[0]
        while self._queue and rows + self._queue[0].rows.shape[0] <= self.max_batch_size:
            item = self._queue.popleft()
            batch.append(item)
            rows += item.rows.shape[0]
        return batch

    async def _fill(self, batch: list[_Pending]) -> None:
        """Under load, let the batch fill: wait while requests keep arriving, at most
        ``max_batch_wait_s`` in total, and stop after ``idle_gap_s`` without an arrival.

        The gap rule matters for closed-loop clients (N connections, one request each in
        flight): once all of them are queued nobody else is coming, and waiting out the
        whole budget would only add latency.
        """
        deadline = time.perf_counter() + self.max_batch_wait_s
        rows = sum(item.rows.shape[0] for item in batch)
        while rows < self.max_batch_size:
            if self._queue:
                if rows + self._queue[0].rows.shape[0] > self.max_batch_size:
                    return
                item = self._queue.popleft()
                batch.append(item)
                rows += item.rows.shape[0]
                continue
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                async with asyncio.timeout(min(self.idle_gap_s, remaining)):
                    await self._wakeup.wait()
            except TimeoutError:
                return

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._take_batch()
            # A lone request on an idle queue runs now; only a crowd is worth waiting for.
            if len(batch) > 1 and self.max_batch_wait_s > 0 and not self._closing:
                await self._fill(batch)
            await self._execute(batch)

    async def _execute(self, batch: list[_Pending]) -> None:
        live = [item for item in batch if not item.future.cancelled()]
        self._pending_rows -= sum(item.rows.shape[0] for item in batch)
        if not live:
            return
        inputs = live[0].rows if len(live) == 1 else np.concatenate([i.rows for i in live])
        count = inputs.shape[0]
        try:
            if self._runs_inline(count):
                outputs = self._predict(inputs)
            else:
                loop = asyncio.get_running_loop()
                outputs = await loop.run_in_executor(self._executor, self._predict, inputs)
        except Exception as error:  # a model bug must fail its requests, not the worker
            for item in live:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        self.batches_run += 1
        offset = 0
        for item in live:
            size = item.rows.shape[0]
            if not item.future.done():
                item.future.set_result(
                    tuple([output[offset : offset + size] for output in outputs])
                )
            offset += size
        if self.on_batch is not None:
            self.on_batch(outputs)

    def calibrate(self, example_row: FloatArray, repeats: int = 5) -> None:
        """Time the model on 1 row and on a full batch to decide what may run inline.

        Cost is modelled as ``fixed + per_row * rows`` from the medians of a few runs.
        Called once after loading, before serving (it blocks; that is the point).
        """
        one = example_row[np.newaxis]
        full = np.repeat(one, self.max_batch_size, axis=0)
        self._predict(full)  # warm caches and allocator
        small = _median_seconds(lambda: self._predict(one), repeats)
        large = _median_seconds(lambda: self._predict(full), repeats)
        per_row = max(large - small, 0.0) / max(self.max_batch_size - 1, 1)
        self._fixed_s = small - per_row
        self._seconds_per_row = per_row

    def expected_seconds(self, rows: int) -> float | None:
        if self._seconds_per_row is None:
            return None
        return self._fixed_s + self._seconds_per_row * rows

    def _runs_inline(self, rows: int) -> bool:
        expected = self.expected_seconds(rows)
        # Unknown cost: keep the event loop free.
        return expected is not None and expected <= self.inline_budget_s


def _median_seconds(action: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    timings.sort()
    return timings[len(timings) // 2]
