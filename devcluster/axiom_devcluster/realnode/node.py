"""Start and stop a real node (containerd, kubelet, kube-proxy) joined to a local control
plane, and the cluster around it.

Order at start: locks (one real node per machine: the bridge and /run/axiom-realnode are
machine-wide), the leftovers of a node killed before its stop (found by its bridge while no
live node holds the locks: removed by name, as ``cleanup`` does), the bridge (the apiserver listens on its address), the control plane, the
node's certificates and files, containerd, the images, kubelet, kube-proxy; done when the Node
is Ready. Order at stop: the node's pods are deleted while the kubelet still runs (so it stops
their sandboxes: CNI teardown, network namespaces, mounts), then kubelet and kube-proxy
(``kube-proxy --cleanup`` removes its chains), any task left, containerd and its shims; then
whatever may remain is removed by name (mounts under the node's directories, kubepods cgroups,
KUBE-* chains, the bridge), and the sysctls found at start are put back.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import psutil

from axiom_devcluster import addresses, kubeconfig, nodes, pki
from axiom_devcluster.controlplane import ControlPlane
from axiom_devcluster.process import Component, log_tail, spawn, terminate_group
from axiom_devcluster.realnode import configs, host, images, network, preflight

# Machine-wide (the bridge and /run/axiom-realnode are), in the cache so /run keeps nothing.
# The file also names the directory of the node holding it, so a node killed before its stop
# can be cleaned up by the next one to start.
LOCK_FILE = images.image_dir().parent / "realnode.lock"
# The bridge lives in a network namespace, which two runs may share while their files are not
# (another mount namespace or HOME): an abstract socket's name is per network namespace, and the
# kernel frees it when its holder dies, however it dies.
NAMESPACE_LOCK = "\0axiom-realnode"
logger = logging.getLogger(__name__)
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_POD_LOG_LINKS = Path("/var/log/containers")


class RealNodeStartError(RuntimeError):
    """A node daemon did not start or the Node did not become Ready; holds the log's tail."""


class RealCluster:
    """A control plane on the real node's bridge plus the node. ``with RealCluster(dir) as c``."""

    def __init__(
        self, directory: Path | None = None, *, tie_to_parent: bool = True, timeout: float = 180
    ) -> None:
        self._owns_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="axiom-realnode-")).resolve()
        self.tie_to_parent = tie_to_parent
        self.timeout = timeout
        self.plane = ControlPlane(
            self.directory / "cluster",
            kwok_nodes=0,
            tie_to_parent=tie_to_parent,
            plan=addresses.REALNODE,
        )
        self.node = RealNode(self.plane, self.directory / "node", tie_to_parent=tie_to_parent)
        self._lock: IO[str] | None = None
        self._namespace_lock: socket.socket | None = None
        self.timings: dict[str, float] = {}

    @property
    def kubeconfig(self) -> Path:
        return self.plane.kubeconfig

    def __enter__(self) -> RealCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> RealCluster:
        reason = preflight.why_not()
        if reason:
            raise RealNodeStartError(f"this machine cannot run a real node: {reason}")
        self._take_locks()
        try:
            began = time.monotonic()
            network.create(self.node.directory)
            self.plane.start()
            self.timings["control_plane_s"] = time.monotonic() - began
            began = time.monotonic()
            self.node.start(time.monotonic() + self.timeout)
            self.timings["node_s"] = time.monotonic() - began
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self.node.stop()
        finally:
            self.plane.stop()
            network.remove(self.node.directory)
            self._release_locks()
            if self._owns_directory:
                shutil.rmtree(self.directory, ignore_errors=True)

    def _take_locks(self) -> None:
        """Both locks, or a RealNodeStartError naming the node that holds one. Then, as no
        live node can own it, a bridge found is a killed node's: its leftovers are removed."""
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        lock = LOCK_FILE.open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            lock.close()
            raise RealNodeStartError(
                f"another real node runs on this machine (its directory: {holder}; lock "
                f"{LOCK_FILE})"
            ) from error
        namespace_lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            namespace_lock.bind(NAMESPACE_LOCK)
        except OSError as error:
            namespace_lock.close()
            lock.close()
            raise RealNodeStartError(
                f"another real node runs in this network namespace (it holds the bridge "
                f"{configs.BRIDGE}), started by a run whose files this one cannot see"
            ) from error
        lock.seek(0)
        killed = lock.read().strip()
        self._lock, self._namespace_lock = lock, namespace_lock
        if network.bridge_exists():
            leftover = Path(killed) if killed else self.directory
            logger.warning(
                "bridge %s exists while no real node runs: removing what the node killed "
                "before its stop left (its directory: %s)",
                configs.BRIDGE,
                killed or "unknown",
            )
            cleanup_host(leftover)
        lock.seek(0)
        lock.truncate()
        lock.write(f"{self.directory}\n")
        lock.flush()

    def _release_locks(self) -> None:
        if self._lock is not None:
            self._lock.seek(0)
            self._lock.truncate()
            self._lock.close()
            self._lock = None
        if self._namespace_lock is not None:
            self._namespace_lock.close()
            self._namespace_lock = None


