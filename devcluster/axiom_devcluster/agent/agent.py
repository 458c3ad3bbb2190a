"""The node agent: watches the API and drives pod workers and the service proxy.

One asyncio program: it registers its Node(s), keeps their Leases, watches pods bound to
them, ConfigMaps and Secrets (a cache the workers read env and volumes from, refreshed on
every change, so a mounted file follows its ConfigMap within a second), and Services (for
the proxy). ``stop()`` ends every process it started, removes its pods and its Node(s).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
import socket
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Event, Pod, Secret, Service
from lightkube.types import PatchType

from axiom_devcluster import addresses
from axiom_devcluster.agent import node, placement, status
from axiom_devcluster.agent.config import AgentConfig
from axiom_devcluster.agent.ipam import LoopbackPool
from axiom_devcluster.agent.podworker import PodWorker, WorkerContext
from axiom_devcluster.agent.proxy import ServiceProxy

log = logging.getLogger(__name__)
_WATCH_RETRY_SECONDS = 1.0
_HEARTBEAT_RETRY_SECONDS = 1.0
COMPONENT = "axiom-node-agent"


def container_ports(pod: Mapping[str, Any]) -> list[int]:
    return [
        int(port["containerPort"])
        for container in pod["spec"].get("containers") or []
        for port in container.get("ports") or []
        if str(port.get("protocol", "TCP")) == "TCP"
    ]


def ports_free(address: Any, ports: list[int]) -> bool:
    """Whether nothing (e.g. another agent's pod) listens on ``address`` at these ports."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((str(address), port))
            except OSError:
                return False
    return True


class NodeAgent:
    def __init__(self, kubeconfig: Path, config: AgentConfig) -> None:
        self.kubeconfig = kubeconfig
        self.config = config
        self.client = AsyncClient(
            config=KubeConfig.from_file(str(kubeconfig)),
            field_manager=COMPONENT,
            trust_env=False,
        )
        self.pool = LoopbackPool(
            config.pod_cidr, start_offset=random.randrange(config.pod_cidr.num_addresses // 2)
        )
        self.proxy = ServiceProxy(
            addresses.SERVICE_CIDR, config.pod_cidr, config.proxy_connect_timeout
        )
        self.workers: dict[str, PodWorker] = {}
        self.pods: dict[str, dict[str, Any]] = {}  # uid -> latest pod object on our nodes
        self.refused: set[str] = set()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None
        self._stopped = asyncio.Event()
        self._terminating: dict[str, asyncio.Task[None]] = {}

    # ---- lookups for workers ----------------------------------------------------------

    def lookup(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    # ---- API side for workers (PodApi) --------------------------------------------------

    async def write_pod_status(
        self, pod: Mapping[str, Any], pod_status: dict[str, Any]
    ) -> dict[str, Any]:
        meta = pod["metadata"]
        written = await self.client.patch(
            Pod.Status,
            meta["name"],
            {"status": pod_status},
            namespace=meta["namespace"],
            patch_type=PatchType.MERGE,
        )
        return written.to_dict()

    async def emit_event(
        self, pod: Mapping[str, Any], kind: str, reason: str, message: str
    ) -> None:
        meta = pod["metadata"]
        now = datetime.datetime.now(datetime.UTC)
        event = Event(
            metadata=ObjectMeta(
                name=f"{meta['name']}.{uuid.uuid4().hex[:12]}", namespace=meta["namespace"]
            ),
            involvedObject=ObjectReference(
                apiVersion="v1",
                kind="Pod",
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta["uid"],
            ),
            reason=reason,
            message=message,
            type=kind,
            source=EventSource(component=COMPONENT, host=pod["spec"].get("nodeName")),
            firstTimestamp=now,
            lastTimestamp=now,
            count=1,
            reportingComponent=COMPONENT,
            reportingInstance=str(pod["spec"].get("nodeName", "")),
        )
        await self.client.create(event)

    async def remove_pod(self, pod: Mapping[str, Any]) -> None:
        meta = pod["metadata"]
        try:
            await self.client.delete(Pod, meta["name"], namespace=meta["namespace"], grace_period=0)
        except ApiError as error:
            if error.status.code != 404:
                raise

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self._http = aiohttp.ClientSession(trust_env=False)
        await self._prime_objects()
        for name in self.config.node_names:
            await node.register(self.client, name)
            await node.renew_lease(self.client, name, self.config.lease_duration_seconds)
        self._tasks += [
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(self._watch_objects(ConfigMap, "ConfigMap")),
            asyncio.create_task(self._watch_objects(Secret, "Secret")),
            asyncio.create_task(self._watch_services()),
        ]
        for name in self.config.node_names:
            self._tasks.append(asyncio.create_task(self._watch_pods(name)))
        log.info(
            "agent started: nodes %s, pods on %s",
            ", ".join(self.config.node_names),
            self.config.pod_cidr,
        )

    async def stop(self) -> None:
        """Stop every process, remove the pods and the Node(s), close listeners."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        grace = self.config.shutdown_grace_seconds
        await asyncio.gather(
            *(
                worker.terminate(min(worker.grace_seconds(), grace), remove=True)
                for worker in self.workers.values()
            ),
            return_exceptions=True,
        )
        self.workers.clear()
        await self.proxy.close()
        for name in self.config.node_names:
            with contextlib.suppress(Exception):
                await node.unregister(self.client, name)
        if self._http is not None:
            await self._http.close()
        await self.client.close()
        self._stopped.set()

    def process_ids(self) -> list[int]:
        return [pid for worker in self.workers.values() for pid in worker.process_ids()]

    # ---- loops ------------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Renew each Lease every ``lease_renew_interval`` s and retry a failed renewal after
        ``_HEARTBEAT_RETRY_SECONDS`` (the kubelet backs off from 200 ms). After an apiserver
        restart the node lifecycle controller must see a renewal well inside its grace
        period, or it marks the node Unknown and every pod on it Ready=False, which takes
        them out of their Services. The node's status is reported every
        ``node_status_interval`` s, and at once when the apiserver holds the node not Ready
        (that controller set it Unknown): the kubelet, too, writes its Ready back."""
        loop = asyncio.get_running_loop()
        reported = {name: loop.time() for name in self.config.node_names}
        delay = self.config.lease_renew_interval
        while True:
            await asyncio.sleep(delay)
            delay = self.config.lease_renew_interval
            for name in self.config.node_names:
                try:
                    await node.renew_lease(self.client, name, self.config.lease_duration_seconds)
                    due = loop.time() - reported[name] >= self.config.node_status_interval
                    if due or not await node.is_ready(self.client, name):
                        await node.report_status(self.client, name)
                        reported[name] = loop.time()
                except Exception as error:
                    log.warning("heartbeat of %s failed: %s", name, error)
                    delay = _HEARTBEAT_RETRY_SECONDS

    async def _prime_objects(self) -> None:
        for resource, kind in ((ConfigMap, "ConfigMap"), (Secret, "Secret")):
            async for obj in self.client.list(resource, namespace="*"):
                self._store(kind, obj.to_dict())  # type: ignore[attr-defined]

    def _store(self, kind: str, obj: dict[str, Any]) -> tuple[str, str, str]:
        meta = obj["metadata"]
        key = (kind, meta["namespace"], meta["name"])
        self.objects[key] = obj
        return key

    async def _watch_objects(self, resource: Any, kind: str) -> None:
        while True:
            try:
                async for event, obj in self.client.watch(resource, namespace="*"):
                    data = obj.to_dict()
                    key = self._store(kind, data)
                    if event == "DELETED":
                        self.objects.pop(key, None)
                    self._object_changed(key)
            except (ApiError, aiohttp.ClientError, OSError, Exception) as error:  # keep watching
                log.warning("watch %s failed: %s", kind, error)
                await asyncio.sleep(_WATCH_RETRY_SECONDS)

    def _object_changed(self, key: tuple[str, str, str]) -> None:
        kind, namespace, name = key
        for worker in self.workers.values():
            if worker.namespace == namespace and worker.references(kind, name):
                worker.refresh_volumes()

    async def _watch_services(self) -> None:
        while True:
            try:
                async for event, obj in self.client.watch(Service, namespace="*"):
                    data = obj.to_dict()
                    if event == "DELETED":
                        await self.proxy.remove_service(
                            data["metadata"]["namespace"], data["metadata"]["name"]
                        )
                    else:
                        await self.proxy.set_service(data)
            except Exception as error:
                log.warning("watch services failed: %s", error)
                await asyncio.sleep(_WATCH_RETRY_SECONDS)

    async def _watch_pods(self, node_name: str) -> None:
        while True:
            try:
                async for event, obj in self.client.watch(
                    Pod, namespace="*", fields={"spec.nodeName": node_name}
                ):
                    await self._pod_event(event, obj.to_dict(), node_name)
            except Exception as error:
                log.warning("watch pods of %s failed: %s", node_name, error)
                await asyncio.sleep(_WATCH_RETRY_SECONDS)

    async def _pod_event(self, event: str, pod: dict[str, Any], node_name: str) -> None:
        uid = str(pod["metadata"]["uid"])
        if event == "DELETED":
            self.pods.pop(uid, None)
            worker = self.workers.pop(uid, None)
            if worker is not None:
                # Deleted without waiting for us (force delete): stop at once.
                await worker.terminate(0, remove=False)
                self.pool.release(uid)
            await self.proxy.set_pods(self.pods.values())
            return
        self.pods[uid] = pod
        await self.proxy.set_pods(self.pods.values())
        worker = self.workers.get(uid)
        if worker is None:
            if uid in self.refused or pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                return
            reason = placement.refusal_reason(pod, self.config.image_pattern)
            if reason is not None:
                self.refused.add(uid)
                await self._refuse(pod, reason)
                return
            if pod["metadata"].get("deletionTimestamp"):
                await self.remove_pod(pod)
                return
            assert self._http is not None
            ports = container_ports(pod)
            ip = str(self.pool.allocate(uid, lambda address: ports_free(address, ports)))
            context = WorkerContext(
                config=self.config,
                api=self,
                lookup=self.lookup,
                http=self._http,
                node_name=node_name,
                host_ip=str(addresses.NODE_IP),
            )
            worker = PodWorker(pod, ip, context)
            self.workers[uid] = worker
            worker.start()
            return
        worker.update(pod)
        if pod["metadata"].get("deletionTimestamp") and uid not in self._terminating:
            self._terminating[uid] = asyncio.create_task(self._terminate(uid, worker))

    async def _terminate(self, uid: str, worker: PodWorker) -> None:
        await worker.terminate(worker.grace_seconds(), remove=True)
        self.workers.pop(uid, None)
        self.pool.release(uid)
        self._terminating.pop(uid, None)

    async def _refuse(self, pod: dict[str, Any], reason: str) -> None:
        log.warning(
            "refusing pod %s/%s: %s", pod["metadata"]["namespace"], pod["metadata"]["name"], reason
        )
        with contextlib.suppress(Exception):
            await self.emit_event(pod, "Warning", placement.REFUSED_REASON, reason)
        now = status.now_rfc3339()
        refused_status = {
            "phase": "Pending",
            "reason": placement.REFUSED_REASON,
            "message": reason,
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastTransitionTime": now,
                    "lastProbeTime": None,
                },
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": placement.REFUSED_REASON,
                    "message": reason,
                    "lastTransitionTime": now,
                    "lastProbeTime": None,
                },
            ],
        }
        with contextlib.suppress(Exception):
            await self.write_pod_status(pod, refused_status)
