"""The chart lints and renders clean with the defaults and with every documented option.

Server-side validation of the same renders against the pinned apiserver's schemas is in
tests/integration/test_helm_install.py; these tests need only the helm binary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helmchart import CHART, OPTION_SETS, Helm, by_kind, only

# API versions the chart may use: GA versions served by Kubernetes 1.29+ (the chart's
# kubeVersion) plus the CRD-provided groups. Anything else (a beta or removed version) fails,
# which is the deprecated-API scan dask-kubernetes runs on its chart.
ALLOWED_API_VERSIONS = {
    "v1",
    "apps/v1",
    "rbac.authorization.k8s.io/v1",
    "kopf.dev/v1",
    "monitoring.coreos.com/v1",
}


def _container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = only(manifests, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize("option_set", sorted(OPTION_SETS))
def test_lint_is_clean_in_strict_mode(helm: Helm, option_set: str) -> None:
    result = helm.run("lint", str(CHART), "--strict", *OPTION_SETS[option_set])
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("option_set", sorted(OPTION_SETS))
def test_renders_unique_objects_with_allowed_api_versions(helm: Helm, option_set: str) -> None:
    manifests = helm.template(OPTION_SETS[option_set])
    identities = [
        (m["apiVersion"], m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"])
        for m in manifests
    ]
    assert len(identities) == len(set(identities)), identities
    assert {m["apiVersion"] for m in manifests} <= ALLOWED_API_VERSIONS


def test_defaults_render_the_expected_kinds(helm: Helm) -> None:
    kinds = sorted(m["kind"] for m in helm.template())
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "ServiceAccount",
    ]


def test_container_is_non_root_read_only_without_capabilities(helm: Helm) -> None:
    manifests = helm.template()
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    container = _container(manifests)
    security = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}


def test_probes_hit_the_port_kopf_serves_liveness_on(helm: Helm) -> None:
    container = _container(helm.template(["--set", "operator.healthPort=8181"]))
    assert "--liveness=http://0.0.0.0:8181/healthz" in container["args"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["health"] == 8181
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}


@pytest.mark.parametrize("option_set", sorted(OPTION_SETS))
def test_rendered_arguments_are_accepted_by_the_operator_cli(helm: Helm, option_set: str) -> None:
    import argparse

    from axiom_operator.cli import configure

    parser = argparse.ArgumentParser(exit_on_error=False)
    configure(parser)
    subcommand, *flags = _container(helm.template(OPTION_SETS[option_set]))["args"]
    assert subcommand == "operator"
    options = parser.parse_args(flags)
    assert options.liveness.endswith("/healthz")


def test_resources_are_set(helm: Helm) -> None:
    resources = _container(helm.template())["resources"]
    assert set(resources) == {"requests", "limits"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_single_replica_runs_standalone_without_anti_affinity(helm: Helm) -> None:
    manifests = helm.template()
    deployment = only(manifests, "Deployment")
    assert "--standalone" in _container(manifests)["args"]
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert "affinity" not in deployment["spec"]["template"]["spec"]


def test_several_replicas_peer_and_spread_over_nodes(helm: Helm) -> None:
    manifests = helm.template(OPTION_SETS["peering-three-replicas"])
    deployment = only(manifests, "Deployment")
    args = _container(manifests)["args"]
    assert "--peering=axiom-operator" in args
    assert "--standalone" not in args
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert only(manifests, "ClusterKopfPeering")["metadata"]["name"] == "axiom-operator"


def test_custom_affinity_replaces_the_default_anti_affinity(helm: Helm) -> None:
    options = OPTION_SETS["scheduling-and-images"]
    pod = only(helm.template(options), "Deployment")["spec"]["template"]["spec"]
    assert set(pod["affinity"]) == {"nodeAffinity"}


def test_images_default_to_the_app_version(helm: Helm) -> None:
    import yaml

    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    container = _container(helm.template())
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["image"] == f"axiom-operator:{app_version}"
    assert env["AXIOM_OPERATOR_RUNTIME_IMAGE"] == f"axiom-runtime:{app_version}"


def test_trusted_keys_secret_is_referenced_and_optionally_created(helm: Helm) -> None:
    default_env = {e["name"]: e.get("value") for e in _container(helm.template())["env"]}
    assert default_env["AXIOM_OPERATOR_TRUSTED_KEYS_NAME"] == "axiom-trusted-keys"
    manifests = helm.template(OPTION_SETS["trusted-keys-created"])
    secret = only(manifests, "Secret")
    assert secret["metadata"]["name"] == "team-keys"
    assert set(secret["stringData"]) == {"release-2025"}
    env = {e["name"]: e.get("value") for e in _container(manifests)["env"]}
    assert env["AXIOM_OPERATOR_TRUSTED_KEYS_NAME"] == "team-keys"


def test_pinned_trust_reads_the_release_namespace_by_name_only(helm: Helm) -> None:
    """trustedKeys.pinned: the operator is told the release namespace, and (watching other
    namespaces) gets a Role there that reads the one trusted-keys Secret and nothing else."""
    assert "AXIOM_OPERATOR_TRUSTED_KEYS_NAMESPACE" not in {
        e["name"] for e in _container(helm.template())["env"]
    }
    manifests = helm.template(OPTION_SETS["pinned-trust"])
    env = {e["name"]: e.get("value") for e in _container(manifests)["env"]}
    assert env["AXIOM_OPERATOR_TRUSTED_KEYS_NAMESPACE"] == "axiom-system"
    roles = {
        (r["metadata"]["namespace"], r["metadata"]["name"]): r
        for r in manifests
        if r["kind"] == "Role"
    }
    pinned = [r for (ns, _), r in roles.items() if ns == "axiom-system"]
    assert len(pinned) == 1, sorted(roles)
    assert pinned[0]["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["axiom-trusted-keys"],
            "verbs": ["get"],
        }
    ]


def test_watch_namespaces_become_operator_flags(helm: Helm) -> None:
    args = _container(helm.template(OPTION_SETS["watch-namespaces"]))["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args
    assert "--all-namespaces" not in args


def test_monitoring_objects_render_behind_values(helm: Helm) -> None:
    manifests = helm.template(OPTION_SETS["monitoring"])
    rule = only(manifests, "PrometheusRule")
    alerts = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]}
    assert alerts == {
        "AxiomModelHighP99Latency",
        "AxiomModelLowConfidence",
        "AxiomModelHighErrorRate",
    }
    assert rule["metadata"]["labels"]["release"] == "prom"
    assert all(r["for"] == "5m" for group in rule["spec"]["groups"] for r in group["rules"])
    monitor = only(manifests, "ServiceMonitor")
    service = only(manifests, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert only(manifests, "PodMonitor")["spec"]["namespaceSelector"] == {"any": True}


def test_prometheus_rule_keeps_alert_templating_for_prometheus(helm: Helm) -> None:
    rule = only(helm.template(OPTION_SETS["monitoring"]), "PrometheusRule")
    summaries = [r["annotations"]["summary"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert all("{{ $labels.model }}" in summary for summary in summaries)


def test_service_monitor_without_service_is_refused(helm: Helm) -> None:
    result = helm.run(
        "template", "x", str(CHART), "--set", "metrics.service.enabled=false",
        "--set", "metrics.serviceMonitor.enabled=true", check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "metrics.serviceMonitor.enabled needs metrics.service.enabled" in result.stderr


def test_existing_service_account_is_used_without_rbac(helm: Helm) -> None:
    manifests = helm.template(OPTION_SETS["existing-service-account-no-rbac"])
    assert by_kind(manifests, "ServiceAccount") == []
    assert not [m for m in manifests if m["apiVersion"].startswith("rbac.")]
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "platform-operator"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--set", "replicaCount=many"], "/replicaCount"),
        (["--set", "watchNamespaces=team-a"], "/watchNamespaces"),
        (["--set-json", 'watchNamespaces=["Team_A"]'], "/watchNamespaces/0"),
        (["--set", "operator.verbose=loud"], "/operator/verbose"),
        (["--set", "operator.healthPort=70000"], "/operator/healthPort"),
        (["--set", "peering.enabled=yes-please"], "/peering/enabled"),
        (["--set", "prometheusRule.maxErrorRate=2"], "/prometheusRule/maxErrorRate"),
        (["--set", "prometheusRule.for=ten minutes"], "/prometheusRule/for"),
        (["--set", "image.pullPolicy=Sometimes"], "/image/pullPolicy"),
        (["--set", "replicaCount=2"], "/peering/enabled"),
        (["--set", "unknownValue=1"], "unknownValue"),
        (["--set", "metrics.service.typo=1"], "typo"),
    ],
)
def test_schema_rejects_wrong_values(helm: Helm, options: list[str], message: str) -> None:
    result = helm.run("template", "x", str(CHART), *options, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def _option_keys(args: list[str]) -> set[str]:
    """Value paths an option set touches: `a.b=...` and the keys inside `a={...}` JSON."""
    import json

    keys: set[str] = set()
    for flag, assignment in zip(args[::2], args[1::2], strict=True):
        path, _, raw = assignment.partition("=")
        keys.add(path)
        if flag == "--set-json" and raw.startswith("{"):
            stack = [(path, json.loads(raw))]
            while stack:
                prefix, value = stack.pop()
                for key, child in value.items():
                    keys.add(f"{prefix}.{key}")
                    if isinstance(child, dict):
                        stack.append((f"{prefix}.{key}", child))
    return keys


def test_every_documented_value_is_exercised_by_an_option_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util
    import sys

    # The generator imports its sibling hack/generated_file.py, as it does when run as a script.
    monkeypatch.syspath_prepend(str(CHART.parents[1] / "hack"))
    spec = importlib.util.spec_from_file_location(
        "gen_helm_docs", CHART.parents[1] / "hack" / "gen-helm-docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    documented = {doc.path for doc in module.parse_value_docs((CHART / "values.yaml").read_text())}
    exercised = set().union(*(_option_keys(args) for args in OPTION_SETS.values()))
    assert documented - exercised == set()


def test_packaged_chart_carries_the_crds_and_lints(helm: Helm, tmp_path: Path) -> None:
    import tarfile

    helm.run("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("axiom-operator-*.tgz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    for crd in (CHART / "crds").glob("*.yaml"):
        assert f"axiom-operator/crds/{crd.name}" in names
    assert "axiom-operator/values.schema.json" in names
    assert "0 chart(s) failed" in helm.run("lint", str(archive), "--strict").stdout


def test_pod_network_allowlist_reaches_the_operator_environment(helm: Helm) -> None:
    manifests = helm.template(OPTION_SETS["tuning"])
    (deployment,) = by_kind(manifests, "Deployment")
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["AXIOM_OPERATOR_POD_NETWORK_ALLOWLIST"] == "10.244.0.0/16,fd00::/8"
    assert env["AXIOM_OPERATOR_POD_REQUEST_TIMEOUT"] == "1.5"
    assert env["AXIOM_OPERATOR_RESYNC_SECONDS"] == "120"
    assert env["AXIOM_OPERATOR_MAX_CONCURRENT_PASSES"] == "8"
    assert env["AXIOM_OPERATOR_TRAFFIC_DRAIN_SECONDS"] == "75"
    assert env["AXIOM_OPERATOR_CERTIFICATE_EXPIRY_WARNING_SECONDS"] == "86400"
