"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, started as local processes in one directory.

Why not a mock or kind: the operator must meet the real API (CRD schemas and CEL rules,
server-side apply, watches, garbage collection, Deployment rollouts) and these machines have
no Docker. Start order matters: etcd, then the apiserver (its /readyz only passes once its
post-start hooks have created the bootstrap RBAC policy), then the controllers, the scheduler
and kwok against it; then the nodes are registered and awaited.

Layout of the directory (also the contract with ``down`` of the CLI)::

    <dir>/admin.kubeconfig   cluster-admin (O=system:masters), certificates embedded
    <dir>/pki/               CA, serving cert, component client certs, service-account keys
    <dir>/etcd/              etcd data
    <dir>/logs/<name>.log    one log per component
    <dir>/kwok.yaml          kwok configuration and stages
    <dir>/state.json         server URL, ports and pids (what ``down`` reads)
"""

from __future__ import annotations

import contextlib
import json
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from axiom_devcluster import addresses, binaries, component_args, nodes, pki
from axiom_devcluster.component_args import ADMIN_KUBECONFIG, Layout, Ports
from axiom_devcluster.process import Component, log_tail, spawn, terminate_group

STATE_FILE = "state.json"
# Teardown order: dependents first, so nothing logs storms of errors about a vanished apiserver
# while it is itself being stopped.
_STOP_ORDER = ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")


# Every address here is loopback: never route these requests through an HTTP(S)_PROXY from
# the environment.
_NO_PROXY = urllib.request.ProxyHandler({})


def _urlopen(
    request: urllib.request.Request | str, context: ssl.SSLContext | None, timeout: float
) -> Any:
    opener = urllib.request.build_opener(_NO_PROXY, urllib.request.HTTPSHandler(context=context))
    return opener.open(request, timeout=timeout)


@dataclass(frozen=True)
class RestartTimes:
    """Seconds one ``ControlPlane.restart`` spent: until the old process exited (a
    kube-apiserver drains its watches first), kept down, and until the new one was healthy."""

    stopping: float
    down: float
    starting: float

    @property
    def total(self) -> float:
        return self.stopping + self.down + self.starting

    def describe(self) -> str:
        return (
            f"{self.total:.1f} s in all: {self.stopping:.1f} s stopping, {self.down:.1f} s down, "
            f"{self.starting:.1f} s starting"
        )


class ControlPlaneStartError(RuntimeError):
    """A component did not start or become ready; the message holds the tail of its log."""


class ControlPlane:
    """Start with ``start()`` (or ``with ControlPlane(...) as cp:``), stop with ``stop()``.

    ``tie_to_parent=True`` (tests): every component dies with this process, even on SIGKILL.
    The kernel ties them to the *thread* that called ``start()`` (PR_SET_PDEATHSIG fires when
    that thread exits), so call it from a thread that lives as long as the cluster should,
    normally the main thread; not from ``asyncio.to_thread`` or a short-lived worker.
    ``tie_to_parent=False`` (``python -m axiom_devcluster up``): components outlive it and are
    stopped later by ``stop_from_state(directory)``.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        kwok_nodes: int = 1,
        kwok_pods_per_node: int = nodes.DEFAULT_PODS_PER_NODE,
        tie_to_parent: bool = True,
        start_timeout: float = 90.0,
        audit_log: bool = False,
        plan: addresses.AddressPlan = addresses.LOOPBACK,
    ) -> None:
        self._owns_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="axiom-cluster-")).resolve()
        self.kwok_nodes = kwok_nodes
        self.kwok_pods_per_node = kwok_pods_per_node
        # Benchmarks count each client's writes from the apiserver's own audit log
        # (``audit_log_path``): every write, whoever's library sent it, is counted once.
        self.audit_log = audit_log
        self.tie_to_parent = tie_to_parent
        self.start_timeout = start_timeout
        self.plan = plan
        self.ports = Ports.allocate()
        self.components: dict[str, Component] = {}
        self._pki: pki.PkiPaths | None = None

    # -- what users of a running cluster need -------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://{self.plan.apiserver_ip}:{self.ports.apiserver}"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / ADMIN_KUBECONFIG

    @property
    def pki(self) -> pki.PkiPaths:
        if self._pki is None:
            raise RuntimeError("control plane not started: no PKI yet")
        return self._pki

    @property
    def layout(self) -> Layout:
        return Layout(self.directory, self.ports, self.pki, self.plan)

    @property
    def pids(self) -> dict[str, int]:
        return {name: component.pid for name, component in self.components.items()}

    @property
    def audit_log_path(self) -> Path:
        return component_args.audit_log_path(self.layout)

    def log_path(self, component: str) -> Path:
        return self.directory / "logs" / f"{component}.log"

    def rss_bytes(self) -> dict[str, int]:
        """Resident memory of each component (with any children), via psutil."""
        import psutil

        usage: dict[str, int] = {}
        for name, pid in self.pids.items():
            process = psutil.Process(pid)
            family = [process, *process.children(recursive=True)]
            usage[name] = sum(p.memory_info().rss for p in family)
        return usage

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        deadline = time.monotonic() + self.start_timeout
        try:
            self._start(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, deadline: float) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._pki = pki.generate(
            self.directory / "pki", self.plan.apiserver_ip, self.plan.first_service_ip
        )
        component_args.write_kubeconfigs(self.layout)
        component_args.write_kwok_config(self.layout)

        self._spawn("etcd", component_args.etcd_args(self.layout))
        self._write_state()
        self._wait("etcd", deadline, self._etcd_healthy)

        self._spawn(
            "kube-apiserver", component_args.apiserver_args(self.layout, audit=self.audit_log)
        )
        self._write_state()
        self._wait("kube-apiserver", deadline, lambda: self._api_ok("/readyz"))

        self._spawn("kube-controller-manager", component_args.controller_manager_args(self.layout))
        self._spawn("kube-scheduler", component_args.scheduler_args(self.layout))
        self._spawn("kwok", component_args.kwok_args(self.layout))
        self._write_state()

        for index in range(self.kwok_nodes):
            self.api_request(
                "POST", "/api/v1/nodes", nodes.kwok_node(index, self.kwok_pods_per_node)
            )
        self._wait(
            "kube-controller-manager",
            deadline,
            lambda: self._component_healthy(self.ports.controller_manager),
        )
        self._wait(
            "kube-scheduler", deadline, lambda: self._component_healthy(self.ports.scheduler)
        )
        self._wait("kwok", deadline, self._kwok_nodes_ready)
        # The serviceaccount controller creates default/default; pods cannot be admitted into a
        # namespace before its default ServiceAccount exists.
        self._wait("kube-controller-manager", deadline, self._default_service_account_exists)

    def stop(self) -> None:
        """Stop every component (SIGTERM, then SIGKILL after 10 s) and wait for each."""
        for name in _STOP_ORDER:
            component = self.components.pop(name, None)
            if component is not None:
                terminate_group(component.pid)
                with contextlib.suppress(Exception):
                    component.process.wait(timeout=1)
        self._write_state()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def restart(
        self, component: str, *, down_for: float = 0.0, timeout: float = 60.0
    ) -> RestartTimes:
        """Stop one component (SIGTERM, as a rolling control-plane upgrade does), keep it down
        for ``down_for`` seconds, start it again with the same arguments and ports, and wait
        until it is healthy. For chaos tests: everything else keeps running meanwhile.
        Returns how long each part took: the outage a client saw is their sum."""
        how = self._restartable()
        if component not in how:
            raise ValueError(f"restart: unknown component {component!r}; one of {sorted(how)}")
        args, healthy = how[component]
        began = time.monotonic()
        running = self.components.pop(component, None)
        if running is not None:
            terminate_group(running.pid)
            with contextlib.suppress(Exception):
                running.process.wait(timeout=10)
        stopped = time.monotonic()
        time.sleep(down_for)
        spawned = time.monotonic()
        self._spawn(component, args())
        self._write_state()
        self._wait(component, time.monotonic() + timeout, healthy)
        return RestartTimes(
            stopping=stopped - began, down=spawned - stopped, starting=time.monotonic() - spawned
        )

    def _restartable(self) -> dict[str, tuple[Callable[[], list[str]], Callable[[], bool]]]:
        return {
            "etcd": ((lambda: component_args.etcd_args(self.layout)), self._etcd_healthy),
            "kube-apiserver": (
                (lambda: component_args.apiserver_args(self.layout, audit=self.audit_log)),
                lambda: self._api_ok("/readyz"),
            ),
            "kube-controller-manager": (
                (lambda: component_args.controller_manager_args(self.layout)),
                lambda: self._component_healthy(self.ports.controller_manager),
            ),
            "kube-scheduler": (
                (lambda: component_args.scheduler_args(self.layout)),
                lambda: self._component_healthy(self.ports.scheduler),
            ),
        }

    # -- processes ------------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> None:
        argv = [str(binaries.binary(name)), *args]
        self.components[name] = spawn(
            name, argv, self.log_path(name), tie_to_parent=self.tie_to_parent
        )

    def _write_state(self) -> None:
        if not self.directory.exists():
            return
        state = {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "ports": asdict(self.ports),
            "pids": self.pids,
        }
        (self.directory / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _wait(self, name: str, deadline: float, ready: Callable[[], bool]) -> None:
        while True:
            for component in self.components.values():
                code = component.exited()
                if code is not None:
                    raise ControlPlaneStartError(
                        f"{component.name} exited with code {code} while waiting for {name}; "
                        f"last lines of {component.log_path}:\n{component.log_tail()}"
                    )
            if ready():
                return
            if time.monotonic() > deadline:
                raise ControlPlaneStartError(
                    f"{name} not ready within {self.start_timeout:.0f} s; "
                    f"last lines of {self.log_path(name)}:\n{log_tail(self.log_path(name))}"
                )
            time.sleep(0.2)

    # -- talking to the components -------------------------------------------------------------

    def _admin_tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def api_request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call to the apiserver as cluster-admin; returns the decoded JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        with _urlopen(request, self._admin_tls(), timeout=10) as answer:
            return json.loads(answer.read() or b"null")

    def _api_ok(self, path: str) -> bool:
        try:
            with _urlopen(self.server + path, self._admin_tls(), timeout=5) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _etcd_healthy(self) -> bool:
        url = f"http://{addresses.BIND_IP}:{self.ports.etcd_client}/health"
        try:
            with _urlopen(url, None, timeout=2) as answer:
                return bool(json.loads(answer.read()).get("health") == "true")
        except (urllib.error.URLError, OSError, ValueError):
            return False

    @staticmethod
    def _component_healthy(port: int) -> bool:
        # The components serve /healthz with a self-signed certificate of their own making;
        # the address is loopback and the answer carries no secret, so it is not verified.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        url = f"https://{addresses.BIND_IP}:{port}/healthz"
        try:
            with _urlopen(url, context, timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _kwok_nodes_ready(self) -> bool:
        listed = self.api_request(
            "GET", f"/api/v1/nodes?labelSelector=type%3D{nodes.KWOK_NODE_TYPE}"
        )
        ready = [node for node in listed.get("items", []) if nodes.is_ready(node)]
        return len(ready) >= self.kwok_nodes

    def _default_service_account_exists(self) -> bool:
        try:
            self.api_request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise
        return True


def read_state(directory: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((Path(directory) / STATE_FILE).read_text())
    return state


def _runs_component(pid: int, name: str) -> bool:
    import psutil

    try:
        return bool(Path(psutil.Process(pid).exe()).name == name)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def stop_from_state(directory: Path) -> list[str]:
    """Stop a detached control plane recorded in ``directory``; returns the names stopped."""
    state_path = Path(directory) / STATE_FILE
    if not state_path.exists():
        return []
    pids: dict[str, int] = read_state(directory).get("pids", {})
    stopped = []
    for name in _STOP_ORDER:
        pid = pids.get(name)
        # A pid from a file may have been reused since (after a reboot, say): only stop a
        # process that still runs the component's binary.
        if pid is not None and _runs_component(pid, name):
            terminate_group(pid)
            stopped.append(name)
    state = read_state(directory)
    state["pids"] = {}
    state_path.write_text(json.dumps(state, indent=2) + "\n")
    return stopped
