"""A pure stand-in for the apiserver's storage, for walking whole passes of the pipeline's
pure stages (decide -> plan_changes -> plan_report) in unit tests.

Not a mock of the Kubernetes API: it only keeps what the writes said (with the
applied-hash annotation ``Kube.apply`` adds, a ClusterIP for each new Service, a generation
per change) and makes Deployments available at the size asked, as the control plane with
healthy nodes would. Tests read the writes each pass planned, in order.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from axiom_operator import api
from axiom_operator.diff import with_applied_hash
from axiom_operator.observe import deployment_observations, deployment_states, with_existing
from axiom_operator.plan import (
    Changes,
    deployments_after,
    plan_changes,
    plan_report,
    rebuild_versions,
)
from axiom_operator.resources import labels as names
from axiom_operator.rollout import Observations, decide
from axiom_operator.rollout_spec import to_rollout_spec
from axiom_operator.status_model import read_rollout_status
from axiom_operator.values import (
    ApplyObject,
    DeleteObject,
    GateOutcome,
    GateResult,
    ModelIdentity,
    PatchStatus,
    PostEvent,
    ScaleDeployment,
    SetInitialReplicas,
    SourceRef,
    World,
    Write,
)

SHA = "ab" * 32
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
VALID = GateOutcome(True, True, "Valid", "certificate verified (key k1)")
REFUSED = GateOutcome(False, False, "BadSignature", "signature does not verify with key k1")


def model_spec(version: str, **extra: Any) -> api.AxiomModelSpec:
    return api.AxiomModelSpec.model_validate(
        {
            "version": version,
            "model": {"uri": f"https://models.example/m-{version}.axiom", "sha256": SHA},
            "certificate": {"secretRef": {"name": f"m-{version}-cert"}},
            "replicas": 2,
            "rollout": {"scaleDownDelay": "0s", "rollbackWindow": "60s"},
            **extra,
        }
    )


def gate(outcome: GateOutcome = VALID) -> GateResult:
    return GateResult(
        outcome=outcome,
        certificate=SourceRef("Secret", "m-cert", "certificate.json"),
        trusted_keys=SourceRef("Secret", "axiom-trusted-keys"),
        certificate_hash="c0ffee",
    )


def merged(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch, as the apiserver applies it."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def label(write: Write) -> str:
    """One line per write, as a test reads it."""
    if isinstance(write, ApplyObject):
        return f"apply {write.kind} {write.name}"
    if isinstance(write, ScaleDeployment):
        return f"scale {write.name} {write.replicas}"
    if isinstance(write, SetInitialReplicas):
        return f"initial-replicas {write.name} {write.replicas}"
    if isinstance(write, DeleteObject):
        return f"delete {write.kind} {write.name}"
    if isinstance(write, PatchStatus):
        return "patch status"
    if isinstance(write, PostEvent):
        return f"event {write.event.reason}"
    return type(write).__name__


@dataclass
class Pass:
    changes: list[str]
    report: list[str]
    phase: str
    requeue: float | None
    held: tuple[str, str] | None = None


@dataclass
class PlanWorld:
    spec: api.AxiomModelSpec
    outcome: GateOutcome = VALID
    now: datetime = T0
    annotations: dict[str, str] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    children: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    generation: int = 1
    next_ip: int = 10
    missing_apis: tuple[str, ...] = ()
    # Objects in the namespace that are not the model's (a user's, another model's), by key.
    others: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # The spec of each object as last sent by an apply (before the apiserver's defaults).
    applied_specs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def world(self) -> World:
        identity = ModelIdentity(
            name="m",
            namespace="ns",
            uid="uid-1",
            generation=self.generation,
            annotations=dict(self.annotations),
            status=copy.deepcopy(self.status),
        )
        the_gate = gate(self.outcome)
        rollout_spec = to_rollout_spec(
            self.spec,
            self.annotations,
            certificate_ok=the_gate.outcome.allowed,
            certificate_reason=the_gate.outcome.reason,
        )
        deployments = deployment_states(self.children)
        return World(
            model=identity,
            now=self.now,
            spec=self.spec,
            gate=the_gate,
            memory=read_rollout_status(self.status.get("rollout")),
            rollout_spec=rollout_spec,
            deployments=deployments,
            children=copy.deepcopy(self.children),
            observations=Observations(
                deployments=deployment_observations(deployments),
                applied_traffic_generations=self.applied_generations(),
            ),
            missing_apis=self.missing_apis,
        )

    def applied_generations(self) -> tuple[int, ...]:
        """Every stable pod has applied the traffic config as written (pods are quick)."""
        config = self.children.get(("ConfigMap", "m-traffic"))
        if config is None:
            return ()
        generation = int(json.loads(config["data"]["traffic.json"])["generation"])
        return (generation, generation)

    def store(self, write: Write) -> dict[str, Any] | None:
        """What the apiserver keeps after ``write``; the Deployment it answered, if any."""
        if isinstance(write, ApplyObject):
            obj = with_applied_hash(copy.deepcopy(dict(write.manifest)))
            key = (write.kind, write.name)
            self.applied_specs[key] = copy.deepcopy(obj.get("spec", {}))
            self.others.pop(key, None)  # adopted
            old = self.children.get(key)
            meta = obj["metadata"]
            meta["generation"] = (old["metadata"]["generation"] + 1) if old else 1
            if write.kind == "Service":
                ip = (old or {}).get("spec", {}).get("clusterIP")
                if ip is None:
                    ip = f"127.100.0.{self.next_ip}"
                    self.next_ip += 1
                obj["spec"]["clusterIP"] = ip
            if write.kind == "Deployment":
                replicas = (old or {}).get("spec", {}).get("replicas", 1)
                obj["spec"].setdefault("replicas", replicas)
                obj["status"] = (old or {}).get("status", {})
            self.children[key] = obj
            return obj if write.kind == "Deployment" else None
        if isinstance(write, ScaleDeployment | SetInitialReplicas):
            live = self.children[("Deployment", write.name)]
            live["spec"]["replicas"] = write.replicas
            live["metadata"]["generation"] += 1
            return live if isinstance(write, SetInitialReplicas) else None
        if isinstance(write, DeleteObject):
            del self.children[(write.kind, write.name)]
        if isinstance(write, PatchStatus):
            self.status = merged(self.status, dict(write.patch))
        return None

    def settle(self) -> None:
        """The controllers catch up: every Deployment available at the size asked."""
        for (kind, _), obj in self.children.items():
            if kind == "Deployment":
                replicas = obj["spec"].get("replicas", 1)
                obj["status"] = {
                    "observedGeneration": obj["metadata"]["generation"],
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                    "availableReplicas": replicas,
                }

    def tick(self, seconds: float = 1.0, *, settle: bool = True) -> Pass:
        """One pass ``seconds`` after the last; then (by default) the controllers settle."""
        self.now += timedelta(seconds=seconds)
        world = self.world()
        decision = decide(world.rollout_spec, world.memory, world.observations, world.now)
        if rebuild_versions(decision, world):
            raise AssertionError("a rebuild needs observe_rebuilds; not simulated here")
        changes: Changes = plan_changes(decision, world, default_image="axiom-runtime:test")
        taken = {key: self.others[key] for key in changes.creations() if key in self.others}
        if taken:
            world = with_existing(world, taken)
            changes = plan_changes(decision, world, default_image="axiom-runtime:test")
        answered: dict[str, dict[str, Any]] = {}
        written = []
        for write in changes.writes:
            obj = self.store(write)
            if obj is not None:
                answered[obj["metadata"]["labels"][names.VERSION_LABEL]] = copy.deepcopy(obj)
            if hasattr(write, "describe"):
                written.append(write.describe())
        report = plan_report(
            decision,
            world,
            changes,
            written=written,
            deployments=deployments_after(world, answered),
            expiry_warning=timedelta(days=7),
        )
        for write in report:
            self.store(write)
        if settle:
            self.settle()
        return Pass(
            changes=[label(w) for w in changes.writes],
            report=[label(w) for w in report],
            phase=decision.status.phase.value,
            requeue=changes.requeue_seconds,
            held=changes.held,
        )

    def until(self, phase: str, *, limit: int = 30, seconds: float = 1.0) -> list[Pass]:
        passes = []
        for _ in range(limit):
            passes.append(self.tick(seconds))
            if passes[-1].phase == phase:
                return passes
        raise AssertionError(f"never reached {phase}: {[p.phase for p in passes]}")
