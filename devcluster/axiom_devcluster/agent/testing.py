"""Start a node agent as a child process (for tests and ``up``) and stop it.

A separate process, not a task in the test's event loop: pytest-asyncio gives each test its
own loop, while the agent must keep serving across tests; and a process boundary is what
"everything the agent starts, it stops" is checked against.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import TracebackType

from axiom_devcluster.agent.__main__ import READY_FILE
from axiom_devcluster.process import Component, spawn, terminate_group


class AgentStartError(RuntimeError):
    """The agent exited or did not register its node in time; holds its log's tail."""


class AgentProcess:
    def __init__(
        self,
        kubeconfig: Path,
        state_dir: Path,
        *,
        node_name: str = "axiom-agent-0",
        backoff_initial: float = 10.0,
        backoff_max: float = 300.0,
        tie_to_parent: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.state_dir = state_dir
        self.node_name = node_name
        self.tie_to_parent = tie_to_parent
        self.argv = [
            sys.executable,
            "-m",
            "axiom_devcluster.agent",
            f"--kubeconfig={kubeconfig}",
            f"--state-dir={state_dir}",
            f"--node-name={node_name}",
            f"--backoff-initial={backoff_initial}",
            f"--backoff-max={backoff_max}",
            *extra_args,
        ]
        self.component: Component | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir / "agent.log"

    @property
    def pid(self) -> int:
        if self.component is None:
            raise RuntimeError("agent not started")
        return self.component.pid

    def start(self, timeout: float = 60.0) -> AgentProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ready = self.state_dir / READY_FILE
        ready.unlink(missing_ok=True)
        self.component = spawn(
            "axiom-node-agent", self.argv, self.log_path, tie_to_parent=self.tie_to_parent
        )
        deadline = time.monotonic() + timeout
        while not ready.exists():
            code = self.component.exited()
            if code is not None:
                raise AgentStartError(
                    f"node agent exited with {code}:\n{self.component.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise AgentStartError(f"node agent not ready in {timeout} s")
            time.sleep(0.1)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.component is not None:
            terminate_group(self.component.pid, timeout=timeout)
            self.component.process.wait(timeout=5)
            self.component = None

    def __enter__(self) -> AgentProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
