"""The realnode tier: the built images on a real kubelet + containerd node joined to a local
control plane (see axiom_devcluster.realnode). Every test here is marked ``realnode`` and skips,
saying why, on a machine that cannot run a node (not root, a missing capability, no cgroups,
the node binaries or images not built)."""

from __future__ import annotations

import pytest

pytest_plugins = ["axiom_devcluster.realnode.pytest_plugin"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/realnode/" in str(item.fspath):
            item.add_marker(pytest.mark.realnode)
