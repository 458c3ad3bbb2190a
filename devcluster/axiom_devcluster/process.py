"""Start and stop control-plane processes so that none outlives its owner.

Each component runs in its own session (so one signal reaches it and anything it forks) and,
when tied to its parent, with PR_SET_PDEATHSIG=SIGKILL: if the test process dies in any way,
including SIGKILL of pytest, the kernel kills the component too. ``up`` of the CLI starts
untied processes (they must outlive the command) and records their pids instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(121)
        # The parent may have died between fork and prctl; then nobody would ever signal us.
        if os.getppid() != parent_pid:
            os._exit(122)

    return preexec


@dataclass
class Component:
    """One running process of the control plane."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        return self.process.poll()

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


def log_tail(path: Path, lines: int = 40, *, since: int = 0) -> str:
    """The last ``lines`` lines of the log, counting only what was written after byte
    ``since`` (a size taken earlier: what one test added to a shared process's log)."""
    try:
        with path.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def spawn(name: str, argv: Sequence[str], log_path: Path, *, tie_to_parent: bool) -> Component:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()) if tie_to_parent else None,
        )
    return Component(name=name, process=process, log_path=log_path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap(pid: int) -> None:
    # Only our own children can be reaped; for pids read from a pid file this is a no-op.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``timeout`` s, and wait.

    The components are session leaders (start_new_session), so pid == pgid.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not _group_alive(pid) and not _pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        _reap(pid)
        if not _group_alive(pid) and not _pid_alive(pid):
            return
        time.sleep(0.05)
    raise TimeoutError(f"process group {pid} survived SIGKILL for 5 s")


class ProcessStartError(RuntimeError):
    """A managed process exited or did not become ready in time; holds its log's tail."""


class ManagedProcess:
    """A long-running child (node agent, operator, Prometheus) that tests start, wait for,
    and stop; a context manager.

    Subclasses say how to run it (``argv``), when it is ready (``ready``), and may prepare
    before each start (``prepare``); ``start`` waits for readiness, failing with the log's
    tail when the process exits or does not get there in time.
    """

    name = "process"
    start_error: type[ProcessStartError] = ProcessStartError
    stop_timeout = 10.0

    def __init__(self, log_path: Path, *, tie_to_parent: bool = True) -> None:
        self.log_path = log_path
        self.tie_to_parent = tie_to_parent
        self.component: Component | None = None
        self.starts = 0

    def argv(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """Runs before each start (e.g. pick a port, clear a readiness file)."""

    @property
    def pid(self) -> int:
        if self.component is None:
            raise RuntimeError(f"{self.name} not started")
        return self.component.pid

    @property
    def running(self) -> bool:
        return self.component is not None and self.component.exited() is None

    def start(self, timeout: float = 60.0) -> Self:
        self.prepare()
        self.component = spawn(
            self.name, self.argv(), self.log_path, tie_to_parent=self.tie_to_parent
        )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while not self.ready():
            code = self.component.exited()
            if code is not None:
                raise self.start_error(
                    f"{self.name} exited with code {code}; last lines of {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise self.start_error(
                    f"{self.name} not ready within {timeout:.0f} s; last lines of "
                    f"{self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL, as when a node dies or the OOM killer strikes: no cleanup runs."""
        if self.component is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.component.pid, signal.SIGKILL)
            self.component.process.wait(timeout=10)
            self.component = None

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM to the process group, SIGKILL after ``timeout`` (``stop_timeout``) s."""
        if self.component is not None:
            terminate_group(self.component.pid, timeout=timeout or self.stop_timeout)
            self.component.process.wait(timeout=5)
            self.component = None

    def __enter__(self) -> Self:
        return self.start() if self.component is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
