"""``axiom operator`` as a child process that can be killed and started again, like a real one.

The demo and the chaos tests need the operator to die the way a pod does (SIGKILL, mid-write)
and come back with nothing but what the apiserver holds, so it runs as its own process and
not in the test's event loop. Readiness is Kopf's liveness endpoint answering 200, which
happens once the operator has started its watches.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

from axiom_devcluster import addresses
from axiom_devcluster.process import ManagedProcess, ProcessStartError

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# The operator reads runtime pods' /ready and /metrics (traffic generation, canary analysis)
# only at addresses inside this allowlist; node-agent pods live on 127.19.x.y, and nothing
# the demo or the tests start may be contacted off loopback.
LOOPBACK_POD_NETWORK = {"AXIOM_OPERATOR_POD_NETWORK_ALLOWLIST": "127.0.0.0/8"}


class OperatorStartError(ProcessStartError):
    """The operator exited or did not answer its liveness probe in time; holds its log tail."""


class OperatorProcess(ManagedProcess):
    name = "axiom-operator"
    start_error = OperatorStartError
    stop_timeout = 10.0  # SIGTERM lets Kopf finish in-flight handlers first

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        log_path: Path,
        *,
        tie_to_parent: bool = True,
        extra_env: dict[str, str] | None = None,
        peering: str | None = None,
        priority: int | None = None,
    ) -> None:
        """``peering``: run as one replica among several (Kopf peering under that name, the
        highest ``priority`` acts, the others stand by); None: ``--standalone``."""
        super().__init__(log_path, tie_to_parent=tie_to_parent)
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.extra_env = dict(extra_env or {})
        self.peering = peering
        self.priority = priority
        self.liveness_port = 0

    def prepare(self) -> None:
        self.liveness_port = addresses.free_port()

    def argv(self) -> list[str]:
        axiom = Path(sys.executable).parent / "axiom"
        # process.spawn passes this process's environment on; `env` (which execs, keeping
        # the pid) adds the operator's own variables without touching ours.
        settings = {"KUBECONFIG": str(self.kubeconfig), **LOOPBACK_POD_NETWORK, **self.extra_env}
        peering = ["--standalone"] if self.peering is None else ["--peering", self.peering]
        if self.priority is not None:
            peering += ["--priority", str(self.priority)]
        return [
            "env",
            *(f"{key}={value}" for key, value in settings.items()),
            str(axiom),
            "operator",
            *peering,
            "--namespace",
            self.namespace,
            "--metrics-port",
            "0",
            "--liveness",
            f"http://{addresses.BIND_IP}:{self.liveness_port}/healthz",
        ]

    def ready(self) -> bool:
        url = f"http://{addresses.BIND_IP}:{self.liveness_port}/healthz"
        try:
            with _NO_PROXY.open(url, timeout=1) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False
