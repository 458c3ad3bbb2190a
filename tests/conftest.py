"""Shared pytest configuration. Tier-specific fixtures live in tests/<tier>/conftest.py."""

# Cluster fixtures (control_plane, kubeconfig, namespace, kube_client) for integration and e2e.
pytest_plugins = [
    "axiom_devcluster.pytest_plugin",
    "axiom_devcluster.agent.pytest_plugin",
    "axiom_devcluster.operator_fixtures",
    "axiom_devcluster.storage_plugin",
    # The realnode tier's real_cluster and real_namespace (tests/realnode/).
    "axiom_devcluster.realnode.pytest_plugin",
]
