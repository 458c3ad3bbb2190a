"""The node agent for ``python -m axiom_devcluster up|down``: started detached, stopped by pid.

``up`` starts the agent untied from the command (it must outlive it) and records its pid in
``<dir>/agent.json``; ``down`` stops it first, while the apiserver still runs, so the agent
can stop its processes and remove its pods and Node. Its own processes still carry
PR_SET_PDEATHSIG, so nothing it started outlives the agent.
"""

from __future__ import annotations

import json
from pathlib import Path

import psutil
from lightkube import Client, KubeConfig
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from axiom_devcluster.agent import placement
from axiom_devcluster.agent.testing import AgentProcess
from axiom_devcluster.process import terminate_group

STATE_FILE = "agent.json"
DEFAULT_NAMESPACE = "default"


def start_detached(
    directory: Path, kubeconfig: Path, namespaces: tuple[str, ...] = (DEFAULT_NAMESPACE,)
) -> AgentProcess:
    """Start the agent and opt ``namespaces`` in (their pods then run on the agent)."""
    agent = AgentProcess(kubeconfig, directory / "agent", tie_to_parent=False)
    agent.start()
    client = Client(config=KubeConfig.from_file(str(kubeconfig)), trust_env=False)
    for name in namespaces:
        patch = {"metadata": {"annotations": placement.namespace_annotations()}}
        client.patch(Namespace, name, patch, patch_type=PatchType.MERGE)
    (directory / STATE_FILE).write_text(json.dumps({"pid": agent.pid}) + "\n")
    return agent


def stop_detached(directory: Path) -> bool:
    state = directory / STATE_FILE
    if not state.exists():
        return False
    pid = int(json.loads(state.read_text())["pid"])
    state.unlink()
    try:
        command = " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    if "axiom_devcluster.agent" not in command:  # pid reused since: not ours
        return False
    terminate_group(pid, timeout=30)
    return True
