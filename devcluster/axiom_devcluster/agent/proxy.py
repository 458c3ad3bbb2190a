"""What kube-proxy does, on loopback: ClusterIP:port -> one of the Service's ready pods.

One asyncio TCP listener per (ClusterIP, port); each accepted connection goes to the next
backend in round-robin order (so requests on fresh connections spread over replicas), and
bytes are copied both ways until either side closes. If the chosen backend refuses, the next
one is tried; with no backend the connection is closed at once (kube-proxy rejects it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import itertools
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from axiom_devcluster.agent.endpoints import Backend, ServicePort, backends, proxied_ports

log = logging.getLogger(__name__)
_CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


class ServiceProxy:
    def __init__(
        self,
        service_network: ipaddress.IPv4Network,
        pod_network: ipaddress.IPv4Network,
        connect_timeout: float = 2.0,
    ) -> None:
        self.service_network = service_network
        self.pod_network = pod_network
        self.connect_timeout = connect_timeout
        self._services: dict[tuple[str, str], dict[str, Any]] = {}
        self._pods: dict[str, Mapping[str, Any]] = {}
        self._backends: dict[ServicePort, list[Backend]] = {}
        self._listeners: dict[ServicePort, asyncio.Server] = {}
        self._turn: dict[ServicePort, itertools.count[int]] = {}
        self._lock = asyncio.Lock()

    # ---- state --------------------------------------------------------------------------

    async def set_service(self, service: dict[str, Any]) -> None:
        meta = service["metadata"]
        self._services[(meta["namespace"], meta["name"])] = service
        await self.sync()

    async def remove_service(self, namespace: str, name: str) -> None:
        self._services.pop((namespace, name), None)
        await self.sync()

    async def set_pods(self, pods: Iterable[Mapping[str, Any]]) -> None:
        self._pods = {str(p["metadata"]["uid"]): p for p in pods}
        await self.sync()

    def backends_of(self, cluster_ip: str, port: int) -> list[Backend]:
        for service_port, found in self._backends.items():
            if service_port.cluster_ip == cluster_ip and service_port.port == port:
                return list(found)
        return []

    async def sync(self) -> None:
        async with self._lock:
            wanted: dict[ServicePort, list[Backend]] = {}
            for service in self._services.values():
                for service_port, target in proxied_ports(service, self.service_network):
                    wanted[service_port] = backends(
                        service, target, self._pods.values(), self.pod_network
                    )
            for service_port, found in wanted.items():
                if found != self._backends.get(service_port):
                    log.info(
                        "proxy: %s:%d (%s) -> %s",
                        service_port.cluster_ip,
                        service_port.port,
                        service_port.name,
                        ", ".join(f"{b.pod}@{b.ip}:{b.port}" for b in found) or "no backend",
                    )
            self._backends = wanted
            for gone in set(self._listeners) - set(wanted):
                server = self._listeners.pop(gone)
                server.close()
                self._turn.pop(gone, None)
            for new in set(wanted) - set(self._listeners):
                try:
                    self._listeners[new] = await asyncio.start_server(
                        functools.partial(self._handle, new), new.cluster_ip, new.port
                    )
                    self._turn[new] = itertools.count()
                    log.info("proxy: listening on %s:%d", new.cluster_ip, new.port)
                except OSError as error:
                    log.warning(
                        "proxy: cannot listen on %s:%d: %s", new.cluster_ip, new.port, error
                    )

    async def close(self) -> None:
        for server in self._listeners.values():
            server.close()
        for server in self._listeners.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self._listeners.clear()

    # ---- connections --------------------------------------------------------------------

    async def _handle(
        self, service_port: ServicePort, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        candidates = self._backends.get(service_port, [])
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        if candidates:
            start = next(self._turn[service_port])
            for offset in range(len(candidates)):
                backend = candidates[(start + offset) % len(candidates)]
                try:
                    upstream = await asyncio.wait_for(
                        asyncio.open_connection(backend.ip, backend.port), self.connect_timeout
                    )
                    break
                except (OSError, TimeoutError):
                    continue
        if upstream is None:
            # kube-proxy rejects such a connection; one accepted here can only be closed. Logged
            # because a client sees it as a reset, and the agent's log is where to tell why.
            log.warning(
                "proxy: %s:%d (%s): %s; connection closed",
                service_port.cluster_ip,
                service_port.port,
                service_port.name,
                f"none of {len(candidates)} backends accepted" if candidates else "no backend",
            )
            writer.close()
            return
        up_reader, up_writer = upstream
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for side in (writer, up_writer):
                side.close()
                with contextlib.suppress(OSError, ConnectionError):
                    await side.wait_closed()
