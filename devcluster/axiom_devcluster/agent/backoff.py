"""The kubelet's crash-loop back-off: 10 s doubling to 5 min, forgotten after a good run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CrashBackoff:
    """Delay before the next restart of one container.

    Like the kubelet: the first crash restarts at once, the next one waits ``initial``, each
    later one twice the previous, capped at ``maximum``; a container that ran for
    ``2 * maximum`` before exiting starts over as if it had never crashed.
    """

    initial: float = 10.0
    maximum: float = 300.0
    _previous: float | None = None

    def next_delay(self, ran_for: float) -> float:
        if self._previous is None or ran_for >= 2 * self.maximum:
            self._previous = 0.0
        elif self._previous == 0.0:
            self._previous = self.initial
        else:
            self._previous = min(self._previous * 2, self.maximum)
        return self._previous


def should_restart(restart_policy: str, exit_code: int) -> bool:
    """Whether a container that exited with ``exit_code`` is started again."""
    if restart_policy == "Always":
        return True
    if restart_policy == "OnFailure":
        return exit_code != 0
    return False
