"""The demo's world: local control plane, node agent, operator, and a kubectl aimed at them.

Started in the order a user would (cluster, CRDs from the chart, operator) and stopped in
reverse. In the normal mode every process is tied to the demo (PR_SET_PDEATHSIG), so even a
Ctrl-C or a crash of the demo leaves nothing running; ``stop`` also checks with psutil that
every process it started, and every runtime pod process under the agent, is gone. With
``keep`` the processes are detached and their pids recorded, so ``--down`` (or
``python -m axiom_devcluster down``) stops them later.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from axiom_devcluster import addresses, binaries
from axiom_devcluster.agent import detached, placement
from axiom_devcluster.agent.testing import AgentProcess
from axiom_devcluster.controlplane import ControlPlane, stop_from_state
from axiom_devcluster.demo.manifests import CHART_CRDS_DIR
from axiom_devcluster.demo.operator_process import OperatorProcess
from axiom_devcluster.process import terminate_group
from axiom_devcluster.realnode import images as node_images
from axiom_devcluster.realnode.node import RealCluster

OPERATOR_STATE_FILE = "operator.json"


class KubectlError(RuntimeError):
    """kubectl exited non-zero; the message holds the command and its stderr."""


@dataclass
class Kubectl:
    kubeconfig: Path
    namespace: str

    @property
    def binary(self) -> Path:
        return binaries.binary("kubectl")

    def run(self, *args: str, stdin: str | None = None, namespaced: bool = True) -> str:
        argv = [str(self.binary), f"--kubeconfig={self.kubeconfig}"]
        if namespaced:
            argv.append(f"--namespace={self.namespace}")
        done = subprocess.run(
            [*argv, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json"))

    def get_or_none(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.json("get", kind, name)
        except KubectlError as error:
            if "NotFound" in str(error) or "not found" in str(error):
                return None
            raise
        return found


@dataclass
class Stack:
    directory: Path
    namespace: str = "models"
    keep: bool = False
    plane: ControlPlane | None = None
    agent: AgentProcess | None = None
    operator: OperatorProcess | None = None
    started_pids: set[int] = field(default_factory=set)
    # A real node (kubelet + containerd, pods in the built images) instead of the node agent.
    realnode: bool = False
    real_cluster: RealCluster | None = None

    @property
    def node_description(self) -> str:
        if self.realnode:
            return "the real node axiom-realnode (kubelet + containerd, pods in containers)"
        return "the node agent (pods as local processes)"

    @property
    def runtime_spec(self) -> dict[str, Any] | None:
        """spec.runtime of the demo's models: the built image on a real node."""
        if not self.realnode:
            return None
        return {"image": node_images.reference("runtime"), "imagePullPolicy": "Never"}

    @property
    def kubeconfig(self) -> Path:
        assert self.plane is not None
        return self.plane.kubeconfig

    @property
    def kubectl(self) -> Kubectl:
        return Kubectl(self.kubeconfig, self.namespace)

    # -- start -----------------------------------------------------------------------------

    def start_cluster(self) -> None:
        if self.directory.exists():
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True)
        if self.realnode:
            self.real_cluster = RealCluster(self.directory / "realnode").start()
            self.plane = self.real_cluster.plane
            self.started_pids.update(self.plane.pids.values())
            self.started_pids.update(c.pid for c in self.real_cluster.node.components.values())
            return
        # No kwok nodes: every pod of the demo runs on the node agent, for real.
        self.plane = ControlPlane(self.directory, kwok_nodes=0, tie_to_parent=not self.keep)
        self.plane.start()
        self.started_pids.update(self.plane.pids.values())

    def start_agent(self) -> None:
        if self.realnode:
            return
        self.agent = AgentProcess(
            self.kubeconfig,
            self.directory / "agent",
            tie_to_parent=not self.keep,
            backoff_initial=2.0,
            backoff_max=20.0,
        )
        self.agent.start()
        self.started_pids.add(self.agent.pid)
        if self.keep:  # the format `python -m axiom_devcluster down` reads
            (self.directory / detached.STATE_FILE).write_text(
                json.dumps({"pid": self.agent.pid}) + "\n"
            )

    def agent_namespace_annotations(self) -> dict[str, str]:
        return {} if self.realnode else placement.namespace_annotations()

    def install_crds(self) -> str:
        return self.kubectl.run("apply", "-f", str(CHART_CRDS_DIR), namespaced=False)

    def start_operator(self) -> OperatorProcess:
        self.operator = OperatorProcess(
            self.kubeconfig,
            self.namespace,
            self.directory / "logs" / "operator.log",
            tie_to_parent=not self.keep,
            extra_env=self._operator_env(),
        )
        self.operator.start()
        self.started_pids.add(self.operator.pid)
        if self.keep:
            (self.directory / OPERATOR_STATE_FILE).write_text(
                json.dumps({"pid": self.operator.pid}) + "\n"
            )
        return self.operator

    def _operator_env(self) -> dict[str, str]:
        if not self.realnode:
            return {}
        return {"AXIOM_OPERATOR_POD_NETWORK_ALLOWLIST": str(addresses.REALNODE_POD_CIDR)}

    # -- stop ------------------------------------------------------------------------------

    def _family(self) -> set[int]:
        """Every pid started so far and all their descendants (runtime pods of the agent)."""
        pids = set(self.started_pids)
        for pid in list(pids):
            with contextlib.suppress(psutil.NoSuchProcess):
                pids.update(child.pid for child in psutil.Process(pid).children(recursive=True))
        return pids

    def stop(self) -> list[int]:
        """Stop everything; returns the pids still alive afterwards (should be empty)."""
        family = self._family()
        if self.operator is not None:
            self.operator.stop()
        if self.agent is not None:
            self.agent.stop()
        if self.real_cluster is not None:
            self.real_cluster.stop()
        elif self.plane is not None:
            self.plane.stop()
        deadline = time.monotonic() + 10
        while True:
            alive = [pid for pid in family if _alive(pid)]
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def stop_kept(directory: Path) -> list[str]:
    """Stop what ``make demo KEEP=1`` left running in ``directory``; returns what was stopped."""
    stopped = []
    state = directory / OPERATOR_STATE_FILE
    if state.exists():
        pid = int(json.loads(state.read_text())["pid"])
        state.unlink()
        try:
            command = " ".join(psutil.Process(pid).cmdline())
        except psutil.NoSuchProcess:
            command = ""
        if "operator" in command and "axiom" in command:  # not a reused pid
            terminate_group(pid)
            stopped.append("operator")
    if detached.stop_detached(directory):
        stopped.append("node agent")
    stopped += stop_from_state(directory)
    return stopped
