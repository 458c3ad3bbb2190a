"""One pod on an agent node: volumes, processes, probes, restarts, status, termination.

A ``PodWorker`` owns everything of one pod UID, the way the kubelet's pod worker does. Each
container gets a ``ContainerRunner`` (start, probe, restart with back-off); the worker writes
the pod's status whenever the built status differs from the last one written, and on
deletion stops the processes (SIGTERM, grace period, SIGKILL) before removing the pod object
for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from axiom_devcluster.agent import atomic_writer, projection, status
from axiom_devcluster.agent.config import AgentConfig
from axiom_devcluster.agent.container import ContainerRunner
from axiom_devcluster.agent.podspec import (
    ContainerConfigError,
    ObjectLookup,
    PodFacts,
    PodPaths,
    ProcessSpec,
    process_spec,
)

log = logging.getLogger(__name__)


class PodApi(Protocol):
    """What a worker needs from the API side of the agent."""

    async def write_pod_status(
        self, pod: Mapping[str, Any], status: dict[str, Any]
    ) -> Mapping[str, Any]:
        """Write the pod's status; the pod as the apiserver answered the write."""
        ...

    async def emit_event(
        self, pod: Mapping[str, Any], kind: str, reason: str, message: str
    ) -> None: ...
    async def remove_pod(self, pod: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class WorkerContext:
    config: AgentConfig
    api: PodApi
    lookup: ObjectLookup
    http: aiohttp.ClientSession
    node_name: str
    host_ip: str


def resource_version(obj: Mapping[str, Any]) -> int:
    """An object's resourceVersion as a number (etcd's revision; 0 when absent). Kubernetes
    calls it opaque, but it is etcd's modification revision in every apiserver we run."""
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


def pod_dir_name(pod: Mapping[str, Any]) -> str:
    meta = pod["metadata"]
    return f"{meta['namespace']}_{meta['name']}_{meta['uid']}"


class PodWorker:
    """Everything the agent does for one pod UID."""

    def __init__(self, pod: dict[str, Any], pod_ip: str, ctx: WorkerContext) -> None:
        self.pod = pod
        self.pod_ip = pod_ip
        self.ctx = ctx
        meta = pod["metadata"]
        self.name = str(meta["name"])
        self.namespace = str(meta["namespace"])
        self.uid = str(meta["uid"])
        self.paths_root = ctx.config.state_dir / "pods" / pod_dir_name(pod)
        self.start_time = status.now_rfc3339()
        self.stopping = asyncio.Event()
        self.runners = [ContainerRunner(self, c) for c in pod["spec"].get("containers") or []]
        self._dirty = asyncio.Event()
        self._last_status: dict[str, Any] | None = None
        self._last_written_version = 0  # resourceVersion of our last status write
        self._writing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._containers_task: asyncio.Task[None] | None = None
        self._volume_error: str | None = None
        self._done = asyncio.Event()
        self._terminating = False

    # ---- paths and specs ------------------------------------------------------------

    def facts(self) -> PodFacts:
        return PodFacts(self.pod, self.pod_ip, self.ctx.host_ip, self.ctx.node_name)

    def paths(self) -> PodPaths:
        volumes: dict[str, Path] = {}
        for volume in self.pod["spec"].get("volumes") or []:
            name = str(volume["name"])
            if "hostPath" in volume:
                volumes[name] = Path(str(volume["hostPath"]["path"]))
            else:
                volumes[name] = self.paths_root / "volumes" / name
        return PodPaths(
            root=self.paths_root / "root",
            home=self.paths_root / "home",
            tmp=self.paths_root / "tmp",
            volumes=volumes,
        )

    def build_spec(self, container: Mapping[str, Any]) -> ProcessSpec:
        if self._volume_error is not None:
            raise ContainerConfigError(self._volume_error)
        return process_spec(
            container,
            self.facts(),
            self.paths(),
            self.ctx.lookup,
            executables=self.ctx.config.executables,
            default_command=self.ctx.config.default_command,
        )

    def grace_seconds(self) -> float:
        meta_grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        if meta_grace is not None:
            return float(meta_grace)
        return float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))

    # ---- volumes --------------------------------------------------------------------

    def materialise_volumes(self) -> bool:
        """Create or refresh every volume; returns True when some file content changed."""
        paths = self.paths()
        for directory in (paths.root, paths.home, paths.tmp):
            directory.mkdir(parents=True, exist_ok=True)
        changed = False
        errors: list[str] = []
        for volume in self.pod["spec"].get("volumes") or []:
            kind = projection.volume_kind(volume)
            target = paths.volumes[str(volume["name"])]
            if kind == "emptyDir":
                target.mkdir(parents=True, exist_ok=True)
            elif kind in projection.PROJECTED_KINDS:
                try:
                    payload = projection.volume_payload(volume, self.facts(), self.ctx.lookup)
                except ContainerConfigError as error:
                    errors.append(str(error))
                    continue
                changed |= atomic_writer.write_atomic(target, payload)
            elif kind != "hostPath":
                errors.append(f"volume {volume['name']!r}: kind {kind!r} is not supported")
        self._volume_error = "; ".join(errors) or None
        return changed

    def references(self, kind: str, name: str) -> bool:
        if (kind, name) in projection.referenced_objects(self.pod):
            return True
        for container in self.pod["spec"].get("containers") or []:
            for source in container.get("envFrom") or []:
                ref = source.get("configMapRef" if kind == "ConfigMap" else "secretRef")
                if ref and ref.get("name") == name:
                    return True
            for var in container.get("env") or []:
                value_from = var.get("valueFrom") or {}
                ref = value_from.get("configMapKeyRef" if kind == "ConfigMap" else "secretKeyRef")
                if ref and ref.get("name") == name:
                    return True
        return False

    def refresh_volumes(self) -> None:
        if self._terminating:
            return
        try:
            if self.materialise_volumes():
                log.info("pod %s/%s: volumes updated", self.namespace, self.name)
        except OSError as error:
            log.warning("pod %s/%s: volume refresh failed: %s", self.namespace, self.name, error)

    # ---- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self.paths_root.mkdir(parents=True, exist_ok=True)
        self.materialise_volumes()
        self._tasks.append(asyncio.create_task(self._status_writer()))
        self._containers_task = asyncio.create_task(self._run_containers())
        self._tasks.append(self._containers_task)
        self.changed()

    async def _run_containers(self) -> None:
        await asyncio.gather(*(runner.run() for runner in self.runners))
        self.changed()

    def update(self, pod: dict[str, Any]) -> None:
        """A newer version of the pod object arrived (labels, deletion, ...)."""
        old_meta = self.pod["metadata"]
        self.pod = pod
        if pod["metadata"].get("labels") != old_meta.get("labels") or pod["metadata"].get(
            "annotations"
        ) != old_meta.get("annotations"):
            self.refresh_volumes()
        self._write_back_if_overwritten()

    def _write_back_if_overwritten(self) -> None:
        """Someone else wrote our pod's status after our last write (the node lifecycle
        controller's Ready=False after a lost Lease): write ours again, as the kubelet does.
        Not compared: pod objects older than our last write (they hold what it replaced) and
        any while a write is in flight (its echo may come before its answer); a write's end
        calls this again with the newest object."""
        written = self._last_status
        if (
            written is None
            or self._writing
            or self._terminating
            or resource_version(self.pod) < self._last_written_version
            or not status.diverged(written, self.pod.get("status") or {})
        ):
            return
        log.info(
            "status of %s/%s changed by another component: writing it again",
            self.namespace,
            self.name,
        )
        self._last_status = None
        self.changed()

    def changed(self) -> None:
        self._dirty.set()

    async def event(self, kind: str, reason: str, message: str) -> None:
        try:
            await self.ctx.api.emit_event(self.pod, kind, reason, message)
        except Exception as error:  # events are best effort, like the kubelet's
            log.debug("event %s for %s failed: %s", reason, self.name, error)

    def build_status(self) -> dict[str, Any]:
        previous = status.conditions_by_type(self._last_status or {})
        view = status.PodView(
            pod_ip=self.pod_ip,
            host_ip=self.ctx.host_ip,
            start_time=self.start_time,
            containers=[runner.view for runner in self.runners],
            restart_policy=str(self.pod["spec"].get("restartPolicy", "Always")),
            previous_conditions=previous,
        )
        return status.pod_status(view, status.now_rfc3339())

    async def _status_writer(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self.flush_status()
            # Coalesce bursts of changes into one write.
            await asyncio.sleep(0.05)

    async def flush_status(self) -> None:
        new_status = self.build_status()
        if new_status == self._last_status:
            return
        self._writing = True
        try:
            answer = await self.ctx.api.write_pod_status(self.pod, new_status)
            self._last_written_version = resource_version(answer)
            self._last_status = new_status
        except Exception as error:
            log.warning("status of %s/%s not written: %s", self.namespace, self.name, error)
            self._dirty.set()
            await asyncio.sleep(1.0)
        finally:
            self._writing = False
        self._write_back_if_overwritten()

    async def terminate(self, grace: float, *, remove: bool) -> None:
        """Stop every process (SIGTERM, ``grace`` s, SIGKILL); then delete the pod object."""
        if self._terminating:
            await self._done.wait()
            return
        self._terminating = True
        self.stopping.set()
        await asyncio.gather(*(runner.stop(grace) for runner in self.runners))
        if self._containers_task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._containers_task, timeout=5.0)
        await self.flush_status()
        for task in self._tasks:
            task.cancel()
        if remove:
            try:
                await self.ctx.api.remove_pod(self.pod)
            except Exception as error:
                log.warning("pod %s/%s not removed: %s", self.namespace, self.name, error)
        shutil.rmtree(self.paths_root / "volumes", ignore_errors=True)
        self._done.set()

    def process_ids(self) -> list[int]:
        return [
            runner.running.pid
            for runner in self.runners
            if runner.running is not None and runner.running.process.returncode is None
        ]
