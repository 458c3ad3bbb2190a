"""``status.rollout``, the rollout machine's memory, as one typed model (pydantic).

The status is the machine's only memory across operator restarts, so it must round-trip
exactly: ``read_rollout_status(write_rollout_status(s)) == s``. It is written in the words
of the rest of the status: camelCase keys, RFC 3339 times in UTC with ``Z``, the figures of
an analysis under the names ``status.lastAnalysis`` uses (``api.AnalysisFigures``), and the
verdict as Pass/Fail/Inconclusive. Unlike the conditions (whole seconds, as Kubernetes
writes them) the machine's times keep their fraction of a second when they have one: the
machine compares them with each other, and a second lost is a comparison changed.

Reading is lenient where it must be and strict where it matters. An operator upgraded in the
middle of a canary reads what the previous release wrote (``p99Ms``, ``+00:00`` times, the
verdict words Success/Failure, see ``_upgrade``) and loses nothing; keys it does not know
are ignored (a downgrade reads what it can). A value of the wrong type, an unknown phase or
a time without a timezone is a ``StatusDecodeError`` naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from axiom_operator import api
from axiom_operator.rollout import (
    AnalysisRecord,
    Figures,
    Gate,
    HistoryEntry,
    Outcome,
    PauseReason,
    Phase,
    RolloutStatus,
    TrafficMode,
    TrafficState,
    Verdict,
    WarmVersion,
)
from axiom_operator.rollout.comparison import ComparisonFigures
from axiom_operator.rollout.sequential import Evidence, SequentialFigures
from axiom_operator.status import rfc3339


class StatusDecodeError(ValueError):
    """A stored rollout status that cannot be read back; names the field."""


Time = Annotated[
    AwareDatetime, PlainSerializer(lambda moment: rfc3339(moment, fraction=True), return_type=str)
]

VERDICT_WORDS = {
    Verdict.SUCCESS: "Pass",
    Verdict.FAILURE: "Fail",
    Verdict.INCONCLUSIVE: "Inconclusive",
}
_VERDICTS_BY_WORD = {word: verdict for verdict, word in VERDICT_WORDS.items()}


class _Memory(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class TrafficMemory(_Memory):
    generation: int = 0
    canary_version: str | None = None
    weight: float = 0.0
    mode: TrafficMode = TrafficMode.RUNTIME
    mirror: float | None = None  # None (not written) when 0: what releases before wrote


class WarmMemory(_Memory):
    version: str
    until: Time


class HistoryMemory(_Memory):
    version: str
    outcome: Outcome
    at: Time
    reason: str = ""


class AnalysisMemory(_Memory):
    at: Time
    verdict: str = Field(pattern="^(Pass|Fail|Inconclusive)$")
    reasons: tuple[str, ...] = ()
    canary: api.AnalysisFigures | None = None
    stable: api.AnalysisFigures | None = None
    version: str | None = None
    step: int | None = None
    comparison: api.AnalysisComparison | None = None
    sequential: api.AnalysisSequential | None = None


class EvidenceMemory(_Memory):
    """The sequential tests' state (``rollout.sequential.Evidence``), field by field."""

    canary_requests: int = 0
    canary_errors: int = 0
    stable_requests: int = 0
    stable_errors: int = 0
    canary_slow: int = 0
    stable_slow: int = 0
    canary_over_guard: int = 0
    canary_timed: int = 0
    slow_bound_ms: float | None = None
    error_harm: tuple[float, ...] = ()
    slow_harm: tuple[float, ...] = ()
    error_good: tuple[float, ...] = ()
    slow_good: tuple[float, ...] = ()


class SourceMemory(_Memory):
    version: str
    source: str


class RolloutMemory(_Memory):
    """What ``status.rollout`` holds: ``RolloutStatus`` field by field."""

    phase: Phase = Phase.PENDING
    message: str = ""
    stable_version: str | None = None
    canary_version: str | None = None
    canary_weight: float = 0.0
    effective_weight: float | None = None
    step: int | None = None
    steps_fingerprint: str = ""
    canary_started_at: Time | None = None
    step_started_at: Time | None = None
    step_analysis_passed: bool = False
    paused_reason: PauseReason | None = None
    analysis_failures: int = 0
    analysis_inconclusive: int = 0
    analysis_window_from: Time | None = None
    last_analysis: AnalysisMemory | None = None
    evidence: EvidenceMemory | None = None
    traffic: TrafficMemory = TrafficMemory()
    rollback_target: str | None = None
    previous_version: str | None = None
    warm: tuple[WarmMemory, ...] = ()
    history: tuple[HistoryMemory, ...] = ()
    blocked_versions: tuple[str, ...] = ()
    handled_requests: tuple[str, ...] = ()
    sources: tuple[SourceMemory, ...] = ()
    waiting_for: Gate | None = None
    # Absent when empty (what the release before wrote stays byte-identical when re-written).
    draining_versions: tuple[str, ...] | None = None
    draining_generation: int | None = None
    draining_since: Time | None = None


