"""Fixtures of the e2e tier: a namespace on the node agent with the example model's key,
and the operator as a real subprocess (``axiom operator``) watching it.

Every e2e test runs against the session's control plane and node agent
(``agent_cluster`` from ``axiom_devcluster.agent.pytest_plugin``); tests/e2e/kind/ has its
own, Docker-based harness and uses none of this.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_support import ModelWorld

from axiom_devcluster.agent.pytest_plugin import AgentCluster
from axiom_devcluster.demo.operator_process import OperatorProcess
from axiom_devcluster.process import log_tail as process_log_tail


@pytest.fixture
def world(
    agent_cluster: AgentCluster, agent_namespace: str, axiom_crds: list[str]
) -> Iterator[ModelWorld]:
    """The test's namespace (pods run on the agent) with the example's trusted key in it."""
    model_world = ModelWorld(agent_cluster.kubeconfig, agent_namespace)
    model_world.trust_example_key()
    agent_log = agent_cluster.agent.log_path
    start = agent_log.stat().st_size if agent_log.exists() else 0
    yield model_world
    # Shown by pytest only when the test failed: what the node agent (pods, probes, the
    # Service proxy) logged during this test.
    tail = process_log_tail(agent_log, 80, since=start)
    print(f"--- node agent log during the test ({agent_log}) ---\n{tail}")


@pytest.fixture
def operator(
    world: ModelWorld, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """``axiom operator --standalone --namespace <the test's namespace>``, started and live."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    process = OperatorProcess(world.kubeconfig, world.namespace, log)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        # Shown by pytest only when the test failed: what the operator last did.
        print(f"--- operator log tail ({log}) ---\n{process_log_tail(log, 60)}")
