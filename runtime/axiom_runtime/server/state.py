"""The server's mutable state, shared by routes and lifecycles through one ``web.AppKey``."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from axiom_runtime.metrics import new_registry
from axiom_runtime.server.config import ServerConfig
from axiom_runtime.server.dataplane import DataPlane
from axiom_runtime.server.errors import ModelNotReady
from axiom_runtime.server.loader import Phase, Readiness
from axiom_runtime.server.runtime_metrics import RuntimeMetrics

if TYPE_CHECKING:
    from axiom_runtime.traffic import TrafficSplitter


@dataclass
class ServerState:
    config: ServerConfig
    registry: CollectorRegistry = field(default_factory=new_registry)
    readiness: Readiness = field(default_factory=Readiness)
    dataplane: DataPlane | None = None
    metrics: RuntimeMetrics | None = None  # set once the load outcome is known
    splitter: TrafficSplitter | None = None
    load_task: asyncio.Task[None] | None = None
    sampler: random.Random = field(default_factory=random.Random)
    # Set by begin_shutdown when the model was serving at SIGTERM: requests that reach a
    # handler while the listeners drain are still answered (see serving_dataplane).
    finishing: bool = False

    def begin_shutdown(self) -> None:
        """SIGTERM: /ready turns 503 so endpoints drop the pod, but a model that was serving
        keeps answering what still arrives until the listeners have drained. gRPC can start
        a handler for a call received before the signal only after it (the loop was busy in
        the forward pass), and a kube-proxy or a stale split may still send a few requests:
        refusing them would fail requests that a drain exists to keep."""
        self.finishing = self.readiness.ready
        self.readiness.phase = Phase.SHUTTING_DOWN
        self.readiness.reason = "shutting down"
        if self.metrics is not None:
            self.metrics.ready.set(0)

    def serving_dataplane(self) -> DataPlane:
        """The dataplane if inference is allowed now, else ModelNotReady with the reason."""
        dataplane = self.dataplane
        if dataplane is None or not (self.readiness.ready or self.finishing):
            raise ModelNotReady("model", f"model is not ready: {self.readiness.reason}")
        return dataplane

    def loaded_dataplane(self) -> DataPlane:
        """The dataplane if the package is loaded (metadata may be shown even when not ready)."""
        if self.dataplane is None:
            raise ModelNotReady("model", f"model is not loaded: {self.readiness.reason}")
        return self.dataplane
