"""The chart against the real local control plane: every option set passes server-side
validation, `helm install` creates a working operator that runs under the chart's own
least-privilege ServiceAccount, and `helm upgrade` / `helm uninstall` leave nothing behind
but the CRDs (Helm's convention: CRDs in crds/ are installed once and never deleted).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helm_cluster import (
    CHART,
    OPTION_SETS,
    Helm,
    apply_crd,
    dry_run_create,
    helm_binary,
    monitoring_crds,
    object_path,
    parse_manifests,
    service_account_token,
    token_kubeconfig,
)

from axiom_devcluster.controlplane import ControlPlane

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

WATCHED_NAMESPACES = ("team-a", "team-b")  # the namespaces OPTION_SETS mention


@pytest.fixture(scope="module")
def cluster_helm(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_binary(), tmp_path_factory.mktemp("helm-home"), control_plane.kubeconfig)


@pytest.fixture(scope="module")
def chart_crds(control_plane: ControlPlane) -> None:
    """The chart's CRDs, as `helm install` would create them (validation needs kopf.dev)."""
    for path in sorted((CHART / "crds").glob("*.yaml")):
        for crd in parse_manifests(path.read_text()):
            apply_crd(control_plane, crd)


@pytest.fixture(scope="module")
def watched_namespaces(control_plane: ControlPlane) -> Iterator[tuple[str, ...]]:
    for name in WATCHED_NAMESPACES:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        try:
            control_plane.api_request("POST", "/api/v1/namespaces", body)
        except urllib.error.HTTPError as error:
            if error.code != 409:
                raise
    yield WATCHED_NAMESPACES
    for name in WATCHED_NAMESPACES:
        control_plane.api_request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="module")
def prometheus_operator_crds(control_plane: ControlPlane) -> bool:
    crds = monitoring_crds()
    if crds is None:
        return False
    for crd in crds:
        apply_crd(control_plane, crd)
    return True


def _release() -> str:
    return f"axiom-{uuid.uuid4().hex[:6]}"


def _exists(plane: ControlPlane, manifest: dict[str, Any]) -> bool:
    try:
        plane.api_request("GET", object_path(manifest))
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise
    return True


