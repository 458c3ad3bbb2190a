"""RolloutStatus <-> the JSON-compatible dict stored in ``AxiomModel.status.rollout``.

The status is the machine's only memory across operator restarts, so it must round-trip
exactly: ``status_from_dict(status_to_dict(s)) == s`` is a unit test. Keys are camelCase
as Kubernetes status fields are; times are RFC 3339 in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from axiom_operator.rollout.analysis import Figures, Verdict
from axiom_operator.rollout.model import (
    AnalysisRecord,
    HistoryEntry,
    Outcome,
    PauseReason,
    Phase,
    RolloutStatus,
    TrafficMode,
    TrafficState,
    WarmVersion,
)


class StatusDecodeError(ValueError):
    """A stored rollout status that cannot be read back; names the field."""


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise StatusDecodeError(
            f"status.rollout.{field}: not an RFC 3339 time: {value!r}"
        ) from None
    if parsed.tzinfo is None:
        raise StatusDecodeError(f"status.rollout.{field}: time without a timezone: {value!r}")
    return parsed


def _required_time(value: Any, field: str) -> datetime:
    parsed = _parse_time(value, field)
    if parsed is None:
        raise StatusDecodeError(f"status.rollout.{field}: missing")
    return parsed


def _figures_to_dict(figures: Figures | None) -> dict[str, Any] | None:
    if figures is None:
        return None
    return {
        "requests": figures.requests,
        "errors": figures.errors,
        "errorRate": figures.error_rate,
        "p99Ms": figures.p99_ms,
        "meanConfidence": figures.mean_confidence,
    }


def _figures_from_dict(raw: Any) -> Figures | None:
    if raw is None:
        return None
    return Figures(
        requests=int(raw["requests"]),
        errors=int(raw["errors"]),
        error_rate=raw.get("errorRate"),
        p99_ms=raw.get("p99Ms"),
        mean_confidence=raw.get("meanConfidence"),
    )


def status_to_dict(status: RolloutStatus) -> dict[str, Any]:
    last = status.last_analysis
    return {
        "phase": status.phase.value,
        "message": status.message,
        "stableVersion": status.stable_version,
        "canaryVersion": status.canary_version,
        "canaryWeight": status.canary_weight,
        "effectiveWeight": status.effective_weight,
        "step": status.step,
        "stepsFingerprint": status.steps_fingerprint,
        "canaryStartedAt": _time(status.canary_started_at),
        "stepStartedAt": _time(status.step_started_at),
        "stepAnalysisPassed": status.step_analysis_passed,
        "pausedReason": None if status.paused_reason is None else status.paused_reason.value,
        "analysisFailures": status.analysis_failures,
        "analysisInconclusive": status.analysis_inconclusive,
        "analysisWindowFrom": _time(status.analysis_window_from),
        "lastAnalysis": None
        if last is None
        else {
            "at": _time(last.at),
            "verdict": last.verdict.value,
            "reasons": list(last.reasons),
            "canary": _figures_to_dict(last.canary),
            "stable": _figures_to_dict(last.stable),
            "version": last.version,
            "step": last.step,
        },
        "traffic": {
            "generation": status.traffic.generation,
            "canaryVersion": status.traffic.canary_version,
            "weight": status.traffic.weight,
            "mode": status.traffic.mode.value,
        },
        "rollbackTarget": status.rollback_target,
        "previousVersion": status.previous_version,
        "warm": [{"version": w.version, "until": _time(w.until)} for w in status.warm],
        "history": [
            {
                "version": h.version,
                "outcome": h.outcome.value,
                "at": _time(h.at),
                "reason": h.reason,
            }
            for h in status.history
        ],
        "blockedVersions": list(status.blocked_versions),
        "handledRequests": list(status.handled_requests),
        "sources": [{"version": v, "source": s} for v, s in status.sources],
    }


def status_from_dict(raw: dict[str, Any] | None) -> RolloutStatus:
    """Read a stored status; an empty or missing one is the initial status."""
    if not raw:
        return RolloutStatus()
    try:
        last_raw = raw.get("lastAnalysis")
        traffic_raw = raw.get("traffic") or {}
        paused = raw.get("pausedReason")
        return RolloutStatus(
            phase=Phase(raw.get("phase", Phase.PENDING.value)),
            message=raw.get("message", ""),
            stable_version=raw.get("stableVersion"),
            canary_version=raw.get("canaryVersion"),
            canary_weight=float(raw.get("canaryWeight", 0.0)),
            effective_weight=raw.get("effectiveWeight"),
            step=raw.get("step"),
            steps_fingerprint=raw.get("stepsFingerprint", ""),
            canary_started_at=_parse_time(raw.get("canaryStartedAt"), "canaryStartedAt"),
            step_started_at=_parse_time(raw.get("stepStartedAt"), "stepStartedAt"),
            step_analysis_passed=bool(raw.get("stepAnalysisPassed", False)),
            paused_reason=None if paused is None else PauseReason(paused),
            analysis_failures=int(raw.get("analysisFailures", 0)),
            analysis_inconclusive=int(raw.get("analysisInconclusive", 0)),
            analysis_window_from=_parse_time(raw.get("analysisWindowFrom"), "analysisWindowFrom"),
            last_analysis=None
            if last_raw is None
            else AnalysisRecord(
                at=_required_time(last_raw.get("at"), "lastAnalysis.at"),
                verdict=Verdict(last_raw["verdict"]),
                reasons=tuple(last_raw.get("reasons", ())),
                canary=_figures_from_dict(last_raw.get("canary")),
                stable=_figures_from_dict(last_raw.get("stable")),
                version=last_raw.get("version"),
                step=last_raw.get("step"),
            ),
            traffic=TrafficState(
                generation=int(traffic_raw.get("generation", 0)),
                canary_version=traffic_raw.get("canaryVersion"),
                weight=float(traffic_raw.get("weight", 0.0)),
                mode=TrafficMode(traffic_raw.get("mode", TrafficMode.RUNTIME.value)),
            ),
            rollback_target=raw.get("rollbackTarget"),
            previous_version=raw.get("previousVersion"),
            warm=tuple(
                WarmVersion(w["version"], _required_time(w.get("until"), "warm.until"))
                for w in raw.get("warm", ())
            ),
            history=tuple(
                HistoryEntry(
                    version=h["version"],
                    outcome=Outcome(h["outcome"]),
                    at=_required_time(h.get("at"), "history.at"),
                    reason=h.get("reason", ""),
                )
                for h in raw.get("history", ())
            ),
            blocked_versions=tuple(raw.get("blockedVersions", ())),
            handled_requests=tuple(raw.get("handledRequests", ())),
            sources=tuple((s["version"], s["source"]) for s in raw.get("sources", ())),
        )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, StatusDecodeError):
            raise
        raise StatusDecodeError(f"status.rollout: cannot be read back: {error!r}") from error
