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
from axiom_runtime.server.loader import Readiness
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

    def serving_dataplane(self) -> DataPlane:
        """The dataplane if inference is allowed now, else ModelNotReady with the reason."""
        dataplane = self.dataplane
        if dataplane is None or not self.readiness.ready:
            raise ModelNotReady("model", f"model is not ready: {self.readiness.reason}")
        return dataplane

    def loaded_dataplane(self) -> DataPlane:
        """The dataplane if the package is loaded (metadata may be shown even when not ready)."""
        if self.dataplane is None:
            raise ModelNotReady("model", f"model is not loaded: {self.readiness.reason}")
        return self.dataplane
