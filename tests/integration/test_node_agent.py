"""The node agent against the real local control plane: pods of the runtime image really run.

Every test here creates objects in a namespace that sends its pods to the agent's node, and
checks behaviour over real HTTP on loopback: probes, Service addresses, restarts, grace
periods, live ConfigMap volumes, refusal of tampered packages, and cleanup of processes.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from axiom_devcluster.agent.pytest_plugin import AgentCluster, create_agent_namespace
from axiom_devcluster.agent.testing import AgentProcess

pytestmark = [pytest.mark.cluster, pytest.mark.agent]

REPO = Path(__file__).resolve().parents[2]
WORKLOAD = Path(__file__).with_name("agent_workload.py")
MODEL = REPO / "examples" / "digits" / "digits-1.0.0.axiom"
CERTIFICATE = REPO / "examples" / "digits" / "digits-1.0.0.cert.json"
TRUSTED_KEYS = REPO / "examples" / "keys" / "trusted"
SAMPLE = REPO / "examples" / "digits" / "sample-digit-3.json"
RUNTIME_IMAGE = "registry.invalid/axiom-runtime:dev"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
T = TypeVar("T")


# ---- helpers ------------------------------------------------------------------------------


def api(cluster: AgentCluster, method: str, path: str, body: Any = None) -> Any:
    return cluster.control_plane.api_request(method, path, body)


def update(cluster: AgentCluster, path: str, change: dict[str, Any]) -> None:
    """Read-modify-write (PUT) of one object: top-level fields of ``change`` replace its own."""
    current = api(cluster, "GET", path)
    current.update(change)
    api(cluster, "PUT", path, current)


def http(url: str, body: bytes | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    request.add_header("Connection", "close")
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def eventually(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, urllib.error.URLError, KeyError) as error:
            last = error
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what} (last error: {last})")


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def pods(cluster: AgentCluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    found = api(cluster, "GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")
    return list(found["items"])


def get_pod(cluster: AgentCluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = api(cluster, "GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
    return found


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def workload_container(**extra: Any) -> dict[str, Any]:
    env = [
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    container: dict[str, Any] = {
        "name": "main",
        "image": RUNTIME_IMAGE,
        "command": ["python", str(WORKLOAD)],
        "env": env + extra.pop("env", []),
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1},
    }
    container.update(extra)
    return container


def workload_pod(name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [container], **spec},
    }


def create_pod(cluster: AgentCluster, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
    api(cluster, "POST", f"/api/v1/namespaces/{namespace}/pods", pod)
    name = pod["metadata"]["name"]
    return eventually(
        lambda: (p := get_pod(cluster, namespace, name)) and ready(p) and p,
        30,
        f"pod {name} Ready",
    )


def pod_url(pod: dict[str, Any], path: str) -> str:
    return f"http://{pod['status']['podIP']}:8080{path}"


def pid_of(pod: dict[str, Any]) -> int:
    container_id = pod["status"]["containerStatuses"][0]["containerID"]
    return int(container_id.rsplit("/", 1)[1])


def runtime_objects(cluster: AgentCluster, namespace: str, model: bytes) -> None:
    keys = {p.name: p.read_text() for p in TRUSTED_KEYS.iterdir()}
    for manifest in (
        {"metadata": {"name": "model"}, "binaryData": {"digits.axiom": b64(model)}},
        {"metadata": {"name": "trusted-keys"}, "data": keys},
    ):
        api(cluster, "POST", f"/api/v1/namespaces/{namespace}/configmaps", manifest)
    secret = {"metadata": {"name": "cert"}, "data": {"cert.json": b64(CERTIFICATE.read_bytes())}}
    api(cluster, "POST", f"/api/v1/namespaces/{namespace}/secrets", secret)


def runtime_deployment(replicas: int) -> dict[str, Any]:
    """A Deployment as the operator would write one: ``axiom serve`` configured by env."""
    container = {
        "name": "runtime",
        "image": RUNTIME_IMAGE,
        "command": ["axiom", "serve"],
        "env": [
            {"name": "AXIOM_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "AXIOM_PORT", "value": "8080"},
            {"name": "AXIOM_MODEL_URI", "value": "file:///models/digits.axiom"},
            {"name": "AXIOM_CERTIFICATE", "value": "/etc/axiom/cert/cert.json"},
            {"name": "AXIOM_TRUSTED_KEYS", "value": "/etc/axiom/keys"},
            {"name": "AXIOM_CERTIFICATE_POLICY", "value": "enforce"},
        ],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 5},
        "volumeMounts": [
            {"name": "model", "mountPath": "/models", "readOnly": True},
            {"name": "cert", "mountPath": "/etc/axiom/cert", "readOnly": True},
            {"name": "keys", "mountPath": "/etc/axiom/keys", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "digits"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "digits"}},
            "template": {
                "metadata": {"labels": {"app": "digits"}},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [container],
                    "volumes": [
                        {"name": "model", "configMap": {"name": "model"}},
                        {"name": "cert", "secret": {"secretName": "cert"}},
                        {"name": "keys", "configMap": {"name": "trusted-keys"}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def deploy_runtime(cluster: AgentCluster, namespace: str, replicas: int, model: bytes) -> float:
    """Create the objects and the Deployment; returns seconds until all replicas were Ready."""
    runtime_objects(cluster, namespace, model)
    started = time.monotonic()
    api(
        cluster,
        "POST",
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        runtime_deployment(replicas),
    )
    eventually(
        lambda: (
            api(cluster, "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/digits")
            .get("status", {})
            .get("readyReplicas")
            == replicas
        ),
        90,
        f"{replicas} runtime replicas Ready",
    )
    return time.monotonic() - started


# ---- the runtime image, really serving ------------------------------------------------------


def test_runtime_deployment_reaches_ready_through_real_ready_probes(
    agent_cluster: AgentCluster, agent_namespace: str
) -> None:
    elapsed = deploy_runtime(agent_cluster, agent_namespace, 2, MODEL.read_bytes())
    running = pods(agent_cluster, agent_namespace, "app=digits")
    assert len(running) == 2
    for pod in running:
        assert pod["spec"]["nodeName"] == agent_cluster.node_name
        assert pod["status"]["podIP"].startswith("127.19.")
        status, body = http(pod_url(pod, "/ready"))
        assert status == 200 and json.loads(body)["ready"] is True
    print(f"\nDeployment created -> 2/2 replicas Ready in {elapsed:.1f} s")


def test_service_address_answers_from_pods_spread_across_replicas(
    agent_cluster: AgentCluster, agent_namespace: str
) -> None:
    deploy_runtime(agent_cluster, agent_namespace, 2, MODEL.read_bytes())
    service = {
        "metadata": {"name": "digits"},
        "spec": {"selector": {"app": "digits"}, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    created = api(agent_cluster, "POST", f"/api/v1/namespaces/{agent_namespace}/services", service)
    cluster_ip = created["spec"]["clusterIP"]
    assert cluster_ip.startswith("127.100.")
    body = SAMPLE.read_bytes()
    eventually(lambda: http(f"http://{cluster_ip}/predict", body)[0] == 200, 10, "Service answers")
    answers = [http(f"http://{cluster_ip}/predict", body) for _ in range(20)]
    assert all(status == 200 for status, _ in answers)
    assert all(json.loads(payload)["model"]["version"] == "1.0.0" for _, payload in answers)
    served = {}
    for pod in pods(agent_cluster, agent_namespace, "app=digits"):
        _, metrics = http(pod_url(pod, "/metrics"))
        served[pod["metadata"]["name"]] = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.decode().splitlines()
            if line.startswith("axiom_inference_total{") and 'status="ok"' in line
        )
    assert len(served) == 2 and all(count >= 5 for count in served.values()), served


def test_readiness_turns_false_when_the_runtime_refuses_a_tampered_package(
    agent_cluster: AgentCluster, agent_namespace: str
) -> None:
    deploy_runtime(agent_cluster, agent_namespace, 1, MODEL.read_bytes())
    (pod,) = pods(agent_cluster, agent_namespace, "app=digits")
    tampered = bytearray(MODEL.read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    patch = {"binaryData": {"digits.axiom": b64(bytes(tampered))}}
    update(agent_cluster, f"/api/v1/namespaces/{agent_namespace}/configmaps/model", patch)
    # The runtime verifies at start: the next start of the process meets the tampered file.
    time.sleep(1.5)
    os.kill(pid_of(pod), signal.SIGKILL)
    name = pod["metadata"]["name"]
    after = eventually(
        lambda: (
            (p := get_pod(agent_cluster, agent_namespace, name))
            and p["status"]["containerStatuses"][0]["restartCount"] >= 1
            and "running" in p["status"]["containerStatuses"][0]["state"]
            and p
        ),
        30,
        "runtime restarted",
    )
    time.sleep(3)
    after = get_pod(agent_cluster, agent_namespace, name)
    assert not ready(after)
    status, body = http(pod_url(after, "/ready"))
    assert status == 503 and json.loads(body)["ready"] is False


# ---- process lifecycle (small workload standing in for the runtime) -------------------------


def test_env_downward_api_and_secret_volume_reach_the_process(
    agent_cluster: AgentCluster, agent_namespace: str
) -> None:
    ns = agent_namespace
    api(
        agent_cluster,
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps",
        {"metadata": {"name": "settings"}, "data": {"level": "debug"}},
    )
    api(
        agent_cluster,
        "POST",
        f"/api/v1/namespaces/{ns}/secrets",
        {"metadata": {"name": "token"}, "data": {"token": b64(b"s3cret")}},
    )
    container = workload_container(
        env=[
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {
                "name": "LEVEL",
                "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}},
            },
            {"name": "TOKEN_FILE", "value": "/var/run/token/token"},
            {"name": "GREETING", "value": "pod $(POD_NAME) in $(NS)"},
        ],
        volumeMounts=[{"name": "token", "mountPath": "/var/run/token"}],
    )
    pod = workload_pod(
        "envs", container, volumes=[{"name": "token", "secret": {"secretName": "token"}}]
    )
    running = create_pod(agent_cluster, ns, pod)
    env = json.loads(http(pod_url(running, "/whoami"))[1])["env"]
    assert env["HOST"] == running["status"]["podIP"]
    assert (env["APP"], env["NS"], env["LEVEL"]) == ("envs", ns, "debug")
    assert env["GREETING"] == f"pod envs in {ns}"
    assert json.loads(http(pod_url(running, "/read?env=TOKEN_FILE"))[1])["content"] == "s3cret"


def test_crashed_process_is_restarted_and_reported(
    agent_cluster: AgentCluster, agent_namespace: str
) -> None:
    running = create_pod(
        agent_cluster, agent_namespace, workload_pod("crashy", workload_container())
    )
    http(pod_url(running, "/exit?code=3"))
    restarted = eventually(
        lambda: (
            (p := get_pod(agent_cluster, agent_namespace, "crashy"))
            and p["status"]["containerStatuses"][0]["restartCount"] == 1
            and ready(p)
            and p
        ),
        30,
        "crashed container restarted and Ready again",
    )
    status = restarted["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert restarted["status"]["phase"] == "Running"
    assert http(pod_url(restarted, "/ready"))[0] == 200


def _marked_not_ready(status: dict[str, Any], kind: str, value: str, reason: str) -> dict[str, Any]:
    """``status`` with its ``kind`` condition set as the node lifecycle controller sets it."""
    marked = json.loads(json.dumps(status))
    for condition in marked["conditions"]:
        if condition["type"] == kind:
            condition.update(status=value, reason=reason, message="set by this test")
    return marked


def test_a_pod_marked_not_ready_by_another_component_is_reported_ready_again(
    agent_cluster: AgentCluster, agent_namespace: str
) -> None:
    """The node lifecycle controller writes Ready=False into every pod of a node whose Lease
    it stopped seeing (an apiserver restart can do it). The pod's process is still serving,
    so the agent, like the kubelet, writes its own status back; otherwise the pod stays out
    of its Services for good (CI saw a rollout stuck on 0/1 available that way)."""
    ns = agent_namespace
    running = create_pod(agent_cluster, ns, workload_pod("marked", workload_container()))
    path = f"/api/v1/namespaces/{ns}/pods/marked/status"
    update(
        agent_cluster,
        path,
        {"status": _marked_not_ready(running["status"], "Ready", "False", "NodeNotReady")},
    )
    marked_at = time.monotonic()
    eventually(lambda: ready(get_pod(agent_cluster, ns, "marked")), 10, "Ready written back")
    print(f"\nReady written back {time.monotonic() - marked_at:.2f} s after it was set False")
    assert http(pod_url(running, "/ready"))[0] == 200


def test_a_node_marked_unknown_is_reported_ready_again_within_a_heartbeat(
    agent_cluster: AgentCluster,
) -> None:
    """The node lifecycle controller's other write: the Node's Ready condition Unknown. The
    agent reads it at its next heartbeat (10 s) and reports the node Ready, as the kubelet
    does at its next status update, so the controller lifts its taints again."""
    path = f"/api/v1/nodes/{agent_cluster.node_name}/status"
    node = api(agent_cluster, "GET", path)
    unknown = _marked_not_ready(node["status"], "Ready", "Unknown", "NodeStatusUnknown")
    update(agent_cluster, path, {"status": unknown})
    marked_at = time.monotonic()

    def node() -> dict[str, Any]:
        found: dict[str, Any] = api(agent_cluster, "GET", path)
        return found

    def is_ready() -> bool:
        conditions = node()["status"].get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def untainted() -> bool:
        taints = [t["key"] for t in node()["spec"].get("taints") or []]
        return not any(key.startswith("node.kubernetes.io/") for key in taints)

    # The next 10 s heartbeat, with margin. Without the not-Ready check the agent reports only
    # every minute, so this fails unless that minute's report falls in these 15 s.
    eventually(is_ready, 15, "node Ready again")
    print(f"\nnode Ready {time.monotonic() - marked_at:.2f} s after Unknown")
    # The controller lifts its taints at its next 5 s monitor period.
    eventually(untainted, 15, "the controller's taints lifted")


def test_deleted_pod_gets_sigterm_then_sigkill_after_its_grace_period(
    agent_cluster: AgentCluster, agent_namespace: str
) -> None:
    container = workload_container(env=[{"name": "IGNORE_SIGTERM", "value": "1"}])
    pod = workload_pod("stubborn", container, terminationGracePeriodSeconds=3)
    running = create_pod(agent_cluster, agent_namespace, pod)
    process = psutil.Process(pid_of(running))
    started = time.monotonic()
    api(agent_cluster, "DELETE", f"/api/v1/namespaces/{agent_namespace}/pods/stubborn")
    time.sleep(1.5)
    assert process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    process.wait(timeout=10)
    assert 2.5 <= time.monotonic() - started <= 8
    eventually(
        lambda: not pods(agent_cluster, agent_namespace, "app=stubborn"), 10, "pod object removed"
    )


def test_configmap_change_shows_in_the_mounted_file_within_seconds(
    agent_cluster: AgentCluster, agent_namespace: str
) -> None:
    ns = agent_namespace
    api(
        agent_cluster,
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps",
        {"metadata": {"name": "live"}, "data": {"value.txt": "one"}},
    )
    container = workload_container(
        env=[{"name": "VALUE", "value": "/etc/live/value.txt"}],
        volumeMounts=[{"name": "live", "mountPath": "/etc/live"}],
    )
    pod = workload_pod(
        "reader", container, volumes=[{"name": "live", "configMap": {"name": "live"}}]
    )
    running = create_pod(agent_cluster, ns, pod)
    assert json.loads(http(pod_url(running, "/read?env=VALUE"))[1])["content"] == "one"
    changed = time.monotonic()
    update(
        agent_cluster, f"/api/v1/namespaces/{ns}/configmaps/live", {"data": {"value.txt": "two"}}
    )
    eventually(
        lambda: json.loads(http(pod_url(running, "/read?env=VALUE"))[1])["content"] == "two",
        5,
        "new ConfigMap value in the mounted file",
    )
    print(f"\nConfigMap change visible in the pod's file after {time.monotonic() - changed:.2f} s")


def test_pod_of_another_image_is_refused_with_an_event(
    agent_cluster: AgentCluster, agent_namespace: str
) -> None:
    pod = workload_pod("nginx", {"name": "web", "image": "nginx:1.27"})
    api(agent_cluster, "POST", f"/api/v1/namespaces/{agent_namespace}/pods", pod)
    event = eventually(
        lambda: next(
            (
                e
                for e in api(agent_cluster, "GET", f"/api/v1/namespaces/{agent_namespace}/events")[
                    "items"
                ]
                if e["reason"] == "UnsupportedImage"
            ),
            None,
        ),
        15,
        "UnsupportedImage event",
    )
    assert "nginx:1.27" in event["message"] and event["type"] == "Warning"
    assert get_pod(agent_cluster, agent_namespace, "nginx")["status"]["phase"] == "Pending"


# ---- the agent cleans up after itself --------------------------------------------------------


def _own_agent(cluster: AgentCluster, tmp_path: Path, node: str) -> tuple[AgentProcess, str]:
    agent = AgentProcess(cluster.kubeconfig, tmp_path / "agent", node_name=node, backoff_initial=1)
    agent.start()
    namespace = f"{node}-{int(time.time() * 1000) % 100000}"
    create_agent_namespace(cluster.control_plane, namespace, node_name=node)
    return agent, namespace


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def test_no_process_is_left_after_the_agent_stops(
    agent_cluster: AgentCluster, tmp_path: Path
) -> None:
    agent, namespace = _own_agent(agent_cluster, tmp_path, "axiom-agent-stop")
    try:
        for index in range(2):
            create_pod(agent_cluster, namespace, workload_pod(f"w{index}", workload_container()))
        started = _descendants(agent.pid)
        assert len(started) >= 2
    finally:
        agent.stop()
        api(agent_cluster, "DELETE", f"/api/v1/namespaces/{namespace}")
    _gone, alive = psutil.wait_procs(started, timeout=5)
    assert not alive, [p.pid for p in alive]


def test_no_process_is_left_when_the_agent_is_killed(
    agent_cluster: AgentCluster, tmp_path: Path
) -> None:
    agent, namespace = _own_agent(agent_cluster, tmp_path, "axiom-agent-kill")
    try:
        create_pod(agent_cluster, namespace, workload_pod("w0", workload_container()))
        started = _descendants(agent.pid)
        assert started
        os.kill(agent.pid, signal.SIGKILL)
        _gone, alive = psutil.wait_procs(started, timeout=5)
        assert not alive, [p.pid for p in alive]
    finally:
        agent.stop()
        api(agent_cluster, "DELETE", f"/api/v1/namespaces/{namespace}")
        api(agent_cluster, "DELETE", "/api/v1/nodes/axiom-agent-kill")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-s"]))
