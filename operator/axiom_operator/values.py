"""The values a reconcile pass passes between its stages, below every module that uses them.

A pass is observe -> decide -> plan -> apply (see ``pipeline.py``); these are the things that
flow between the stages: what was read (``World`` and its parts), the certificate gate's
verdict, and the two errors a pass can end with. They live here, importing nothing of the
stages, so any stage (and ``resources/``) can use them without importing another stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from axiom_operator import api
from axiom_operator.rollout import Observations, RolloutSpec, RolloutStatus
from axiom_operator.rollout.samples import Scrape

ModelKey = tuple[str, str]  # (namespace, name)
ChildKey = tuple[str, str]  # (kind, name) of an object in the model's namespace


class InvalidSpecError(ValueError):
    """The spec cannot be acted on; retrying will not help until it changes."""


class WorldNotReadyError(RuntimeError):
    """Something the model needs does not exist yet (e.g. its certificate Secret)."""


@dataclass(frozen=True)
class SourceRef:
    """A key of a Secret or ConfigMap."""

    kind: str  # "Secret" | "ConfigMap"
    name: str
    key: str | None = None


@dataclass(frozen=True)
class DeploymentState:
    """What matters about one version's live Deployment."""

    version: str
    name: str
    desired: int
    replicas: int
    updated: int
    available: int
    up_to_date: bool  # the controller has seen the latest spec

    @property
    def is_available(self) -> bool:
        return self.up_to_date and self.updated >= self.desired and self.available >= self.desired


@dataclass(frozen=True)
class GateOutcome:
    """The certificate gate's verdict on one version."""

    valid: bool | None  # None: could not be decided yet (e.g. Secret missing)
    allowed: bool  # may the operator deploy/change the workload
    reason: str
    message: str
    # When a valid certificate stops being valid (its expires_at); None: never, or unknown.
    expires_at: datetime | None = None
    # Who signed it: the issuer and key id of a certificate that verified ("" otherwise).
    signer: str = ""


@dataclass(frozen=True)
class GateResult:
    """The verdict and what a Deployment of the version mounts to verify itself."""

    outcome: GateOutcome
    certificate: SourceRef
    trusted_keys: SourceRef  # what the runtime pods mount
    certificate_hash: str  # of the certificate bytes, for the pod template ("" if unread)
    # Pinned trust: the keys read from the pinned namespace, to mirror into the ConfigMap
    # ``trusted_keys`` names (pods can only mount objects of their own namespace).
    pinned_keys: dict[str, bytes] | None = None


@dataclass(frozen=True)
class Baseline:
    """Scrapes taken when an analysis window started: version -> pod name -> scrape.

    Empty scrapes with a Prometheus source: Prometheus keeps the history, the start time is
    all a window needs."""

    started_at: datetime
    canary_version: str
    scrapes: Mapping[str, Mapping[str, Scrape]]


@dataclass(frozen=True)
class Event:
    """A core/v1 Event to post about the model."""

    type: str  # "Normal" | "Warning"
    reason: str
    message: str


@dataclass(frozen=True)
class ModelIdentity:
    """The AxiomModel being reconciled, as read at the start of the pass."""

    name: str
    namespace: str
    uid: str
    generation: int
    annotations: Mapping[str, str]
    status: Mapping[str, Any]  # the status as stored (what the status patch is computed from)

    @property
    def key(self) -> ModelKey:
        return (self.namespace, self.name)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ModelIdentity:
        meta = body["metadata"]
        return cls(
            name=meta["name"],
            namespace=meta["namespace"],
            uid=str(meta.get("uid", "")),
            generation=int(meta.get("generation", 1)),
            annotations=dict(meta.get("annotations") or {}),
            status=dict(body.get("status") or {}),
        )


@dataclass(frozen=True)
class ForeignObject:
    """An object with a name the model needs that is not the model's: never written."""

    kind: str
    name: str
    holder: str  # who owns or manages it, for people: "Helm release web/web", ...

    def describe(self) -> str:
        return f"{self.kind} {self.name} exists and is not this model's ({self.holder})"


@dataclass(frozen=True)
class InvalidModel:
    """A model whose spec cannot be acted on: what was read, and why."""

    model: ModelIdentity
    message: str
    now: datetime


