"""Run the pinned helm binary (built from Go modules by hack/cluster) on the chart.

Why a helper module and not a fixture only: the chart tests and the install tests in
tests/integration render the same chart with the same option sets, so the option catalogue
and the render/parse code live here once.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "axiom-operator"

# Every documented option, in combinations a platform team would use. Each entry is a list of
# `--set` / `--set-json` arguments. Rendering, linting and (in tests/integration) server-side
# validation run for each.
OPTION_SETS: dict[str, list[str]] = {
    "defaults": [],
    "watch-namespaces": ["--set-json", 'watchNamespaces=["team-a","team-b"]'],
    "watch-namespaces-no-cluster-discovery": [
        "--set-json",
        'watchNamespaces=["team-a"]',
        "--set",
        "rbac.clusterDiscovery=false",
    ],
    "peering-three-replicas": ["--set", "replicaCount=3", "--set", "peering.enabled=true"],
    "peering-namespaced": [
        "--set",
        "replicaCount=2",
        "--set",
        "peering.enabled=true",
        "--set-json",
        'watchNamespaces=["team-a"]',
    ],
    "monitoring": [
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.podMonitor.enabled=true",
        "--set",
        "prometheusRule.enabled=true",
        "--set-json",
        'prometheusRule.labels={"release":"prom"}',
        "--set",
        "prometheusRule.for=5m",
    ],
    "trusted-keys-created": [
        "--set",
        "trustedKeys.create=true",
        "--set",
        "trustedKeys.secretName=team-keys",
        "--set-json",
        'trustedKeys.keys={"release-2025":"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA\\n-----END PUBLIC KEY-----\\n"}',
    ],
    "pinned-trust": [
        "--set",
        "trustedKeys.pinned=true",
        "--set",
        "trustedKeys.create=true",
        "--set-json",
        'trustedKeys.keys={"release-2025":"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA\\n-----END PUBLIC KEY-----\\n"}',
        "--set-json",
        'watchNamespaces=["team-a"]',
    ],
    "existing-service-account-no-rbac": [
        "--set",
        "serviceAccount.create=false",
        "--set",
        "serviceAccount.name=platform-operator",
        "--set",
        "rbac.create=false",
    ],
    "no-metrics-service": ["--set", "metrics.service.enabled=false"],
    "tuning": [
        "--set",
        "operator.healthPort=8181",
        "--set",
        "operator.metricsPort=9100",
        "--set-json",
        'operator.podNetworkAllowlist=["10.244.0.0/16","fd00::/8"]',
        "--set-json",
        "operator.podRequestTimeoutSeconds=1.5",
        "--set-json",
        "operator.resyncSeconds=120",
        "--set-json",
        "operator.maxConcurrentPasses=8",
        "--set-json",
        "operator.trafficDrainSeconds=75",
        "--set-json",
        "operator.maxPackageFetchBytes=1073741824",
        "--set-json",
        "operator.certificateExpiryWarningSeconds=86400",
        "--set",
        "metrics.service.port=9100",
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.serviceMonitor.interval=1m",
        "--set-json",
        'metrics.serviceMonitor.labels={"team":"ml"}',
        "--set",
        "metrics.podMonitor.enabled=true",
        "--set",
        "metrics.podMonitor.interval=30s",
        "--set-json",
        'metrics.podMonitor.labels={"team":"ml"}',
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "prometheusRule.p99LatencySeconds=0.5",
        "--set",
        "prometheusRule.minMeanConfidence=0.7",
        "--set",
        "prometheusRule.maxErrorRate=0.05",
        "--set",
        "replicaCount=2",
        "--set",
        "peering.enabled=true",
        "--set",
        "peering.name=ml-platform",
        "--set-json",
        'resources={"requests":{"cpu":"200m","memory":"192Mi"},"limits":{"cpu":"1","memory":"512Mi"}}',
        "--set-json",
        'livenessProbe={"initialDelaySeconds":20,"periodSeconds":15,"timeoutSeconds":3,"failureThreshold":4}',
        "--set-json",
        'readinessProbe={"initialDelaySeconds":2,"periodSeconds":5,"timeoutSeconds":2,"failureThreshold":2}',
        "--set-json",
        'podSecurityContext={"runAsNonRoot":true,"runAsUser":20000,"runAsGroup":20000,"fsGroup":20000,"seccompProfile":{"type":"RuntimeDefault"}}',
        "--set-json",
        'securityContext={"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"runAsNonRoot":true,"runAsUser":20000,"capabilities":{"drop":["ALL"]}}',
    ],
    "scheduling-and-images": [
        "--set",
        "image.repository=registry.internal/axiom/operator",
        "--set",
        "image.tag=0.1.0-rc1",
        "--set",
        "image.pullPolicy=Always",
        "--set",
        "runtime.image.repository=registry.internal/axiom/runtime",
        "--set",
        "runtime.image.tag=0.1.0-rc1",
        "--set-json",
        'imagePullSecrets=["regcred"]',
        "--set-json",
        'nodeSelector={"kubernetes.io/os":"linux"}',
        "--set-json",
        'tolerations=[{"key":"dedicated","operator":"Equal","value":"ml","effect":"NoSchedule"}]',
        "--set-json",
        'affinity={"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/arch","operator":"In","values":["amd64"]}]}]}}}',
        "--set",
        "priorityClassName=system-cluster-critical",
        "--set-json",
        'podAnnotations={"team":"ml"}',
        "--set-json",
        'podLabels={"cost-center":"42"}',
        "--set-json",
        'serviceAccount.annotations={"iam.example/role":"axiom"}',
        "--set",
        "operator.verbose=true",
        "--set-json",
        'operator.extraEnv=[{"name":"HTTPS_PROXY","value":"http://127.0.0.1:3128"}]',
        "--set",
        "nameOverride=axiom",
        "--set",
        "fullnameOverride=axiom-ops",
    ],
}


def helm_binary() -> Path:
    """The pinned helm; built (with the other cluster binaries) when missing and Go exists."""
    from axiom_devcluster import binaries

    try:
        return binaries.binary("helm")
    except binaries.BinariesMissingError:
        if not binaries.go_available():
            pytest.skip(
                "helm is not built and Go is not installed: cannot build it (make cluster-binaries)"
            )
        binaries.ensure_built()
        return binaries.binary("helm")


def helm_env(home: Path) -> dict[str, str]:
    """Keep helm's caches and config out of the user's home directory."""
    env = dict(os.environ)
    env.update(
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_DATA_HOME=str(home / "data"),
    )
    return env


class Helm:
    def __init__(self, binary: Path, home: Path, kubeconfig: Path | None = None) -> None:
        self.binary = binary
        self.env = helm_env(home)
        if kubeconfig is not None:
            self.env["KUBECONFIG"] = str(kubeconfig)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=self.env, timeout=180
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def template(
        self,
        options: Sequence[str] = (),
        *,
        release: str = "axiom",
        namespace: str = "axiom-system",
    ) -> list[dict[str, Any]]:
        out = self.run("template", release, str(CHART), "--namespace", namespace, *options).stdout
        return list(parse_manifests(out))


def parse_manifests(text: str) -> Iterator[dict[str, Any]]:
    for document in yaml.safe_load_all(text):
        if document:
            yield document


def by_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


def only(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
    return found[0]