def _wait_gone(
    plane: ControlPlane, manifests: list[dict[str, Any]], timeout: float = 60
) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = [f"{m['kind']}/{m['metadata']['name']}" for m in manifests if _exists(plane, m)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def _list_retrying(plane: ControlPlane, path: str, attempts: int = 20) -> list[dict[str, Any]]:
    """List, retrying 429 "storage is (re)initializing" of a CRD that was just created."""
    for _ in range(attempts - 1):
        try:
            return list(plane.api_request("GET", path)["items"])
        except urllib.error.HTTPError as error:
            if error.code != 429:
                raise
            time.sleep(0.5)
    return list(plane.api_request("GET", path)["items"])


def _instance_leftovers(plane: ControlPlane, release: str) -> list[str]:
    """Anything still labelled with the release, including what the Deployment created."""
    selector = f"app.kubernetes.io/instance={release}"
    lists = [
        "/api/v1/serviceaccounts", "/api/v1/secrets", "/api/v1/services", "/api/v1/pods",
        "/apis/apps/v1/deployments", "/apis/apps/v1/replicasets",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        "/apis/rbac.authorization.k8s.io/v1/roles", "/apis/rbac.authorization.k8s.io/v1/rolebindings",
        "/apis/kopf.dev/v1/clusterkopfpeerings", "/apis/kopf.dev/v1/kopfpeerings",
    ]  # fmt: skip
    found = []
    for path in lists:
        for item in _list_retrying(plane, f"{path}?labelSelector={selector}"):
            found.append(f"{path.rsplit('/', 1)[1]}/{item['metadata']['name']}")
    return found


@pytest.mark.parametrize("option_set", sorted(OPTION_SETS))
def test_rendered_manifests_pass_server_side_validation(
    control_plane: ControlPlane,
    cluster_helm: Helm,
    chart_crds: None,
    watched_namespaces: tuple[str, ...],
    prometheus_operator_crds: bool,
    namespace: str,
    option_set: str,
) -> None:
    manifests = cluster_helm.template(OPTION_SETS[option_set], namespace=namespace)
    monitoring = [m for m in manifests if m["apiVersion"].startswith("monitoring.coreos.com/")]
    if monitoring and not prometheus_operator_crds:
        pytest.skip("the Prometheus Operator CRDs could not be fetched from the Go module proxy")
    for manifest in manifests:
        dry_run_create(control_plane, manifest)


def test_invalid_manifest_is_rejected_by_the_dry_run(
    control_plane: ControlPlane, cluster_helm: Helm, namespace: str
) -> None:
    # the validation above can fail: a misspelt field is refused by strict field validation
    deployment = next(
        m for m in cluster_helm.template(namespace=namespace) if m["kind"] == "Deployment"
    )
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(AssertionError, match="securityContxt"):
        dry_run_create(control_plane, deployment)


def test_install_upgrade_uninstall_leaves_only_the_crds(
    control_plane: ControlPlane, cluster_helm: Helm, namespace: str
) -> None:
    release = _release()
    installed = cluster_helm.run("install", release, str(CHART), "--namespace", namespace)
    assert "kubectl get axiommodels" in installed.stdout  # NOTES.txt is shown
    default = cluster_helm.template(release=release, namespace=namespace)
    assert all(_exists(control_plane, m) for m in default)

    upgrade_options = [
        *OPTION_SETS["peering-three-replicas"],
        *OPTION_SETS["trusted-keys-created"],
    ]
    cluster_helm.run("upgrade", release, str(CHART), "--namespace", namespace, *upgrade_options)
    upgraded = cluster_helm.template(upgrade_options, release=release, namespace=namespace)
    added = [m for m in upgraded if m["kind"] in ("Secret", "ClusterKopfPeering")]
    assert len(added) == 2 and all(_exists(control_plane, m) for m in added)
    deployment = control_plane.api_request(
        "GET", object_path(next(m for m in upgraded if m["kind"] == "Deployment"))
    )
    assert deployment["spec"]["replicas"] == 3

    cluster_helm.run("upgrade", release, str(CHART), "--namespace", namespace, "--reset-values")
    assert _wait_gone(control_plane, added) == []

    cluster_helm.run("uninstall", release, "--namespace", namespace, "--wait")
    assert _wait_gone(control_plane, upgraded) == []
    deadline = time.monotonic() + 60
    while (left := _instance_leftovers(control_plane, release)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == []
    for path in sorted((CHART / "crds").glob("*.yaml")):
        for crd in parse_manifests(path.read_text()):
            assert _exists(control_plane, crd), f"Helm must keep CRD {crd['metadata']['name']}"


# --------------------------------------------------------------------------------------------
# The operator under the chart's ServiceAccount

EXAMPLES = CHART.parents[1] / "examples"
# how a refusal shows in the log: httpx's access line, Kopf's error class, the apiserver's
# message, Kopf's fallback warning (a bare "403" would match timestamps' milliseconds)
FORBIDDEN_MARKERS = ("HTTP/1.1 403", "Forbidden", "is forbidden", "Not enough permissions")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _create(plane: ControlPlane, path: str, body: dict[str, Any]) -> None:
    plane.api_request("POST", path, body)


def _create_namespace(plane: ControlPlane, name: str) -> None:
    _create(
        plane,
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )


def _model_objects(plane: ControlPlane, namespace: str, version: str) -> dict[str, Any]:
    """Certificate Secret and package ConfigMap of one example version; returns the spec."""
    slug = version.replace(".", "-")
    package = (EXAMPLES / "digits" / f"digits-{version}.axiom").read_bytes()
    certificate = (EXAMPLES / "digits" / f"digits-{version}.cert.json").read_bytes()
    _create(plane, f"/api/v1/namespaces/{namespace}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"digits-{slug}-cert"},
        "data": {"certificate.json": _b64(certificate)},
    })  # fmt: skip
    _create(plane, f"/api/v1/namespaces/{namespace}/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"digits-{slug}"},
        "binaryData": {"model.axiom": _b64(package)},
    })  # fmt: skip
    return {
        "version": version,
        "model": {
            "uri": f"configmap://digits-{slug}/model.axiom",
            "sha256": hashlib.sha256(package).hexdigest(),
        },
        "certificate": {"secretRef": {"name": f"digits-{slug}-cert"}, "policy": "Enforce"},
        "replicas": 1,
    }