def figures_model(figures: Figures | None) -> api.AnalysisFigures | None:
    """The figures of one version under the status' names."""
    if figures is None:
        return None
    return api.AnalysisFigures(
        requests=figures.requests,
        errors=figures.errors,
        error_rate=figures.error_rate,
        p99_latency_ms=figures.p99_ms,
        mean_confidence=figures.mean_confidence,
    )


def _figures(model: api.AnalysisFigures | None) -> Figures | None:
    if model is None:
        return None
    return Figures(
        requests=model.requests,
        errors=model.errors,
        error_rate=model.error_rate,
        p99_ms=model.p99_latency_ms,
        mean_confidence=model.mean_confidence,
    )


def comparison_model(figures: ComparisonFigures | None) -> api.AnalysisComparison | None:
    """The same-input comparison under the status' names."""
    if figures is None:
        return None
    return api.AnalysisComparison(
        compared=figures.compared,
        rows=figures.rows,
        dropped=figures.dropped,
        agreement=figures.agreement,
        mean_confidence_delta=figures.mean_confidence_delta,
        max_output_distance=figures.max_output_distance,
        distribution_shift=figures.distribution_shift,
        top_flips=[
            api.LabelFlip.model_validate({"from": source[:128], "to": target[:128], "count": n})
            for source, target, n in figures.top_flips
        ]
        or None,
    )


def _comparison(model: api.AnalysisComparison | None) -> ComparisonFigures | None:
    if model is None:
        return None
    return ComparisonFigures(
        compared=model.compared,
        rows=model.rows,
        dropped=model.dropped,
        agreement=model.agreement,
        mean_confidence_delta=model.mean_confidence_delta,
        max_output_distance=model.max_output_distance,
        distribution_shift=model.distribution_shift,
        top_flips=tuple((f.from_, f.to, f.count) for f in model.top_flips or ()),
    )


def sequential_model(figures: SequentialFigures | None) -> api.AnalysisSequential | None:
    if figures is None:
        return None
    return api.AnalysisSequential(
        canary_requests=figures.canary_requests,
        canary_errors=figures.canary_errors,
        stable_requests=figures.stable_requests,
        stable_errors=figures.stable_errors,
        error_harm=figures.error_harm,
        latency_harm=figures.latency_harm,
        error_good=figures.error_good,
        latency_good=figures.latency_good,
    )


def _sequential(model: api.AnalysisSequential | None) -> SequentialFigures | None:
    if model is None:
        return None
    return SequentialFigures(
        canary_requests=model.canary_requests,
        canary_errors=model.canary_errors,
        stable_requests=model.stable_requests,
        stable_errors=model.stable_errors,
        error_harm=model.error_harm,
        latency_harm=model.latency_harm,
        error_good=model.error_good,
        latency_good=model.latency_good,
    )


def _evidence_memory(evidence: Evidence | None) -> EvidenceMemory | None:
    if evidence is None:
        return None
    return EvidenceMemory(**{name: getattr(evidence, name) for name in EvidenceMemory.model_fields})


def _evidence(memory: EvidenceMemory | None) -> Evidence | None:
    if memory is None:
        return None
    defaults = Evidence()
    values = {name: getattr(memory, name) for name in EvidenceMemory.model_fields}
    for name in ("error_harm", "slow_harm", "error_good", "slow_good"):
        if len(values[name]) != len(getattr(defaults, name)):
            values[name] = getattr(defaults, name)  # another grid: start that test over
    return Evidence(**values)


def to_memory(status: RolloutStatus) -> RolloutMemory:
    last = status.last_analysis
    return RolloutMemory(
        phase=status.phase,
        message=status.message,
        stable_version=status.stable_version,
        canary_version=status.canary_version,
        canary_weight=status.canary_weight,
        effective_weight=status.effective_weight,
        step=status.step,
        steps_fingerprint=status.steps_fingerprint,
        canary_started_at=status.canary_started_at,
        step_started_at=status.step_started_at,
        step_analysis_passed=status.step_analysis_passed,
        paused_reason=status.paused_reason,
        analysis_failures=status.analysis_failures,
        analysis_inconclusive=status.analysis_inconclusive,
        analysis_window_from=status.analysis_window_from,
        last_analysis=None
        if last is None
        else AnalysisMemory(
            at=last.at,
            verdict=VERDICT_WORDS[last.verdict],
            reasons=last.reasons,
            canary=figures_model(last.canary),
            stable=figures_model(last.stable),
            version=last.version,
            step=last.step,
            comparison=comparison_model(last.comparison),
            sequential=sequential_model(last.sequential),
        ),
        evidence=_evidence_memory(status.evidence),
        traffic=TrafficMemory(
            generation=status.traffic.generation,
            canary_version=status.traffic.canary_version,
            weight=status.traffic.weight,
            mode=status.traffic.mode,
            mirror=status.traffic.mirror or None,
        ),
        rollback_target=status.rollback_target,
        previous_version=status.previous_version,
        warm=tuple(WarmMemory(version=w.version, until=w.until) for w in status.warm),
        history=tuple(
            HistoryMemory(version=h.version, outcome=h.outcome, at=h.at, reason=h.reason)
            for h in status.history
        ),
        blocked_versions=status.blocked_versions,
        handled_requests=status.handled_requests,
        sources=tuple(SourceMemory(version=v, source=s) for v, s in status.sources),
        waiting_for=status.waiting_for,
        draining_versions=status.draining_versions or None,
        draining_generation=status.draining_generation or None,
        draining_since=status.draining_since,
    )