class RealNode:
    """containerd + kubelet + kube-proxy for ``plane``, files under ``directory``."""

    def __init__(self, plane: ControlPlane, directory: Path, *, tie_to_parent: bool) -> None:
        self.plane = plane
        self.directory = directory
        self.tie_to_parent = tie_to_parent
        self.components: dict[str, Component] = {}
        self.layout = configs.NodeLayout(
            directory=directory,
            bin_dir=preflight.node_bin_dir(),
            kubelet_port=addresses.free_port(),
            kubelet_healthz_port=addresses.free_port(),
            proxy_healthz_port=addresses.free_port(),
            proxy_metrics_port=addresses.free_port(),
            sandbox_image=images.reference("pause"),
        )
        self._host_before: host.HostState | None = None

    @property
    def name(self) -> str:
        return configs.NODE_NAME

    def _bin(self, name: str) -> str:
        return str(self.layout.bin_dir / name)

    # -- start ----------------------------------------------------------------------------------

    def start(self, deadline: float) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        configs.RUN_DIR.mkdir(parents=True, exist_ok=True)
        self._write_credentials()
        configs.write_all(self.layout)
        # containerd finds its shim on PATH; nothing else of the host's PATH is needed.
        path = f"{self.layout.bin_dir}:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
        self._spawn(
            "containerd",
            ["/usr/bin/env", f"PATH={path}", self._bin("containerd"),
             f"--config={self.layout.path('containerd.toml')}"],
        )  # fmt: skip
        self._wait("containerd", deadline, self._containerd_up)
        images.import_all(self.layout.bin_dir / "ctr", self.layout.containerd_socket)
        self._spawn(
            "kubelet", ["/usr/bin/env", f"PATH={path}", self._bin("kubelet"),
                        *configs.kubelet_args(self.layout)]
        )  # fmt: skip
        self._spawn(
            "kube-proxy", ["/usr/bin/env", f"PATH={path}", self._bin("kube-proxy"),
                           *configs.kube_proxy_args(self.layout)]
        )  # fmt: skip
        self._wait("kubelet", deadline, self._node_ready)
        self._wait("kube-proxy", deadline, self._proxy_healthy)

    def _write_credentials(self) -> None:
        cluster = self.plane.pki
        node_pki = self.layout.pki
        node_pki.mkdir(parents=True, exist_ok=True)
        shutil.copy(cluster.ca_cert, node_pki / "ca.crt")
        pki.issue(cluster, node_pki / "kubelet.crt", node_pki / "kubelet.key", self.name,
                  server_ips=[self.layout.node_ip])  # fmt: skip
        identities = {
            "kubelet": (f"system:node:{self.name}", "system:nodes"),
            "kube-proxy": ("system:kube-proxy", None),
        }
        for who, (user, group) in identities.items():
            cert, key = node_pki / f"{who}-client.crt", node_pki / f"{who}-client.key"
            pki.issue(cluster, cert, key, user, group)
            kubeconfig.write(
                self.layout.path(f"{who}.kubeconfig"),
                kubeconfig.build(self.plane.server, cluster.ca_cert, cert, key, user),
            )

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = self.directory / "logs" / f"{name}.log"
        self.components[name] = spawn(name, argv, log, tie_to_parent=self.tie_to_parent)

    def _wait(self, name: str, deadline: float, ready: Callable[[], bool]) -> None:
        while not ready():
            for component in self.components.values():
                code = component.exited()
                if code is not None:
                    raise RealNodeStartError(
                        f"{component.name} exited with code {code} while waiting for {name}; "
                        f"last lines of {component.log_path}:\n{component.log_tail()}"
                    )
            if time.monotonic() > deadline:
                log = self.directory / "logs" / f"{name}.log"
                raise RealNodeStartError(f"{name} not ready in time; {log}:\n{log_tail(log)}")
            time.sleep(0.25)

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [self._bin("ctr"), "--address", str(self.layout.containerd_socket),
                "--namespace", "k8s.io", *args]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)

    def _containerd_up(self) -> bool:
        return self.layout.containerd_socket.exists() and self._ctr("version").returncode == 0

    def _node_ready(self) -> bool:
        try:
            node = self.plane.api_request("GET", f"/api/v1/nodes/{self.name}")
        except urllib.error.HTTPError:
            return False
        return nodes.is_ready(node)

    def _proxy_healthy(self) -> bool:
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        url = f"http://127.0.0.1:{self.layout.proxy_healthz_port}/healthz"
        try:
            with opener.open(url, timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    # -- stop -----------------------------------------------------------------------------------

    def stop(self) -> None:
        if "kubelet" in self.components:
            with contextlib.suppress(Exception):
                self._drain(timeout=45)
        for name in ("kubelet", "kube-proxy"):
            self._terminate(name)
        if (
            os.access(self._bin("kube-proxy"), os.X_OK)
            and self.layout.path("kube-proxy.yaml").exists()
        ):
            subprocess.run([self._bin("kube-proxy"), "--cleanup", *configs.kube_proxy_args(self.layout)],
                           capture_output=True, check=False, timeout=60)  # fmt: skip
        if "containerd" in self.components:
            self._remove_tasks()
        self._terminate("containerd")
        self._kill_shims()
        _unmount_under((str(self.directory), str(configs.RUN_DIR)))
        _remove_cgroups()
        network.remove_kube_chains()
        _remove_pod_log_links(self.layout.path("pod-logs"))
        shutil.rmtree(configs.RUN_DIR, ignore_errors=True)

    def _terminate(self, name: str) -> None:
        component = self.components.pop(name, None)
        if component is not None:
            terminate_group(component.pid)
            with contextlib.suppress(Exception):
                component.process.wait(timeout=5)

    def _pods(self) -> list[dict[str, Any]]:
        selector = urllib.parse.quote(f"spec.nodeName={self.name}")
        listed = self.plane.api_request("GET", f"/api/v1/pods?fieldSelector={selector}")
        return list(listed.get("items", []))

    def _drain(self, timeout: float) -> None:
        """Delete the node's pods (grace 0) and wait until the kubelet has stopped their
        sandboxes, so CNI teardown and unmounting are done by the components that own them.
        Cordoned first, so the replacements their controllers make stay Pending."""
        node = self.plane.api_request("GET", f"/api/v1/nodes/{self.name}")
        node["spec"]["unschedulable"] = True
        self.plane.api_request("PUT", f"/api/v1/nodes/{self.name}", node)
        for pod in self._pods():
            meta = pod["metadata"]
            with contextlib.suppress(urllib.error.HTTPError):
                self.plane.api_request(
                    "DELETE",
                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                    {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0},
                )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tasks = self._ctr("tasks", "ls", "-q").stdout.split()
            if not self._pods() and not tasks and not list(Path("/run/netns").glob("cni-*")):
                return
            time.sleep(0.5)

    def _remove_tasks(self) -> None:
        for task in self._ctr("tasks", "ls", "-q").stdout.split():
            self._ctr("tasks", "kill", "--signal", "SIGKILL", task)
        time.sleep(0.5)
        for task in self._ctr("tasks", "ls", "-q").stdout.split():
            self._ctr("tasks", "delete", "--force", task)

    def _kill_shims(self) -> None:
        _kill_shims(Path(self._bin("containerd-shim-runc-v2")))


def _kill_shims(shim: Path) -> None:
    for process in psutil.process_iter(["exe"]):
        if process.info["exe"] == str(shim):
            with contextlib.suppress(psutil.Error):
                process.kill()
                process.wait(timeout=5)


def cleanup_host(directory: Path) -> None:
    """Remove by name what a real node whose process was killed (no ``stop()`` ran) left:
    shims, mounts, cgroups, KUBE-* chains, the bridge, and restore the recorded sysctls.
    ``directory``: the RealCluster's directory. Its daemons died with it (PDEATHSIG)."""
    node_directory = directory / "node"
    _kill_shims(preflight.node_bin_dir() / "containerd-shim-runc-v2")
    _unmount_under((str(node_directory), str(configs.RUN_DIR)))
    _remove_cgroups()
    network.remove_kube_chains()
    _remove_pod_log_links(node_directory / "pod-logs")
    shutil.rmtree(configs.RUN_DIR, ignore_errors=True)
    network.remove(node_directory)


def _unmount_under(prefixes: tuple[str, ...]) -> None:
    points = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for point in sorted((p for p in points if p.startswith(prefixes)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    for netns in Path("/run/netns").glob("cni-*") if Path("/run/netns").exists() else ():
        subprocess.run(["ip", "netns", "delete", netns.name], capture_output=True, check=False)


def _remove_cgroups() -> None:
    """rmdir the kubepods trees, deepest first (a cgroup directory is removed with rmdir)."""
    for hierarchy in _CGROUP_ROOT.iterdir():
        top = hierarchy / "kubepods"
        if not top.is_dir() or hierarchy.is_symlink():
            continue
        for directory in sorted(
            (p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        ):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _remove_pod_log_links(pod_logs: Path) -> None:
    if not _POD_LOG_LINKS.is_dir():
        return
    for link in _POD_LOG_LINKS.iterdir():
        if link.is_symlink() and str(os.readlink(link)).startswith(str(pod_logs)):
            link.unlink()