@dataclass(frozen=True)
class World:
    """Everything one pass read, before any decision: the only input of ``plan``.

    ``children`` holds the live objects this model owns, by (kind, name): Deployments,
    Services, ConfigMaps, HorizontalPodAutoscalers, and the HTTPRoute in GatewayAPI mode.
    ``scrapes``: while a canary is analysed from its pods, each version's pods' ``/metrics``
    now (the window's end, and the next window's baseline). ``rebuild_gates``: the
    certificate verdicts of kept versions whose Deployment is gone (a cold rollback), read
    after the decision named them (``observe.observe_rebuilds``). ``foreign``: objects with a
    name the plan would create that are someone else's (``observe.observe_creations``).
    """

    model: ModelIdentity
    now: datetime
    spec: api.AxiomModelSpec
    gate: GateResult
    memory: RolloutStatus  # the machine's status as stored
    rollout_spec: RolloutSpec
    deployments: Mapping[str, DeploymentState]
    children: Mapping[ChildKey, Mapping[str, Any]]
    observations: Observations
    scrapes: Mapping[str, Mapping[str, Scrape]] | None = None
    baseline: Baseline | None = None  # the open window's start, from operator memory
    rebuild_gates: Mapping[str, GateResult] = field(default_factory=dict)
    # Objects the plan would create whose name is taken by something not this model's.
    foreign: Mapping[ChildKey, ForeignObject] = field(default_factory=dict)
    # Cluster APIs the spec needs that the cluster does not serve, for people.
    missing_apis: tuple[str, ...] = ()

    def child(self, kind: str, name: str) -> Mapping[str, Any] | None:
        return self.children.get((kind, name))

    def with_rebuild_gates(self, gates: Mapping[str, GateResult]) -> World:
        return replace(self, rebuild_gates=dict(gates))

    def with_found(
        self,
        found: Mapping[ChildKey, Mapping[str, Any]],
        foreign: Mapping[ChildKey, ForeignObject],
    ) -> World:
        """This world with objects found by name: the model's own (or adopted), and not."""
        return replace(
            self,
            children={**self.children, **found},
            foreign={**self.foreign, **foreign},
        )


# -- writes: what ``plan`` asks ``apply`` to do, in order ------------------------------------


@dataclass(frozen=True)
class ApplyObject:
    """Server-side apply ``manifest``; ``live`` is the object as observed (None: create)."""

    manifest: Mapping[str, Any]
    live: Mapping[str, Any] | None

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    def describe(self) -> str:
        return f"{'updated' if self.live is not None else 'created'} {self.kind} {self.name}"


@dataclass(frozen=True)
class ScaleDeployment:
    """Merge-patch only ``spec.replicas`` of a Deployment the operator keeps but no longer
    re-applies (the stable or a warm version while another version is spec.version)."""

    name: str
    replicas: int

    def describe(self) -> str:
        return f"scaled Deployment {self.name} to {self.replicas}"


@dataclass(frozen=True)
class SetInitialReplicas:
    """The replica count of a Deployment whose ``replicas`` an HPA owns or will own, under a
    field manager of its own (see ``Kube.bootstrap_replicas``)."""

    name: str
    version: str
    replicas: int


@dataclass(frozen=True)
class DeleteObject:
    kind: str
    name: str

    def describe(self) -> str:
        return f"deleted {self.kind} {self.name}"


@dataclass(frozen=True)
class PatchStatus:
    """A JSON merge patch of the AxiomModel's status (only what changed)."""

    patch: Mapping[str, Any]


@dataclass(frozen=True)
class PostEvent:
    event: Event


@dataclass(frozen=True)
class RememberBaseline:
    """Keep ``baseline`` in operator memory as the model's open analysis window (None: drop)."""

    baseline: Baseline | None


@dataclass(frozen=True)
class CallGate:
    """Ask a gate's hook about ``version`` in the background (``notify.gates``); not an API
    write: its answer is observed by a later pass."""

    gate: str  # rollout.Gate value
    version: str


Write = (
    ApplyObject
    | ScaleDeployment
    | SetInitialReplicas
    | DeleteObject
    | PatchStatus
    | PostEvent
    | RememberBaseline
    | CallGate
)