def from_memory(memory: RolloutMemory) -> RolloutStatus:
    last = memory.last_analysis
    return RolloutStatus(
        phase=memory.phase,
        message=memory.message,
        stable_version=memory.stable_version,
        canary_version=memory.canary_version,
        canary_weight=memory.canary_weight,
        effective_weight=memory.effective_weight,
        step=memory.step,
        steps_fingerprint=memory.steps_fingerprint,
        canary_started_at=memory.canary_started_at,
        step_started_at=memory.step_started_at,
        step_analysis_passed=memory.step_analysis_passed,
        paused_reason=memory.paused_reason,
        analysis_failures=memory.analysis_failures,
        analysis_inconclusive=memory.analysis_inconclusive,
        analysis_window_from=memory.analysis_window_from,
        last_analysis=None
        if last is None
        else AnalysisRecord(
            at=last.at,
            verdict=_VERDICTS_BY_WORD[last.verdict],
            reasons=tuple(last.reasons),
            canary=_figures(last.canary),
            stable=_figures(last.stable),
            version=last.version,
            step=last.step,
            comparison=_comparison(last.comparison),
            sequential=_sequential(last.sequential),
        ),
        evidence=_evidence(memory.evidence),
        traffic=TrafficState(
            generation=memory.traffic.generation,
            canary_version=memory.traffic.canary_version,
            weight=memory.traffic.weight,
            mode=memory.traffic.mode,
            mirror=memory.traffic.mirror or 0.0,
        ),
        rollback_target=memory.rollback_target,
        previous_version=memory.previous_version,
        warm=tuple(WarmVersion(w.version, w.until) for w in memory.warm),
        history=tuple(
            HistoryEntry(version=h.version, outcome=h.outcome, at=h.at, reason=h.reason)
            for h in memory.history
        ),
        blocked_versions=tuple(memory.blocked_versions),
        handled_requests=tuple(memory.handled_requests),
        sources=tuple((s.version, s.source) for s in memory.sources),
        waiting_for=memory.waiting_for,
        draining_versions=tuple(memory.draining_versions or ()),
        draining_generation=memory.draining_generation or 0,
        draining_since=memory.draining_since,
    )


def _upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """What the encoding before this one wrote, in this one's words (times need nothing:
    ``+00:00`` is RFC 3339 too)."""
    last = raw.get("lastAnalysis")
    if not isinstance(last, dict):
        return raw
    last = dict(last)
    verdict = last.get("verdict")
    if isinstance(verdict, str) and verdict in {v.value for v in Verdict}:
        last["verdict"] = VERDICT_WORDS[Verdict(verdict)]
    for side in ("canary", "stable"):
        figures = last.get(side)
        if isinstance(figures, dict) and "p99Ms" in figures:
            figures = dict(figures)
            figures.setdefault("p99LatencyMs", figures.pop("p99Ms"))
            last[side] = {k: v for k, v in figures.items() if v is not None}
    return {**raw, "lastAnalysis": last}


def _where(error: pydantic.ValidationError) -> str:
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    return f"status.rollout{'.' + path if path else ''}: {first['msg']}"


def read_rollout_status(raw: Any) -> RolloutStatus:
    """The machine's memory from ``status.rollout``; empty or missing is the initial one."""
    if not raw:
        return RolloutStatus()
    if not isinstance(raw, dict):
        raise StatusDecodeError(f"status.rollout: not an object: {raw!r}")
    try:
        return from_memory(RolloutMemory.model_validate(_upgrade(raw)))
    except pydantic.ValidationError as error:
        raise StatusDecodeError(_where(error)) from None


def write_rollout_status(status: RolloutStatus) -> dict[str, Any]:
    """``status.rollout`` as stored (no null members: what a merge patch leaves)."""
    return to_memory(status).model_dump(mode="json", by_alias=True, exclude_none=True)
