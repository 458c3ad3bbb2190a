"""The one way in: every reconcile pass runs through this queue, whatever asked for it.

Kopf's create/update/resume handlers, any event on a child (a Deployment whose pods became
ready, a Service someone edited), the rollout machine's own "look again in N s", the resync
and the retry of a failed pass all call :meth:`ReconcileQueue.request`. The queue owns:

- **coalescing**: while a pass for a model is queued or running, further requests only mark
  it dirty, and exactly one more pass runs after it (child events come in bursts: every pod
  that becomes ready updates its Deployment's status);
- **the per-model lock**: two passes of one model never overlap;
- **timers**: at most one pending timed pass per model (:meth:`schedule`), in memory;
- **the retry policy** (:func:`retry_delay`): a pass that fails on the apiserver is tried
  again on a timer. Nothing else is guaranteed to come: a canary whose next-step timer fired
  while the apiserver restarted would otherwise wait for an unrelated child event.

Why in-memory timers and not a Kopf timer or ``TemporaryError(delay=...)``: both cost API
writes (Kopf's progress annotations, a Warning Event per retry) on every tick, and a Kopf
timer also ticks for models at rest. An asyncio timer costs nothing while idle; a restarted
operator loses it, and Kopf's resume handler requests a pass of every model at start-up.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging

from axiom_operator.context import OperatorContext
from axiom_operator.kube import (
    APIConflictError,
    APIError,
    APINamespaceTerminatingError,
    APIUnavailableError,
)
from axiom_operator.pipeline import run_pass
from axiom_operator.values import InvalidSpecError, ModelKey, WorldNotReadyError

logger = logging.getLogger(__name__)

# A pass that failed for a reason nobody anticipated (a bug) is tried again this much later:
# slowly, so a persistent bug does not become a hot loop, but the model is not abandoned.
UNEXPECTED_ERROR_DELAY = 30.0
MIN_DELAY = 0.2


def retry_delay(error: Exception) -> float:
    """Seconds before a failed pass is tried again, by what failed.

    A lost write race is retried at once, an apiserver that is restarting soon, a world that
    is not ready yet (a Secret still to be created) a little later, and any other refusal
    (RBAC, validation) slowly, since it needs a person.
    """
    if isinstance(error, APIConflictError):
        return 1.0
    if isinstance(error, APIUnavailableError):
        return 5.0
    if isinstance(error, WorldNotReadyError):
        return 10.0
    if isinstance(error, APIError):
        return 30.0
    raise TypeError(f"no retry policy for {type(error).__name__}")


RESYNC = "resync"  # the trigger of a periodic look; every other trigger is urgent


class Slots:
    """At most ``limit`` passes at once; a free slot goes to an urgent waiter (a change, a
    child event, a rollout timer) before any resync, and among equals to the oldest.

    Why not a plain ``asyncio.Semaphore``: measured with 1,000 models resyncing every 30 s,
    a new model's first pass queued behind the resyncs for 85 s (docs/operator-at-scale.md).
    """

    def __init__(self, limit: int) -> None:
        self.free = limit
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self._waiting: dict[ModelKey, asyncio.Future[None]] = {}

    async def acquire(self, key: ModelKey, *, urgent: bool) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (0 if urgent else 1, next(self._arrivals), waiter))
        self._waiting[key] = waiter
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as the waiter was cancelled
            raise
        finally:
            self._waiting.pop(key, None)

    def hurry(self, key: ModelKey) -> None:
        """A resync waiting for a slot became urgent (a change came in meanwhile)."""
        waiter = self._waiting.get(key)
        if waiter is not None and not waiter.done():
            # A second entry for the same waiter; whichever is reached first serves it.
            heapq.heappush(self._waiters, (0, next(self._arrivals), waiter))

    def release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to it
                return
        self.free += 1


class ReconcileQueue:
    def __init__(self, ctx: OperatorContext) -> None:
        self.ctx = ctx
        self.locks: dict[ModelKey, asyncio.Lock] = {}
        # A key is here while a pass is queued or running; True: run (another) one.
        self.pending: dict[ModelKey, bool] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.timers: dict[ModelKey, asyncio.TimerHandle] = {}
        # At most this many passes at once (settings.max_concurrent_passes; 0: no limit).
        limit = ctx.settings.max_concurrent_passes
        self.slots = Slots(limit) if limit else None
        # Keys with a pending request that is not only a resync (see Slots).
        self.urgent: set[ModelKey] = set()

    def request(self, key: ModelKey, trigger: str) -> None:
        """Reconcile ``key`` soon; at most one queued pass per model."""
        if trigger != RESYNC:
            self.urgent.add(key)
            if self.slots is not None:
                self.slots.hurry(key)
        if key in self.pending:
            self.pending[key] = True
            return
        self.pending[key] = True
        task = asyncio.create_task(self._drain(key, trigger))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def schedule(self, key: ModelKey, seconds: float | None, trigger: str = "requeue") -> None:
        """Reconcile ``key`` again after ``seconds`` (None: cancel the pending timer)."""
        previous = self.timers.pop(key, None)
        if previous is not None:
            previous.cancel()
        if seconds is None:
            return
        loop = asyncio.get_running_loop()
        self.timers[key] = loop.call_later(max(MIN_DELAY, seconds), self._timer_fired, key, trigger)

    def forget(self, key: ModelKey) -> None:
        """The model is gone: drop its timer and what the operator remembers of it."""
        self.schedule(key, None)
        if key not in self.pending:
            self.locks.pop(key, None)
        self.ctx.forget(key)

    async def close(self) -> None:
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def settled(self) -> None:
        """Wait until no pass is queued or running (tests)."""
        while self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def _timer_fired(self, key: ModelKey, trigger: str) -> None:
        self.timers.pop(key, None)
        self.request(key, trigger)

    def _lock(self, key: ModelKey) -> asyncio.Lock:
        return self.locks.setdefault(key, asyncio.Lock())

    async def _drain(self, key: ModelKey, trigger: str) -> None:
        """Passes for ``key`` until no further request came in while one ran."""
        try:
            while self.pending.get(key):
                self.pending[key] = False
                async with self._lock(key):
                    if self.slots is None:
                        self.urgent.discard(key)
                        await self._pass(key, trigger)
                        continue
                    await self.slots.acquire(key, urgent=key in self.urgent)
                    self.urgent.discard(key)
                    try:
                        await self._pass(key, trigger)
                    finally:
                        self.slots.release()
        finally:
            self.pending.pop(key, None)
            self.urgent.discard(key)

    async def _pass(self, key: ModelKey, trigger: str) -> None:
        namespace, name = key
        try:
            result = await run_pass(self.ctx, key, trigger)
        except InvalidSpecError as error:
            # In status and Events already; nothing to do until the spec changes.
            logger.info("reconcile of %s/%s after %s: %s", namespace, name, trigger, error)
            return
        except APINamespaceTerminatingError:
            # The namespace, and the model with it, is being deleted: nothing to retry.
            logger.info("reconcile of %s/%s stopped: its namespace is being deleted", *key)
            self.forget(key)
            return
        except APIError as error:
            delay = retry_delay(error)
            logger.warning(
                "reconcile of %s/%s after %s failed, retrying in %.0f s: %s",
                namespace,
                name,
                trigger,
                delay,
                error,
            )
            self.schedule(key, delay)
            return
        except Exception:
            logger.exception(
                "reconcile of %s/%s after %s failed unexpectedly, retrying in %.0f s",
                namespace,
                name,
                trigger,
                UNEXPECTED_ERROR_DELAY,
            )
            self.schedule(key, UNEXPECTED_ERROR_DELAY)
            return
        if result is None:  # the model is gone or being deleted
            self.forget(key)
            return
        if result.writes:
            # One line per pass that changed something (a pass that only looked logs nothing:
            # at 1,000 models the resync would otherwise log dozens of lines a second).
            logger.info(
                "reconciled %s/%s after %s: %s, %d writes",
                namespace,
                name,
                trigger,
                result.phase,
                result.writes,
            )
        if result.waiting_for:
            logger.info(
                "reconcile of %s/%s after %s: %s", namespace, name, trigger, result.waiting_for
            )
        self.schedule(
            key, result.requeue_seconds, RESYNC if result.requeue_is_resync else "requeue"
        )
