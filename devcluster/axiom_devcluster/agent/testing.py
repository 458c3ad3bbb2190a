"""Start a node agent as a child process (for tests and ``up``) and stop it.

A separate process, not a task in the test's event loop: pytest-asyncio gives each test its
own loop, while the agent must keep serving across tests; and a process boundary is what
"everything the agent starts, it stops" is checked against.
"""

from __future__ import annotations

import sys
from pathlib import Path

from axiom_devcluster.agent.__main__ import READY_FILE
from axiom_devcluster.process import ManagedProcess, ProcessStartError


class AgentStartError(ProcessStartError):
    """The agent exited or did not register its node in time; holds its log's tail."""


class AgentProcess(ManagedProcess):
    name = "axiom-node-agent"
    start_error = AgentStartError
    # The agent stops every pod it started before it exits: give it the time to.
    stop_timeout = 30.0

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
        super().__init__(state_dir / "agent.log", tie_to_parent=tie_to_parent)
        self.kubeconfig = kubeconfig
        self.state_dir = state_dir
        self.node_name = node_name
        self._argv = [
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

    def argv(self) -> list[str]:
        return list(self._argv)

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / READY_FILE).unlink(missing_ok=True)

    def ready(self) -> bool:
        return (self.state_dir / READY_FILE).exists()
