"""AxiomModel spec + annotations -> the rollout machine's ``RolloutSpec`` (pure).

The machine deliberately knows nothing of the pydantic API (it is tested on literals), so
this edge translates: durations to seconds, the analysis block to thresholds, the
``axiom.dev/*`` annotations to ``ManualRequests`` and the version's package and certificate
to an opaque ``source`` string. The machine stores the source per version in its status, so
the handler can re-create any version later (a cold rollback) from the status alone:
``spec_for_version`` is the inverse, rebuilding that version's spec on top of the current one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from axiom_operator import api
from axiom_operator.api import duration_seconds
from axiom_operator.rollout import AnalysisThresholds, ManualRequests, RolloutSpec, Step
from axiom_operator.rollout.comparison import ComparisonThresholds
from axiom_operator.rollout.model import Gate, TrafficMode

ANNOTATION_PREFIX = "axiom.dev/"
ROLLBACK_ANNOTATION = "axiom.dev/rollback"
PROMOTE_ANNOTATION = "axiom.dev/promote"
PAUSE_ANNOTATION = "axiom.dev/pause"
RESUME_ANNOTATION = "axiom.dev/resume"
PROMOTE_STEP = "step"  # axiom.dev/promote=step: end the current step only
_TRUE = frozenset({"true", "yes", "1"})


class SourceDecodeError(ValueError):
    """A stored version source (status.rollout.sources) that cannot be read back."""


def manual_requests(annotations: Mapping[str, str] | None) -> ManualRequests:
    """The ``axiom.dev/rollback|promote|pause|resume`` annotations present now
    (``promote`` is ``true``: promote fully, or ``step``: end the current step)."""
    notes = annotations or {}
    rollback = (notes.get(ROLLBACK_ANNOTATION) or "").strip() or None
    promote = notes.get(PROMOTE_ANNOTATION, "").strip().lower()
    return ManualRequests(
        rollback=rollback,
        promote=promote in _TRUE,
        promote_step=promote == PROMOTE_STEP,
        pause=notes.get(PAUSE_ANNOTATION, "").strip().lower() in _TRUE,
        resume=notes.get(RESUME_ANNOTATION, "").strip().lower() in _TRUE,
    )


def thresholds(analysis: api.AnalysisSpec) -> AnalysisThresholds:
    # Sequential decisions are on unless the spec turns them off (absent: the defaults).
    sequential = analysis.sequential or api.SequentialSpec()
    return AnalysisThresholds(
        interval_seconds=duration_seconds(analysis.interval),
        min_requests=analysis.min_requests,
        max_error_rate=analysis.max_error_rate,
        max_p99_latency_ms=analysis.max_p99_latency_ms,
        min_confidence=analysis.min_confidence,
        failure_limit=analysis.failure_limit,
        inconclusive_limit=analysis.inconclusive_limit,
        max_latency_ratio=analysis.max_latency_ratio,
        max_confidence_drop=analysis.max_confidence_drop,
        comparison=ComparisonThresholds(
            min_agreement=analysis.min_agreement,
            max_confidence_delta=analysis.max_confidence_delta,
            max_distribution_shift=analysis.max_distribution_shift,
        ),
        false_rollback_rate=sequential.false_rollback_rate if sequential.enabled else None,
        sequential_min_sample=sequential.min_sample,
        pass_undecided_on_thresholds=sequential.when_undecided == "Thresholds",
    )


def replicas_of(spec: api.AxiomModelSpec) -> int:
    """Pods per version: spec.replicas, else the autoscaler's minimum, else 1."""
    if spec.replicas is not None:
        return spec.replicas
    if spec.autoscaling is not None:
        return spec.autoscaling.min_replicas
    return 1


def version_source(spec: api.AxiomModelSpec) -> str:
    """What identifies spec.version's bytes and certificate, as canonical JSON."""
    return json.dumps(
        {"model": spec.model.to_wire(), "certificate": spec.certificate.to_wire()},
        sort_keys=True,
        separators=(",", ":"),
    )


def spec_for_version(current: api.AxiomModelSpec, version: str, source: str) -> api.AxiomModelSpec:
    """``current`` with ``version``'s package and certificate from its recorded source."""
    try:
        raw = json.loads(source)
        model = api.ModelSource.model_validate(raw["model"])
        certificate = api.CertificateSpec.model_validate(raw["certificate"])
    except (ValueError, KeyError, TypeError) as error:
        raise SourceDecodeError(f"status.rollout.sources[{version}]: {error}") from error
    return current.model_copy(
        update={"version": version, "model": model, "certificate": certificate}
    )


def to_rollout_spec(
    spec: api.AxiomModelSpec,
    annotations: Mapping[str, str] | None,
    *,
    certificate_ok: bool,
    certificate_reason: str = "",
    drain_limit_seconds: float = 180.0,
) -> RolloutSpec:
    """The machine's view of the spec. ``certificate_ok`` is the gate's ``allowed``;
    ``drain_limit_seconds`` is the operator's setting (not the model's)."""
    traffic = spec.traffic or api.TrafficSpec()
    rollout = spec.rollout or api.RolloutSpec()
    steps = tuple(
        Step(
            weight=step.weight,
            pause_seconds=None if step.pause is None else duration_seconds(step.pause),
            mirror=step.mirror or 0.0,
        )
        for step in rollout.steps or ()
    )
    return RolloutSpec(
        version=spec.version,
        replicas=replicas_of(spec),
        source=version_source(spec),
        mode=TrafficMode(traffic.mode),
        canary_percent=traffic.canary_percent,
        steps=steps,
        analysis=None if rollout.analysis is None else thresholds(rollout.analysis),
        auto_rollback=rollout.auto_rollback,
        scale_down_delay_seconds=duration_seconds(rollout.scale_down_delay),
        rollback_window_seconds=duration_seconds(rollout.rollback_window),
        progress_deadline_seconds=duration_seconds(rollout.progress_deadline),
        certificate_ok=certificate_ok,
        certificate_reason=certificate_reason,
        requests=manual_requests(annotations),
        gates=gates_of(spec),
        pin_header=traffic.pin_header,
        drain_limit_seconds=drain_limit_seconds,
    )


def gates_of(spec: api.AxiomModelSpec) -> frozenset[Gate]:
    gates = spec.notifications.gates if spec.notifications is not None else None
    if gates is None:
        return frozenset()
    configured = {
        Gate.PRE_ROLLOUT: gates.pre_rollout,
        Gate.CONFIRM_PROMOTION: gates.confirm_promotion,
    }
    return frozenset(gate for gate, hook in configured.items() if hook is not None)
