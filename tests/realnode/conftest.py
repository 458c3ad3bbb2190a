"""The realnode tier: the built images on a real kubelet + containerd node joined to a local
control plane (see axiom_devcluster.realnode). Every test here is marked ``realnode`` and skips,
saying why, on a machine that cannot run a node (not root, a missing capability, no cgroups,
the node binaries or images not built).

Fixtures: ``chart_operator`` (session: the chart installed with the built images, its operator
Ready in its pod), ``world`` (a namespace with the example's trusted key, models in it run in
the runtime image on the node).
"""

from __future__ import annotations

from typing import Any

import pytest
from realnode_support import (
    Helm,
    RealModelWorld,
    helm_binary,
    install_chart,
    ready_operator_pod,
    wait_for,
)

from axiom_devcluster.operator_fixtures import apply_crds
from axiom_devcluster.realnode.node import RealCluster


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/realnode/" in str(item.fspath):
            item.add_marker(pytest.mark.realnode)


@pytest.fixture(scope="session")
def chart_operator(
    real_cluster: RealCluster, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The chart installed; returns the operator's Ready pod."""
    apply_crds(real_cluster.plane)
    helm = Helm(helm_binary(), tmp_path_factory.mktemp("helm-home"), real_cluster.kubeconfig)
    install_chart(helm)
    return wait_for(
        lambda: ready_operator_pod(real_cluster), what="the chart's operator pod Ready", timeout=120
    )


@pytest.fixture
def world(
    real_cluster: RealCluster, real_namespace: str, chart_operator: dict[str, Any]
) -> RealModelWorld:
    model_world = RealModelWorld(real_cluster.kubeconfig, real_namespace)
    model_world.trust_example_key()
    return model_world


@pytest.fixture
def operator(chart_operator: dict[str, Any]) -> dict[str, Any]:
    """What the e2e tier's tests call ``operator``: here the chart's operator in its pod."""
    return chart_operator