def _trusted_keys(plane: ControlPlane, namespace: str) -> None:
    keys = {p.name: _b64(p.read_bytes()) for p in (EXAMPLES / "keys" / "trusted").iterdir()}
    _create(plane, f"/api/v1/namespaces/{namespace}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "axiom-trusted-keys"}, "data": keys,
    })  # fmt: skip


class OperatorProcess:
    """`axiom operator` started with the container args and env of the installed Deployment,
    authenticated only by a ServiceAccount token; its ports moved to free loopback ports."""

    def __init__(self, deployment: dict[str, Any], kubeconfig: Path, log_path: Path) -> None:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        self.health_port, self.metrics_port = _free_port(), _free_port()
        self.args = [
            f"--liveness=http://127.0.0.1:{self.health_port}/healthz"
            if arg.startswith("--liveness=")
            else arg
            for arg in container["args"]
        ]
        env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        env.update(
            AXIOM_OPERATOR_METRICS_HOST="127.0.0.1",
            AXIOM_OPERATOR_METRICS_PORT=str(self.metrics_port),
        )
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "AXIOM_"))
        }
        self.env = {**inherited, **env, "KUBECONFIG": str(kubeconfig)}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> OperatorProcess:
        axiom = Path(sys.executable).with_name("axiom")
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(axiom), *self.args], stdout=log, stderr=subprocess.STDOUT, env=self.env
        )
        log.close()
        return self

    def __exit__(self, *_: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def permission_errors(self) -> list[str]:
        return [
            line for line in self.log().splitlines() if any(m in line for m in FORBIDDEN_MARKERS)
        ]

    def get(self, port: int, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return 0, ""


def _wait_for(
    what: str, check: Callable[[], bool], timeout: float, operator: OperatorProcess
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert operator.process is not None and operator.process.poll() is None, (
            f"operator exited while waiting for {what}:\n{operator.log()[-4000:]}"
        )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what}; operator log:\n{operator.log()[-4000:]}"
            )
        time.sleep(0.5)


def _merge_patch(plane: ControlPlane, path: str, patch: dict[str, Any]) -> None:
    """JSON merge patch as cluster-admin (ControlPlane.api_request sends application/json)."""
    request = urllib.request.Request(
        plane.server + path,
        data=json.dumps(patch).encode(),
        method="PATCH",
        headers={"Content-Type": "application/merge-patch+json", "Accept": "application/json"},
    )
    context = ssl.create_default_context(cafile=str(plane.pki.ca_cert))
    context.load_cert_chain(str(plane.pki.admin_cert), str(plane.pki.admin_key))
    with urllib.request.urlopen(request, context=context, timeout=10) as answer:
        answer.read()


def _get_or_none(plane: ControlPlane, path: str) -> Any:
    try:
        return plane.api_request("GET", path)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def _condition(model: dict[str, Any] | None, kind: str) -> str | None:
    for condition in (model or {}).get("status", {}).get("conditions", []):
        if condition["type"] == kind:
            return str(condition["status"])
    return None


def _install_and_start(
    plane: ControlPlane, helm: Helm, namespace: str, tmp_path: Path, options: list[str]
) -> OperatorProcess:
    release = _release()
    helm.run("install", release, str(CHART), "--namespace", namespace, *options)
    manifests = helm.template(options, release=release, namespace=namespace)
    deployment = plane.api_request(
        "GET", object_path(next(m for m in manifests if m["kind"] == "Deployment"))
    )
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    token = service_account_token(plane, namespace, account)
    kubeconfig = token_kubeconfig(plane, token, tmp_path / "operator.kubeconfig")
    return OperatorProcess(deployment, kubeconfig, tmp_path / "operator.log")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("scope", ["all-namespaces", "watch-namespaces", "peering"])
def test_operator_reconciles_a_model_under_the_charts_service_account(
    control_plane: ControlPlane, cluster_helm: Helm, namespace: str, tmp_path: Path, scope: str
) -> None:
    plane = control_plane
    models = f"{namespace[:50]}-models"
    _create_namespace(plane, models)
    # watch-namespaces: a Role in the models namespace only, plus the discovery ClusterRole
    # peering: ClusterKopfPeering object and the peering rule (replicas only matter in-cluster)
    options = {
        "all-namespaces": [],
        "watch-namespaces": ["--set-json", f'watchNamespaces=["{models}"]'],
        "peering": OPTION_SETS["peering-three-replicas"],
    }[scope]
    try:
        with _install_and_start(plane, cluster_helm, namespace, tmp_path, options) as operator:
            _wait_for(
                "the liveness endpoint",
                lambda: operator.get(operator.health_port, "/healthz")[0] == 200,
                60,
                operator,
            )
            _trusted_keys(plane, models)
            spec = _model_objects(plane, models, "1.0.0")
            model_path = f"/apis/axiom.dev/v1alpha1/namespaces/{models}/axiommodels"
            _create(plane, model_path, {
                "apiVersion": "axiom.dev/v1alpha1", "kind": "AxiomModel",
                "metadata": {"name": "digits"}, "spec": spec,
            })  # fmt: skip

            def reconciled() -> bool:
                model = _get_or_none(plane, f"{model_path}/digits")
                deployment = _get_or_none(
                    plane, f"/apis/apps/v1/namespaces/{models}/deployments/digits-v1-0-0"
                )
                return _condition(model, "CertificateValid") == "True" and deployment is not None

            _wait_for("the model to be reconciled", reconciled, 120, operator)
            # a version change exercises the rest of the verbs: a second Deployment is applied
            # beside the first (a canary without steps: a blue-green switch), and the old
            # version's children are deleted once its short rollback window has passed
            spec2 = {
                **_model_objects(plane, models, "2.0.0"),
                "rollout": {"scaleDownDelay": "1s", "rollbackWindow": "5s"},
            }
            _merge_patch(plane, f"{model_path}/digits", {"spec": spec2})
            deployments = f"/apis/apps/v1/namespaces/{models}/deployments"

            def rolled_over() -> bool:
                return (
                    _get_or_none(plane, f"{deployments}/digits-v2-0-0") is not None
                    and _get_or_none(plane, f"{deployments}/digits-v1-0-0") is None
                )

            _wait_for("2.0.0 to replace 1.0.0", rolled_over, 180, operator)
            status, metrics = operator.get(operator.metrics_port, "/metrics")
            assert status == 200 and "axiom_operator_reconciles_total" in metrics

            plane.api_request("DELETE", f"{model_path}/digits")  # the finalizer must come off
            _wait_for(
                "the model to be deleted",
                lambda: _get_or_none(plane, f"{model_path}/digits") is None,
                60,
                operator,
            )
            time.sleep(2)  # let any late watch error reach the log
        assert operator.permission_errors() == []
    finally:
        plane.api_request("DELETE", f"/api/v1/namespaces/{models}")


@pytest.mark.timeout(300)
def test_without_the_charts_rbac_the_operator_is_forbidden(
    control_plane: ControlPlane, cluster_helm: Helm, namespace: str, tmp_path: Path
) -> None:
    # the control for the test above: the same ServiceAccount without the chart's roles is
    # refused, and the refusals show up where that test looks for them
    options = ["--set", "rbac.create=false"]
    with _install_and_start(control_plane, cluster_helm, namespace, tmp_path, options) as operator:
        _wait_for("a permission error", lambda: bool(operator.permission_errors()), 120, operator)
