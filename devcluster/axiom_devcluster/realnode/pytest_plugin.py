"""pytest fixtures of the ``realnode`` tier (loaded from tests/realnode/conftest.py).

``real_cluster`` (session)
    A :class:`~axiom_devcluster.realnode.node.RealCluster`: a control plane listening on the
    node's bridge, and the real node (containerd, kubelet, kube-proxy) Ready. Skips, saying
    exactly why, where the machine cannot run one (``preflight.why_not``). Stopped at the end
    of the session; the no-leftover test checks what that stop leaves.
``real_namespace`` (function)
    A fresh namespace on that cluster whose default ServiceAccount exists; deleted after.
"""

from __future__ import annotations

import re
import time
import urllib.error
import uuid
from collections.abc import Iterator

import pytest

from axiom_devcluster.realnode import preflight
from axiom_devcluster.realnode.node import RealCluster


def skip_unless_possible() -> None:
    reason = preflight.why_not()
    if reason is not None:
        pytest.skip(f"realnode tier skipped: {reason}")


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    skip_unless_possible()
    cluster = RealCluster(tmp_path_factory.mktemp("realnode"), tie_to_parent=True)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def real_namespace(real_cluster: RealCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:30].strip("-")
    name = f"rn-{stem}-{uuid.uuid4().hex[:6]}"
    plane = real_cluster.plane
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    plane.api_request("POST", "/api/v1/namespaces", body)
    deadline = time.monotonic() + 30
    while True:
        try:
            plane.api_request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")
            break
        except urllib.error.HTTPError as error:
            if error.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        yield name
    finally:
        plane.api_request("DELETE", f"/api/v1/namespaces/{name}")
