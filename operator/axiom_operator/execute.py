"""Carry out the rollout machine's actions against the apiserver (the I/O half of its output).

Order matters and differs slightly from the list's order, for one reason: a pod must never
start without its volumes. So one pass goes: per-version Services of every version kept
(the canary's ClusterIP must exist before a traffic config can name it), the runtime and
traffic ConfigMaps (mounted by every runtime pod), the Deployments, then the model Service,
scale-downs, deletions, the analysis baseline and the Events. Every write goes through
``Kube.apply`` (nothing is sent when the live object already matches), so re-running a
decision on an unchanged world writes nothing.

Which Deployments are re-applied: only ``spec.version``'s, built from the current spec and
gated by the certificate check of this pass. Any other version the machine keeps (the stable
during a canary, a warm previous version) was verified and built when it was spec.version;
it is only scaled, so its pods never restart because the spec moved on. A kept version whose
Deployment is gone (a cold rollback) is rebuilt from the source the machine recorded, after
its certificate verifies again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from axiom_operator import api, prometheus
from axiom_operator.certificates import GateResult, check_certificate
from axiom_operator.context import ModelKey, OperatorContext
from axiom_operator.kube import post_event
from axiom_operator.observe import take_baseline
from axiom_operator.plan import DeploymentState
from axiom_operator.resources import labels as names
from axiom_operator.resources.configmap import (
    build_runtime_configmap,
    build_trusted_keys_configmap,
    config_hash,
    runtime_settings,
)
from axiom_operator.resources.deployment import VersionInputs, build_deployment
from axiom_operator.resources.hpa import build_hpa
from axiom_operator.resources.owner import Owner
from axiom_operator.resources.service import build_model_service, build_version_service
from axiom_operator.resources.traffic import (
    build_httproute,
    build_traffic_configmap,
    canary_url,
    traffic_config_text,
)
from axiom_operator.rollout import (
    Action,
    DeleteDeployment,
    EmitEvent,
    EnsureDeployment,
    PointServiceAt,
    RequeueAfter,
    RolloutStatus,
    ScaleDown,
    SetTrafficWeight,
    StartAnalysisWindow,
    TrafficMode,
)
from axiom_operator.rollout_spec import SourceDecodeError, spec_for_version
from axiom_runtime.traffic.config import CanaryTarget

logger = logging.getLogger(__name__)


@dataclass
class Execution:
    """What one pass did: writes for the Reconciled Event, the requeue the machine asked for."""

    written: list[str] = field(default_factory=list)
    requeue_seconds: float | None = None
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelTarget:
    """The AxiomModel being reconciled, as the executor needs it."""

    body: dict[str, Any]
    owner: Owner
    spec: api.AxiomModelSpec
    gate: GateResult
    status: RolloutStatus  # the machine's new status

    @property
    def key(self) -> ModelKey:
        return (self.owner.namespace, self.owner.name)


class _Pass:
    def __init__(
        self,
        ctx: OperatorContext,
        target: ModelTarget,
        live: dict[str, DeploymentState],
    ) -> None:
        self.ctx = ctx
        self.target = target
        self.live = live
        self.result = Execution()

    @property
    def namespace(self) -> str:
        return self.target.owner.namespace

    async def apply(self, manifest: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        meta = manifest["metadata"]
        live = await self.ctx.kube.get(manifest["kind"], meta["name"], meta["namespace"])
        changed, obj = await self.ctx.kube.apply(manifest, live)
        if changed:
            verb = "updated" if live else "created"
            self.result.written.append(f"{verb} {manifest['kind']} {meta['name']}")
        return obj, live is None

    async def delete(self, kind: str, name: str) -> None:
        if await self.ctx.kube.delete(kind, name, self.namespace):
            self.result.written.append(f"deleted {kind} {name}")

    # -- Deployments ----------------------------------------------------------------------

    def _version_spec(self, action: EnsureDeployment) -> api.AxiomModelSpec | None:
        spec = self.target.spec
        if action.version == spec.version:
            return spec
        if action.source is None:
            return None
        try:
            return spec_for_version(spec, action.version, action.source)
        except SourceDecodeError as error:
            logger.warning("cannot rebuild version %s: %s", action.version, error)
            return None

    async def _gate_for(self, spec: api.AxiomModelSpec) -> GateResult:
        if spec.version == self.target.spec.version:
            return self.target.gate
        owner = self.target.owner
        return await check_certificate(
            self.ctx.kube,
            self.ctx.settings,
            name=owner.name,
            namespace=owner.namespace,
            spec=spec,
            cache=self.ctx.package_hashes,
        )

    async def ensure_deployment(self, action: EnsureDeployment) -> None:
        owner = self.target.owner
        version = action.version
        object_name = names.version_object_name(owner.name, version)
        is_spec_version = version == self.target.spec.version
        hpa_owned = (
            self.target.spec.autoscaling is not None
            and version == self.target.status.stable_version
        )
        existing = self.live.get(version)
        if existing is not None and not (is_spec_version and self.target.gate.outcome.allowed):
            if not hpa_owned and existing.desired != action.replicas:
                await self.ctx.kube.scale(
                    "Deployment", object_name, self.namespace, action.replicas
                )
                self.result.written.append(f"scaled Deployment {object_name} to {action.replicas}")
            return
        spec = self._version_spec(action)
        if spec is None:
            await self.warn(
                "VersionNotRebuilt", f"no recorded package source to recreate version {version}"
            )
            return
        gate = await self._gate_for(spec)
        if not gate.outcome.allowed:
            if not is_spec_version:
                await self.warn(
                    "VersionNotRebuilt",
                    f"version {version} is not recreated: certificate {gate.outcome.reason}: "
                    f"{gate.outcome.message}",
                )
            return
        if spec.autoscaling is None:
            spec = spec.model_copy(update={"replicas": action.replicas})
        inputs = VersionInputs(
            owner=owner,
            spec=spec,
            image=(spec.runtime.image if spec.runtime and spec.runtime.image else None)
            or self.ctx.settings.runtime_image,
            certificate=gate.certificate,
            trusted_keys=gate.trusted_keys,
            config_hash=config_hash(runtime_settings(self.target.spec)),
            certificate_hash=gate.certificate_hash,
            traffic_config_map=names.traffic_config_name(owner.name),
        )
        live, created = await self.apply(build_deployment(inputs))
        if spec.autoscaling is not None:
            # replicas stays out of the main manifest (the HPA owns it once this version is
            # stable); a canary's size is set under the separate bootstrap field manager so
            # promotion hands the field to the HPA without a reset to 1.
            wanted = (
                (spec.replicas or spec.autoscaling.min_replicas) if hpa_owned else action.replicas
            )
            current = int((live.get("spec") or {}).get("replicas", 1))
            if created or (not hpa_owned and current != wanted):
                live = await self.ctx.kube.bootstrap_replicas(object_name, self.namespace, wanted)
        self.result.deployments[version] = live
        if hpa_owned and spec.autoscaling is not None:
            await self.apply(build_hpa(owner, version, spec.autoscaling))
        elif spec.autoscaling is not None or version in self.live:
            await self.delete("HorizontalPodAutoscaler", object_name)

    # -- traffic --------------------------------------------------------------------------

    async def set_traffic(self, action: SetTrafficWeight) -> None:
        owner = self.target.owner
        spec = self.target.spec
        header = (spec.traffic or api.TrafficSpec()).request_id_header
        canary: CanaryTarget | None = None
        if action.canary_version is not None and action.mode is TrafficMode.RUNTIME:
            service = await self.ctx.kube.get(
                "Service",
                names.version_object_name(owner.name, action.canary_version),
                self.namespace,
            )
            cluster_ip = ((service or {}).get("spec") or {}).get("clusterIP")
            if not cluster_ip or cluster_ip == "None":
                # Without an address the split cannot be written; pods keep the old one.
                self.requeue(2.0)
                return
            canary = CanaryTarget(action.canary_version, canary_url(cluster_ip), action.weight)
        text = traffic_config_text(action.generation, canary, header)
        await self.apply(build_traffic_configmap(owner, text))
        stable = self.target.status.stable_version
        if action.mode is TrafficMode.GATEWAY_API and stable is not None:
            await self.apply(
                build_httproute(
                    owner,
                    stable_version=stable,
                    canary_version=action.canary_version,
                    weight=action.weight,
                    generation=action.generation,
                    gateway=(spec.traffic or api.TrafficSpec()).gateway_ref,
                )
            )

    # -- the rest -------------------------------------------------------------------------

    async def scale_down(self, action: ScaleDown) -> None:
        object_name = names.version_object_name(self.target.owner.name, action.version)
        await self.delete("HorizontalPodAutoscaler", object_name)
        live = self.live.get(action.version)
        if live is not None and live.desired > 0:
            await self.ctx.kube.scale("Deployment", object_name, self.namespace, 0)
            self.result.written.append(f"scaled Deployment {object_name} to 0")

    async def delete_version(self, action: DeleteDeployment) -> None:
        object_name = names.version_object_name(self.target.owner.name, action.version)
        for kind in ("HorizontalPodAutoscaler", "Service", "Deployment"):
            await self.delete(kind, object_name)

    async def start_window(self, action: StartAnalysisWindow) -> None:
        stable = self.target.status.stable_version
        if stable is None:
            return
        owner = self.target.owner
        self.ctx.baselines[self.target.key] = await take_baseline(
            self.ctx,
            owner.name,
            owner.namespace,
            canary=action.canary_version,
            stable=stable,
            now=datetime.now(UTC),
            source=prometheus.source_of(self.target.spec),
        )

    async def warn(self, reason: str, message: str) -> None:
        await post_event(self.ctx.kube, self.target.body, "Warning", reason, message)

    def requeue(self, seconds: float) -> None:
        current = self.result.requeue_seconds
        self.result.requeue_seconds = seconds if current is None else min(current, seconds)


async def execute(
    ctx: OperatorContext,
    target: ModelTarget,
    actions: tuple[Action, ...],
    live: dict[str, DeploymentState],
) -> Execution:
    """Run ``actions`` (see the module docstring for the order)."""
    run = _Pass(ctx, target, live)
    owner = target.owner
    ensures = [a for a in actions if isinstance(a, EnsureDeployment)]
    for ensure in ensures:
        await run.apply(build_version_service(owner, ensure.version))
    if ensures:
        await run.apply(build_runtime_configmap(owner, target.spec))
    if ensures and target.gate.pinned_keys is not None:
        # Before any Deployment: its pods mount this to verify their own certificate.
        await run.apply(build_trusted_keys_configmap(owner, target.gate.pinned_keys))
    for action in actions:
        if isinstance(action, SetTrafficWeight):
            await run.set_traffic(action)
    for ensure in ensures:
        await run.ensure_deployment(ensure)
    for action in actions:
        if isinstance(action, PointServiceAt):
            await run.apply(build_model_service(owner, action.version))
        elif isinstance(action, ScaleDown):
            await run.scale_down(action)
        elif isinstance(action, DeleteDeployment):
            await run.delete_version(action)
        elif isinstance(action, StartAnalysisWindow):
            await run.start_window(action)
        elif isinstance(action, RequeueAfter):
            run.requeue(action.seconds)
    for action in actions:
        if isinstance(action, EmitEvent):
            await post_event(ctx.kube, target.body, action.type, action.reason, action.message)
    return run.result
