"""A real Prometheus server on loopback that scrapes the node agent's runtime pods.

The rollout analysis can read its figures from Prometheus (``spec.rollout.analysis.
prometheus``); the test of that path needs a real server doing what one does in a cluster:
discover pods through the Kubernetes API (``kubernetes_sd_configs``, role pod, against the
local apiserver), keep the ones annotated ``prometheus.io/scrape``, scrape their /metrics
and attach the pod's namespace as a label. The binary is built from its Go module by
``hack/cluster/build.sh`` like the control plane's.

Safety: only pods of the given namespaces are discovered, and a relabel rule keeps only
targets whose pod IP is loopback (the node agent's 127.19.x.y): pods of the fake kwok
nodes report 198.18.x.y addresses that nothing may ever dial.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from axiom_devcluster import addresses, binaries
from axiom_devcluster.process import ManagedProcess, ProcessStartError

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# The Go HTTP client honours these; the apiserver and the pods are on loopback.
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")


class PrometheusStartError(ProcessStartError):
    """Prometheus exited or did not become ready in time; holds its log tail."""


def scrape_config(
    kubeconfig: Path, namespaces: list[str], *, interval: str = "1s"
) -> dict[str, Any]:
    """prometheus.yml: the runtime pods of ``namespaces``, the usual pod relabelling."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": "axiom-runtime",
                "scrape_timeout": interval,
                "kubernetes_sd_configs": [
                    {
                        "role": "pod",
                        "kubeconfig_file": str(kubeconfig),
                        "namespaces": {"names": list(namespaces)},
                    }
                ],
                "relabel_configs": [
                    {
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                        "regex": "true",
                        "action": "keep",
                    },
                    {  # loopback pod addresses only: see the module docstring
                        "source_labels": ["__meta_kubernetes_pod_ip"],
                        "regex": r"127\.[0-9]+\.[0-9]+\.[0-9]+",
                        "action": "keep",
                    },
                    {
                        "source_labels": [
                            "__meta_kubernetes_pod_ip",
                            "__meta_kubernetes_pod_annotation_prometheus_io_port",
                        ],
                        "regex": r"(.+);([0-9]+)",
                        "replacement": "$1:$2",
                        "target_label": "__address__",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_namespace"],
                        "target_label": "namespace",
                    },
                    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
                ],
            }
        ],
    }


class PrometheusServer(ManagedProcess):
    """``prometheus`` scraping the runtime pods of ``namespaces``; a context manager."""

    name = "prometheus"
    start_error = PrometheusStartError

    def __init__(
        self,
        kubeconfig: Path,
        namespaces: list[str],
        workdir: Path,
        *,
        basic_auth: tuple[str, str, str] | None = None,
    ) -> None:
        """``basic_auth``: (user, password, bcrypt hash of the password): the server then
        refuses every request without them (Prometheus' own ``--web.config.file``), and
        this helper sends them."""
        super().__init__(workdir / "prometheus.log")
        self.kubeconfig = kubeconfig
        self.namespaces = namespaces
        self.workdir = workdir
        self.basic_auth = basic_auth
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{addresses.BIND_IP}:{self.port}"

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = scrape_config(self.kubeconfig, self.namespaces)
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        if self.basic_auth is not None:
            user, _password, hashed = self.basic_auth
            web = {"basic_auth_users": {user: hashed}}
            (self.workdir / "web.yml").write_text(yaml.safe_dump(web))
        self.port = addresses.free_port()

    def argv(self) -> list[str]:
        return [
            "env",
            *(f"-u{name}" for name in _PROXY_VARIABLES),
            str(binaries.binary("prometheus")),
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={addresses.BIND_IP}:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
            *([f"--web.config.file={self.workdir / 'web.yml'}"] if self.basic_auth else []),
        ]

    def _open(self, url: str, timeout: float) -> Any:
        request = urllib.request.Request(url)
        if self.basic_auth is not None:
            user, password, _hash = self.basic_auth
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        return _NO_PROXY.open(request, timeout=timeout)

    def ready(self) -> bool:
        try:
            with self._open(f"{self.url}/-/ready", timeout=2) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result list of an instant query (for tests to see what the server has)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with self._open(url, timeout=5) as reply:
            answer = json.load(reply)
        if answer.get("status") != "success":
            raise RuntimeError(f"query {promql!r} failed: {answer}")
        return list(answer["data"]["result"])

    def active_targets(self) -> list[dict[str, Any]]:
        with self._open(f"{self.url}/api/v1/targets?state=active", timeout=5) as reply:
            return list(json.load(reply)["data"]["activeTargets"])
