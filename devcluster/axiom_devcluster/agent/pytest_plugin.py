"""pytest fixtures for tests whose pods must really run (the node agent).

Loaded from ``tests/conftest.py`` next to ``axiom_devcluster.pytest_plugin``.

``agent_cluster`` (session)
    The session's control plane plus one node agent (node ``axiom-agent-0``) running as a
    child process, with a short crash back-off (1 s doubling to 8 s) so restart tests stay
    fast. Stopped at session end (its processes too; the agent's children also die with it
    on SIGKILL).
``agent_namespace`` (function)
    A fresh namespace annotated so that every pod created in it lands on the agent node
    (PodNodeSelector + PodTolerationRestriction); deleted after the test.
"""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from axiom_devcluster.agent import placement
from axiom_devcluster.agent.testing import AgentProcess
from axiom_devcluster.controlplane import ControlPlane
from axiom_devcluster.pytest_plugin import _namespace_name

AGENT_NODE = "axiom-agent-0"
TEST_BACKOFF_INITIAL = 1.0
TEST_BACKOFF_MAX = 8.0


@dataclass(frozen=True)
class AgentCluster:
    control_plane: ControlPlane
    agent: AgentProcess
    node_name: str

    @property
    def kubeconfig(self) -> Path:
        return self.control_plane.kubeconfig


def create_agent_namespace(plane: ControlPlane, name: str, node_name: str | None = None) -> None:
    """Create namespace ``name`` whose pods go to agent nodes (or to ``node_name`` only)."""
    annotations = placement.namespace_annotations()
    if node_name is not None:
        annotations[placement.NODE_SELECTOR_ANNOTATION] = f"kubernetes.io/hostname={node_name}"
    plane.api_request(
        "POST",
        "/api/v1/namespaces",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "annotations": annotations},
        },
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            plane.api_request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")
            return
        except urllib.error.HTTPError as error:
            if error.code != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@pytest.fixture(scope="session")
def agent_cluster(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentCluster]:
    state_dir = tmp_path_factory.mktemp("agent")
    agent = AgentProcess(
        control_plane.kubeconfig,
        state_dir,
        node_name=AGENT_NODE,
        backoff_initial=TEST_BACKOFF_INITIAL,
        backoff_max=TEST_BACKOFF_MAX,
    )
    agent.start()
    try:
        yield AgentCluster(control_plane, agent, AGENT_NODE)
    finally:
        agent.stop()


@pytest.fixture
def agent_namespace(agent_cluster: AgentCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = _namespace_name(request.node.name)
    create_agent_namespace(agent_cluster.control_plane, name)
    try:
        yield name
    finally:
        agent_cluster.control_plane.api_request("DELETE", f"/api/v1/namespaces/{name}")
