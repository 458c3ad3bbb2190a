"""Start a container's process so it cannot outlive the agent, and stop it like the kubelet.

Each process leads its own process group (one signal reaches anything it forks) and carries
PR_SET_PDEATHSIG=SIGKILL: if the agent dies in any way, even by SIGKILL, the kernel kills the
process too. Stopping is SIGTERM to the group, the grace period, then SIGKILL to the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from axiom_devcluster.agent.podspec import ProcessSpec

_PR_SET_PDEATHSIG = 1


def _die_with(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(121)
        if os.getppid() != parent_pid:  # the agent died between fork and prctl
            os._exit(122)

    return preexec


@dataclass
class RunningProcess:
    process: asyncio.subprocess.Process
    started_monotonic: float
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def ran_for(self) -> float:
        return time.monotonic() - self.started_monotonic


async def start(spec: ProcessSpec, log_path: Path) -> RunningProcess:
    """Start ``spec`` with stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *spec.argv,
            env=spec.env,
            cwd=str(spec.cwd),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with(os.getpid()),
        )
    return RunningProcess(process, time.monotonic(), log_path)


def exit_code_of(returncode: int) -> tuple[int, int]:
    """(exit code as the kubelet reports it, signal number or 0): a signal N is 128+N."""
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, 0


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def stop(running: RunningProcess, grace: float) -> int:
    """SIGTERM the process group, SIGKILL it after ``grace`` s; returns the raw returncode."""
    if running.process.returncode is None:
        _signal_group(running.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(running.process.wait(), timeout=max(grace, 0.0))
    # Also reaches children that outlived the leader in its group.
    _signal_group(running.pid, signal.SIGKILL)
    return await running.process.wait()
