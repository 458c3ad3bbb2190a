"""The operator's in-cluster login reaches the apiserver at the address the kubelet gives
every container (as client-go does), not at a DNS name only cluster DNS could resolve."""

from __future__ import annotations

from axiom_operator.main import in_cluster_server


def test_server_comes_from_the_service_environment() -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "198.19.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster_server(environ) == "https://198.19.0.1:443"


def test_an_ipv6_host_is_bracketed() -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}
    assert in_cluster_server(environ) == "https://[fd00::1]:6443"


def test_outside_a_pod_there_is_no_in_cluster_server() -> None:
    assert in_cluster_server({}) is None
    assert in_cluster_server({"KUBERNETES_SERVICE_HOST": "198.19.0.1"}) is None
