"""Gate calls: the I/O half of the rollout's gates (the machine's half: ``rollout/gates.py``).

A pass hands ``ask(model, gate, version)`` over and goes on: the call runs as a background
task, at most one per (model, gate, version) at a time and, after a refusal, not again before
the gate's ``interval``. A 2xx opens the gate for that version, which the next pass observes
(``open_for``); the rollout waits in the meantime, re-looking every few seconds. Answers are
kept in memory: a restarted operator asks again (a gate must be safe to ask twice).

The body POSTed: ``{"apiVersion": "axiom.dev/v1alpha1", "kind": "GateRequest", "gate",
"version", "model": {namespace, name, uid}, "stableVersion", "canaryVersion", "canaryWeight",
"phase", "lastAnalysis"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import pydantic

from axiom_operator import api
from axiom_operator.api import duration_seconds
from axiom_operator.kube import APIError, Kube
from axiom_operator.notify import hooks
from axiom_operator.notify.notifier import Notifier
from axiom_operator.rollout import Gate
from axiom_operator.values import ModelIdentity, ModelKey

logger = logging.getLogger(__name__)
GateKey = tuple[str, str, str, str]  # (namespace, model, gate, version)
CONFIG_RETRY_SECONDS = 10.0


def gate_spec(spec: api.NotificationsSpec, gate: str) -> api.GateSpec | None:
    if spec.gates is None:
        return None
    return spec.gates.pre_rollout if gate == Gate.PRE_ROLLOUT else spec.gates.confirm_promotion


def request_body(gate: str, version: str, model: dict[str, Any]) -> dict[str, Any]:
    meta, status = model["metadata"], model.get("status") or {}
    return {
        "apiVersion": f"{api.GROUP}/{api.VERSION}",
        "kind": "GateRequest",
        "gate": gate,
        "version": version,
        "model": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta.get("uid")},
        "phase": status.get("phase"),
        "stableVersion": status.get("stableVersion"),
        "canaryVersion": status.get("canaryVersion"),
        "canaryWeight": status.get("canaryWeight"),
        "lastAnalysis": status.get("lastAnalysis"),
    }


class GateCaller:
    def __init__(self, kube: Kube, notifier: Notifier) -> None:
        self.kube = kube
        self.notifier = notifier  # for its HTTP session
        self.opened: set[GateKey] = set()
        self.running: dict[GateKey, asyncio.Task[None]] = {}
        self.not_before: dict[GateKey, float] = {}

    def open_for(self, key: ModelKey) -> frozenset[tuple[Gate, str]]:
        return frozenset(
            (Gate(gate), version) for ns, n, gate, version in self.opened if (ns, n) == key
        )

    def ask(self, model: ModelIdentity, gate: str, version: str) -> None:
        key = (model.namespace, model.name, gate, version)
        if key in self.opened or key in self.running:
            return
        if time.monotonic() < self.not_before.get(key, 0.0):
            return
        task = asyncio.create_task(self._ask(key), name=f"axiom-gate-{gate}")
        self.running[key] = task
        task.add_done_callback(lambda _: self.running.pop(key, None))

    async def _ask(self, key: GateKey) -> None:
        namespace, name, gate, version = key
        retry = CONFIG_RETRY_SECONDS
        try:
            model = await self.kube.get(api.KIND, name, namespace)
            raw = ((model or {}).get("spec") or {}).get("notifications")
            spec = api.NotificationsSpec.model_validate(raw) if raw else None
            target = gate_spec(spec, gate) if spec is not None else None
            if model is None or spec is None or target is None:
                return
            retry = duration_seconds(target.interval)
            entries = await hooks.secret_entries(self.kube, namespace, spec)
            endpoint = hooks.endpoint(target, entries, f"{namespace}/{spec.secret_ref.name}")
            body = request_body(gate, version, model)
            if await hooks.call(self.notifier.http(), endpoint, body):
                self.opened.add(key)
                return
        except (APIError, hooks.HookConfigError, pydantic.ValidationError) as error:
            logger.warning("gate %s of %s/%s: %s", gate, namespace, name, error)
        self.not_before[key] = time.monotonic() + retry

    def forget(self, model: ModelKey) -> None:
        for key in [k for k in self.opened | set(self.not_before) if k[:2] == model]:
            self.opened.discard(key)
            self.not_before.pop(key, None)

    async def close(self) -> None:
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
