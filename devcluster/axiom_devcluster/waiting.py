"""Polling until the cluster reaches a state, for tests and the demo.

Controllers converge asynchronously, so a test states the end condition and waits for it with
a deadline; the error says what was awaited and the last thing seen, which is what one needs
to tell "slow" from "wrong" when it fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class ConditionTimeoutError(TimeoutError):
    """A condition awaited in the cluster did not hold before its deadline."""


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    what: str,
    within: float = 60.0,
    interval: float = 0.25,
) -> T:
    """Call ``probe`` until it returns something truthy (within ``within`` s) and return it."""
    deadline = time.monotonic() + within
    last: object = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise ConditionTimeoutError(f"{what}: not true within {within:.0f} s (last: {last!r})")
        await asyncio.sleep(interval)
