"""The queue's pass slots: a change never waits behind periodic resyncs.

Measured before this existed (docs/operator-at-scale.md): with 1,000 models resyncing, a new
model's first pass waited 85 s for a slot behind them.
"""

from __future__ import annotations

import asyncio

from axiom_operator.queue import Slots


async def test_a_free_slot_goes_to_an_urgent_waiter_before_older_resyncs() -> None:
    slots = Slots(1)
    await slots.acquire(("ns", "busy"), urgent=True)
    order: list[str] = []

    async def wait(name: str, urgent: bool) -> None:
        await slots.acquire(("ns", name), urgent=urgent)
        order.append(name)
        slots.release()

    tasks = [asyncio.create_task(wait(f"resync-{i}", False)) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(wait("change", True)))
    await asyncio.sleep(0)
    slots.release()
    await asyncio.gather(*tasks)
    assert order == ["change", "resync-0", "resync-1", "resync-2"]
    assert slots.free == 1


async def test_a_waiting_resync_that_becomes_urgent_moves_ahead() -> None:
    slots = Slots(1)
    await slots.acquire(("ns", "busy"), urgent=True)
    order: list[str] = []

    async def wait(name: str) -> None:
        await slots.acquire(("ns", name), urgent=False)
        order.append(name)
        slots.release()

    tasks = [asyncio.create_task(wait(name)) for name in ("a", "b", "c")]
    await asyncio.sleep(0)
    slots.hurry(("ns", "c"))  # someone changed model c while its resync waited
    slots.release()
    await asyncio.gather(*tasks)
    assert order == ["c", "a", "b"]
    assert slots.free == 1


async def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    slots = Slots(1)
    await slots.acquire(("ns", "busy"), urgent=True)
    waiting = asyncio.create_task(slots.acquire(("ns", "gone"), urgent=True))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    slots.release()
    assert slots.free == 1
    await asyncio.wait_for(slots.acquire(("ns", "next"), urgent=False), 1)
    assert slots.free == 0
