"""The chart's operator runs in its pod on the real node, under the chart's ServiceAccount,
logged in through KUBERNETES_SERVICE_HOST/_PORT (the ``kubernetes`` Service, through
kube-proxy); a model's runtime pods run the runtime image with the operator's securityContext,
and a client on the host predicts through the model Service's ClusterIP."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_support import sample
from realnode_support import OPERATOR_NAMESPACE, RealModelWorld, pod_log

from axiom_devcluster.demo.traffic import predict
from axiom_devcluster.realnode import images
from axiom_devcluster.realnode.node import RealCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
IMAGE_UID = 10001


def test_the_operator_runs_in_its_pod_under_the_charts_service_account(
    real_cluster: RealCluster, chart_operator: dict[str, Any]
) -> None:
    spec = chart_operator["spec"]
    assert spec["serviceAccountName"].startswith("axiom"), spec["serviceAccountName"]
    container = spec["containers"][0]
    assert container["image"] == images.reference("operator")
    assert chart_operator["spec"]["nodeName"] == real_cluster.node.name
    assert chart_operator["status"]["podIP"].startswith("198.18.250.")
    log = pod_log(real_cluster.plane, OPERATOR_NAMESPACE, chart_operator["metadata"]["name"])
    assert "Traceback" not in log, log[-3000:]


def test_a_model_serves_from_the_runtime_image_through_its_cluster_ip(
    world: RealModelWorld, real_cluster: RealCluster
) -> None:
    world.publish("1.0.0")
    world.apply_model("1.0.0", replicas=2)
    world.wait_ready(timeout=180)
    answer = predict(world.service_url(), sample(3))
    assert answer.version == "1.0.0"

    pods = world.items("pods", "app.kubernetes.io/name=axiom-runtime") or world.items("pods")
    runtime_pods = [
        p for p in pods if p["spec"]["containers"][0]["image"] == images.reference("runtime")
    ]
    assert len(runtime_pods) == 2, [p["metadata"]["name"] for p in pods]
    for pod in runtime_pods:
        assert pod["spec"]["nodeName"] == real_cluster.node.name
        assert pod["spec"]["securityContext"]["runAsUser"] == IMAGE_UID
        security = pod["spec"]["containers"][0]["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["allowPrivilegeEscalation"] is False
