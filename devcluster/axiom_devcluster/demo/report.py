"""What the demo prints: step headers, commands, progress on waits, and the timing table.

One object owns the output so the story reads the same everywhere: a numbered header per
step, the command a user would type (``$ kubectl ...``) before its output, a progress line
for every wait that takes longer than a second (in place on a terminal, one line every few
seconds otherwise, so CI logs stay short), and at the end how long each step took.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

T = TypeVar("T")

# A wait shorter than this prints nothing: only waits a person would notice are announced.
PROGRESS_AFTER_SECONDS = 1.0
# Without a terminal, a progress line is repeated at most this often.
PLAIN_PROGRESS_EVERY_SECONDS = 5.0


class DemoStepError(RuntimeError):
    """A step's expectation did not hold; the message says what was expected and what was seen."""


class WaitTimeoutError(DemoStepError):
    """A wait did not end within its deadline."""


@dataclass
class StepTiming:
    number: int
    title: str
    seconds: float = 0.0
    ok: bool = False


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:04.1f} s"


def timing_table(steps: list[StepTiming], total: float) -> str:
    """The summary printed at the end: one line per step and the total."""
    width = max([len(s.title) for s in steps] + [5])
    lines = [f"  {'step':<{width + 4}} {'time':>12}"]
    for step in steps:
        mark = "ok" if step.ok else "FAILED"
        lines.append(
            f"  {step.number:>2}. {step.title:<{width}} {format_duration(step.seconds):>12}  {mark}"
        )
    lines.append(f"  {'total':<{width + 4}} {format_duration(total):>12}")
    return "\n".join(lines)


@dataclass
class Reporter:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    steps: list[StepTiming] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def interactive(self) -> bool:
        return bool(getattr(self.out, "isatty", lambda: False)())

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        self.say(f"  {text}")

    def command(self, text: str) -> None:
        self.say(f"\n  $ {text}")

    def block(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines():
            self.say(f"    {line}")

    @contextmanager
    def step(self, title: str) -> Iterator[StepTiming]:
        timing = StepTiming(len(self.steps) + 1, title)
        self.steps.append(timing)
        self.say(f"\n=== {timing.number}. {title} " + "=" * max(3, 70 - len(title)))
        begun = time.monotonic()
        try:
            yield timing
            timing.ok = True
        finally:
            timing.seconds = time.monotonic() - begun
            self.say(f"  ({title}: {format_duration(timing.seconds)})")

    def wait(
        self,
        what: str,
        probe: Callable[[], T | None],
        *,
        timeout: float,
        interval: float = 0.5,
        detail: Callable[[], str] | None = None,
    ) -> T:
        """Call ``probe`` until it returns something truthy; announce waits over a second.

        ``detail`` adds the current state to the progress line (e.g. "2/3 pods ready"), so a
        slow wait shows where it is; on timeout its last value is in the error.
        """
        begun = time.monotonic()
        last_printed = 0.0
        announced = False
        while True:
            result = probe()
            elapsed = time.monotonic() - begun
            if result:
                if announced:
                    self._progress(f"ok: {what} ({format_duration(elapsed)})", final=True)
                return result
            if elapsed > timeout:
                state = detail() if detail else ""
                if announced:
                    self._progress(f"gave up: {what}", final=True)
                raise WaitTimeoutError(
                    f"waited {format_duration(elapsed)} for {what}"
                    + (f"; last seen: {state}" if state else "")
                )
            if elapsed >= PROGRESS_AFTER_SECONDS:
                every = 1.0 if self.interactive else PLAIN_PROGRESS_EVERY_SECONDS
                if not announced or elapsed - last_printed >= every:
                    state = detail() if detail else ""
                    suffix = f" [{state}]" if state else ""
                    self._progress(f"waiting for {what} ... {elapsed:.0f} s{suffix}")
                    announced = True
                    last_printed = elapsed
            time.sleep(interval)

    def run(self, what: str, action: Callable[[], T]) -> T:
        """Run a blocking ``action`` (a process start, say) with the same progress line as
        ``wait``. The action runs in this thread and a ticker thread prints: processes
        started with PR_SET_PDEATHSIG die with the *thread* that forked them, so a
        short-lived worker thread must never be the one that starts them."""
        begun = time.monotonic()
        finished = threading.Event()

        def tick() -> None:
            last_printed = -PLAIN_PROGRESS_EVERY_SECONDS
            every = 1.0 if self.interactive else PLAIN_PROGRESS_EVERY_SECONDS
            while not finished.wait(0.2):
                elapsed = time.monotonic() - begun
                if elapsed >= PROGRESS_AFTER_SECONDS and elapsed - last_printed >= every:
                    self._progress(f"waiting for {what} ... {elapsed:.0f} s")
                    last_printed = elapsed

        ticker = threading.Thread(target=tick, name=f"progress: {what}", daemon=True)
        ticker.start()
        try:
            return action()
        finally:
            finished.set()
            ticker.join()
            elapsed = time.monotonic() - begun
            if elapsed >= PROGRESS_AFTER_SECONDS:
                self._progress(f"done: {what} ({format_duration(elapsed)})", final=True)

    def _progress(self, text: str, *, final: bool = False) -> None:
        if self.interactive:
            end = "\n" if final else ""
            print(f"\r\033[K  .. {text}", end=end, file=self.out, flush=True)
        else:
            print(f"  .. {text}", file=self.out, flush=True)

    def summary(self) -> str:
        return timing_table(self.steps, time.monotonic() - self.started)
