"""pytest fixtures for tests that need the real local Kubernetes control plane.

Loaded from ``tests/conftest.py`` (``pytest_plugins = ["axiom_devcluster.pytest_plugin"]``),
so integration and e2e tests share one cluster per test session.

Fixtures
--------
``control_plane`` (session)
    A started :class:`~axiom_devcluster.controlplane.ControlPlane` with two kwok nodes
    (``kwok-node-0``, ``kwok-node-1``). Builds the binaries first if the cache is cold (needs
    Go); skips, saying why, only when the binaries are missing and Go is not installed.
    Stopped at session end; every component also dies with the pytest process, even on SIGKILL.
``kubeconfig`` (session)
    Path of the cluster-admin kubeconfig (O=system:masters).
``namespace`` (function)
    Name of a fresh namespace for one test, whose default ServiceAccount already exists;
    deleted after the test (deletion is not awaited).
``kube_client`` (function)
    ``lightkube.AsyncClient`` as cluster-admin whose default namespace is ``namespace``.

Every test that uses ``control_plane`` (directly or through the fixtures above) is marked
``cluster`` automatically, so ``pytest -m "not cluster"`` runs without a cluster.

Running the operator in-process (for the operator's integration tests)
----------------------------------------------------------------------
An ``operator_runner`` fixture belongs in this module, next to the fixtures above, added by
the operator's work: function-scoped, depending on ``kubeconfig`` and ``namespace``; it
should start the Kopf operator with ``kopf.testing.KopfRunner`` (or ``kopf.operator()`` in a
task) with ``KUBECONFIG`` pointing at ``kubeconfig`` and ``--namespace`` set to the test's
namespace, apply the CRDs from ``crds/`` once per session first (a session fixture
``axiom_crds`` depending on ``control_plane``), and stop the operator at teardown.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from lightkube import AsyncClient, KubeConfig

from axiom_devcluster import binaries
from axiom_devcluster.controlplane import ControlPlane

SESSION_KWOK_NODES = 2
_CLUSTER_FIXTURES = {"control_plane", "kubeconfig", "namespace", "kube_client"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs_cluster = False
    for item in items:
        if _CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
        needs_cluster = needs_cluster or item.get_closest_marker("cluster") is not None
    if needs_cluster:
        _build_before_tests(config)


def _build_before_tests(config: pytest.Config) -> None:
    """Build missing binaries now, not in a fixture: a cold build takes far longer than the
    per-test timeout, which would count a fixture's setup time; and its progress is shown."""
    if not binaries.missing_components() or not binaries.go_available():
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(
            "\nbuilding the local control plane (hack/cluster/build.sh; a cold build takes "
            "tens of minutes on 2 cores) ...",
            flush=True,
        )
        try:
            binaries.ensure_built()
        except (subprocess.CalledProcessError, FileNotFoundError) as error:
            pytest.exit(f"building the local control plane failed: {error}", returncode=1)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    if binaries.missing_components() and not binaries.go_available():
        pytest.skip(
            "the local Kubernetes control plane is not built and `go` is not installed: "
            "install Go 1.26 so hack/cluster/build.sh can build it"
        )
    binaries.ensure_built()
    # Under pytest's basetemp, so the logs of the last runs stay for post-mortems.
    directory = tmp_path_factory.mktemp("cluster")
    plane = ControlPlane(directory, kwok_nodes=SESSION_KWOK_NODES, tie_to_parent=True)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane) -> Path:
    return control_plane.kubeconfig


def _namespace_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"t-{stem}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    name = _namespace_name(request.node.name)
    control_plane.api_request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    _wait_default_service_account(control_plane, name)
    try:
        yield name
    finally:
        control_plane.api_request("DELETE", f"/api/v1/namespaces/{name}")


def _wait_default_service_account(plane: ControlPlane, namespace: str, timeout: float = 30) -> None:
    import urllib.error

    deadline = time.monotonic() + timeout
    while True:
        try:
            plane.api_request("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
            return
        except urllib.error.HTTPError as error:
            if error.code != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@pytest.fixture
async def kube_client(kubeconfig: Path, namespace: str) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(
        config=KubeConfig.from_file(str(kubeconfig)),
        namespace=namespace,
        field_manager="axiom-tests",
        trust_env=False,
    )
    try:
        yield client
    finally:
        await client.close()


def cluster_environment(kubeconfig_path: Path) -> dict[str, str]:
    """Environment for a subprocess (kubectl, helm, the operator) aimed at the test cluster."""
    return {**os.environ, "KUBECONFIG": str(kubeconfig_path)}
