"""The chart's RBAC has the shape the watchNamespaces and peering values promise, no wildcards."""

from __future__ import annotations

from typing import Any

import pytest
from helmchart import OPTION_SETS, Helm, by_kind


def _rules(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for m in manifests if m["kind"] in ("ClusterRole", "Role") for rule in m["rules"]]


def _grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.mark.parametrize("option_set", sorted(OPTION_SETS))
def test_no_wildcards_anywhere(helm: Helm, option_set: str) -> None:
    for group, resource, verb in _grants(_rules(helm.template(OPTION_SETS[option_set]))):
        assert "*" not in (group, resource, verb), (group, resource, verb)


def test_all_namespaces_uses_one_cluster_role_bound_to_the_service_account(helm: Helm) -> None:
    manifests = helm.template()
    assert by_kind(manifests, "Role") == []
    (role,) = by_kind(manifests, "ClusterRole")
    (binding,) = by_kind(manifests, "ClusterRoleBinding")
    (account,) = by_kind(manifests, "ServiceAccount")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "axiom-system"}
    ]


def test_watch_namespaces_grant_workload_access_only_in_those_namespaces(helm: Helm) -> None:
    manifests = helm.template(OPTION_SETS["watch-namespaces"])
    roles = by_kind(manifests, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in by_kind(manifests, "RoleBinding")) == [
        "team-a",
        "team-b",
    ]
    (discovery,) = by_kind(manifests, "ClusterRole")
    assert _grants(discovery["rules"]) == {
        ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
        ("", "namespaces", "list"),
        ("", "namespaces", "watch"),
    }


def test_cluster_discovery_can_be_turned_off(helm: Helm) -> None:
    manifests = helm.template(OPTION_SETS["watch-namespaces-no-cluster-discovery"])
    assert by_kind(manifests, "ClusterRole") == []
    assert by_kind(manifests, "ClusterRoleBinding") == []


def test_cluster_and_namespaced_modes_grant_the_same_workload_access(helm: Helm) -> None:
    cluster = _grants(_rules(helm.template()))
    namespaced = _grants(_rules(helm.template(OPTION_SETS["watch-namespaces"])))
    assert cluster == namespaced


def test_peering_access_only_with_peering(helm: Helm) -> None:
    peering_resources = {"kopfpeerings", "clusterkopfpeerings"}
    default = {resource for _, resource, _ in _grants(_rules(helm.template()))}
    assert not default & peering_resources
    clusterwide = _grants(_rules(helm.template(OPTION_SETS["peering-three-replicas"])))
    assert ("kopf.dev", "clusterkopfpeerings", "patch") in clusterwide
    namespaced = _grants(_rules(helm.template(OPTION_SETS["peering-namespaced"])))
    assert ("kopf.dev", "kopfpeerings", "patch") in namespaced


def test_secrets_are_read_only(helm: Helm) -> None:
    verbs = {
        verb for _, resource, verb in _grants(_rules(helm.template())) if resource == "secrets"
    }
    assert verbs and verbs <= {"get", "list", "watch"}
