"""``axiom operator`` as a child process that can be killed and started again, like a real one.

The demo and the chaos tests need the operator to die the way a pod does (SIGKILL, mid-write)
and come back with nothing but what the apiserver holds, so it runs as its own process and
not in the test's event loop. Readiness is Kopf's liveness endpoint answering 200, which
happens once the operator has started its watches.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from axiom_devcluster import addresses
from axiom_devcluster.process import Component, log_tail, spawn, terminate_group

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# The operator reads runtime pods' /ready and /metrics (traffic generation, canary analysis)
# only at addresses inside this allowlist; node-agent pods live on 127.19.x.y, and nothing
# the demo or the tests start may be contacted off loopback.
LOOPBACK_POD_NETWORK = {"AXIOM_OPERATOR_POD_NETWORK_ALLOWLIST": "127.0.0.0/8"}


class OperatorStartError(RuntimeError):
    """The operator exited or did not answer its liveness probe in time; holds its log tail."""


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        log_path: Path,
        *,
        tie_to_parent: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.log_path = log_path
        self.tie_to_parent = tie_to_parent
        self.extra_env = dict(extra_env or {})
        self.component: Component | None = None
        self.starts = 0
        self.liveness_port = 0

    @property
    def pid(self) -> int:
        if self.component is None:
            raise RuntimeError("operator not started")
        return self.component.pid

    @property
    def running(self) -> bool:
        return self.component is not None and self.component.exited() is None

    def argv(self) -> list[str]:
        axiom = Path(sys.executable).parent / "axiom"
        # process.spawn passes this process's environment on; `env` (which execs, keeping
        # the pid) adds the operator's own variables without touching ours.
        settings = {"KUBECONFIG": str(self.kubeconfig), **LOOPBACK_POD_NETWORK, **self.extra_env}
        return [
            "env",
            *(f"{key}={value}" for key, value in settings.items()),
            str(axiom),
            "operator",
            "--standalone",
            "--namespace",
            self.namespace,
            "--metrics-port",
            "0",
            "--liveness",
            f"http://{addresses.BIND_IP}:{self.liveness_port}/healthz",
        ]

    def start(self, timeout: float = 60.0) -> OperatorProcess:
        self.liveness_port = addresses.free_port()
        self.component = spawn(
            "axiom-operator", self.argv(), self.log_path, tie_to_parent=self.tie_to_parent
        )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while not self._live():
            code = self.component.exited()
            if code is not None:
                raise OperatorStartError(
                    f"operator exited with code {code}; last lines of {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise OperatorStartError(
                    f"operator not live within {timeout:.0f} s; last lines of {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            time.sleep(0.1)
        return self

    def _live(self) -> bool:
        url = f"http://{addresses.BIND_IP}:{self.liveness_port}/healthz"
        try:
            with _NO_PROXY.open(url, timeout=1) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL, as when a node dies or the OOM killer strikes: no cleanup runs."""
        if self.component is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.component.pid, signal.SIGKILL)
            self.component.process.wait(timeout=10)
            self.component = None

    def stop(self) -> None:
        """SIGTERM (Kopf finishes in-flight handlers), SIGKILL after 10 s."""
        if self.component is not None:
            terminate_group(self.component.pid, timeout=10)
            self.component.process.wait(timeout=5)
            self.component = None

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
