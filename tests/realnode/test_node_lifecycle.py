"""A real node starts, runs a pod in a container behind a Service that kube-proxy routes, and
its stop leaves the host exactly as it was found: links, routes, iptables and ip6tables rules,
mounts, cgroups, sysctls and network namespaces (as the control plane's no-leftover tests do
for processes).

Runs first in the tier (file order) because it starts a node of its own, and only one real node
can run on a machine at a time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from realnode_support import get, http_get, pod_log, pod_ready, service_url, wait_for

from axiom_devcluster.realnode import host, images
from axiom_devcluster.realnode.node import RealCluster, RealNodeStartError
from axiom_devcluster.realnode.pytest_plugin import skip_unless_possible

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SERVE = "import http.server as h; h.ThreadingHTTPServer(('', 8080), h.SimpleHTTPRequestHandler).serve_forever()"


def _web_pod(namespace: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"app": "web"}},
        "spec": {
            "enableServiceLinks": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001},
            "containers": [
                {
                    "name": "web",
                    "image": images.reference("runtime"),
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", SERVE],
                    "workingDir": "/opt/axiom",
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                    "securityContext": {
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def _web_service(namespace: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def test_a_stopped_node_leaves_the_host_as_it_found_it(tmp_path: Path) -> None:
    skip_unless_possible()
    directory = tmp_path / "realnode"
    before = host.snapshot(directory)
    with RealCluster(directory) as cluster:
        plane = cluster.plane
        plane.api_request("POST", "/api/v1/namespaces/default/pods", _web_pod("default"))
        plane.api_request("POST", "/api/v1/namespaces/default/services", _web_service("default"))
        pod = wait_for(
            lambda: (lambda p: p if pod_ready(p) else None)(
                get(plane, "/api/v1/namespaces/default/pods/web")
            ),
            what="pod web Ready",
            timeout=120,
        )
        assert pod["status"]["podIP"].startswith("198.18.250."), pod["status"]
        url = service_url(plane, "default", "web")
        assert url.startswith("http://198.19."), url
        status, _ = wait_for(
            lambda: (lambda r: r if r[0] == 200 else None)(http_get(url)),
            what=f"GET {url} through kube-proxy",
        )
        assert status == 200
        # apiserver -> kubelet by InternalIP with its client certificate: `kubectl logs`.
        assert "GET /" in wait_for(lambda: pod_log(plane, "default", "web") or None, what="pod log")
        during = host.snapshot(directory)
        assert before.differences(during), "the node changed nothing on the host?"
    after = host.snapshot(directory)
    assert before.differences(after) == {}


_START_AND_WAIT = """
import sys, time
from pathlib import Path
from axiom_devcluster.realnode.node import RealCluster
cluster = RealCluster(Path(sys.argv[1])).start()  # held: its locks live as long as it does
print("up", flush=True)
time.sleep(600)
"""


@contextmanager
def a_node_killed_at_the_end(directory: Path) -> Iterator[None]:
    """A node started by another process, SIGKILLed when the block ends: its daemons die
    with it (PDEATHSIG), no stop runs."""
    starter = subprocess.Popen(
        [sys.executable, "-c", _START_AND_WAIT, str(directory)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert starter.stdout is not None and starter.stdout.readline().strip() == "up"
        yield
    finally:
        starter.kill()
        starter.wait(timeout=30)
        time.sleep(2)  # the daemons' PDEATHSIG


def test_a_killed_node_is_cleaned_up_by_name(tmp_path: Path) -> None:
    """SIGKILL of the process that started a node: its daemons die with it (PDEATHSIG) but
    no stop runs; `python -m axiom_devcluster.realnode cleanup --dir` puts the host back."""
    skip_unless_possible()
    directory = tmp_path / "realnode"
    before = host.snapshot(directory)
    with a_node_killed_at_the_end(directory):
        pass
    assert before.differences(host.snapshot(directory)), "the killed node left nothing?"
    done = subprocess.run(
        [sys.executable, "-m", "axiom_devcluster.realnode", "cleanup", "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert before.differences(host.snapshot(directory)) == {}


def test_the_next_node_refuses_a_live_one_and_cleans_up_a_killed_one(tmp_path: Path) -> None:
    """One real node at a time: a second start while one runs is refused, naming it; after
    a SIGKILL (no stop, no cleanup command), the next start removes the leftovers itself
    (what made CI fail once: a run killed mid-tier left its bridge for the next run)."""
    skip_unless_possible()
    killed_dir, next_dir = tmp_path / "killed", tmp_path / "next"
    before = host.snapshot(killed_dir)
    with a_node_killed_at_the_end(killed_dir):
        try:
            second = RealCluster(next_dir).start()
        except RealNodeStartError as refused:
            assert "another real node runs" in str(refused), refused
            assert str(killed_dir.resolve()) in str(refused), refused
        else:
            second.stop()
            pytest.fail("a second real node started beside a live one")
        assert not next_dir.joinpath("node", "host-before.json").exists()
    assert before.differences(host.snapshot(killed_dir)), "the killed node left nothing?"
    with RealCluster(next_dir) as cluster:
        nodes = get(cluster.plane, "/api/v1/nodes")["items"]
        assert [n["metadata"]["name"] for n in nodes] == ["axiom-realnode"]
    assert before.differences(host.snapshot(killed_dir)) == {}
