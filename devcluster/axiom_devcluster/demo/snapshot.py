"""What the demo reads of the AxiomModel at a moment, and how it says it in one line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    """The parts of an AxiomModel's status the story follows."""

    phase: str
    stable: str
    canary: str
    weight: float | None
    step: int | None
    verdict: str
    reasons: str
    blocked: tuple[str, ...]
    analysis_at: str = ""
    # Versions out of the split that stable pods may still forward to (status.drainingVersions).
    draining: tuple[str, ...] = ()
    figures: str = ""

    @classmethod
    def of(cls, model: dict[str, Any] | None) -> Snapshot:
        status = (model or {}).get("status") or {}
        last = status.get("lastAnalysis") or {}
        reasons = last.get("reasons") or ([last["message"]] if last.get("message") else [])
        return cls(
            phase=str(status.get("phase") or "-"),
            stable=str(status.get("stableVersion") or "-"),
            canary=str(status.get("canaryVersion") or ""),
            weight=status.get("canaryWeight"),
            step=status.get("step"),
            verdict=str(last.get("verdict") or ""),
            reasons="; ".join(str(r) for r in reasons),
            blocked=tuple(status.get("blockedVersions") or ()),
            analysis_at=str(last.get("time") or ""),
            draining=tuple(status.get("drainingVersions") or ()),
            figures=analysis_figures(last),
        )

    def describe(self, *, with_analysis: bool = True) -> str:
        text = f"phase {self.phase}, stable {self.stable}"
        if self.canary:
            weight = "?" if self.weight is None else f"{self.weight:g}%"
            step = "" if self.step is None else f" (step {self.step + 1})"
            text += f", canary {self.canary} at {weight}{step}"
        if self.verdict and with_analysis:
            text += f", last analysis {self.verdict}"
            if self.reasons:
                text += f" ({self.reasons})"
        if self.blocked:
            text += f", blocked {', '.join(self.blocked)}"
        if self.draining:
            text += f", {', '.join(self.draining)} draining (stable pods may still forward to it)"
        return text

    def analysis_line(self) -> str:
        """The last analysis as a user reads it in status.lastAnalysis: verdict and figures."""
        when = self.analysis_at[11:19] if len(self.analysis_at) >= 19 else self.analysis_at
        return f"lastAnalysis {when}: {self.verdict}; {self.figures}"


def _version_figures(figures: dict[str, Any] | None) -> str:
    if not figures:
        return "no figures"
    parts = [f"{figures.get('requests', 0)} requests, {figures.get('errors', 0)} errors"]
    if figures.get("p99LatencyMs") is not None:
        parts.append(f"p99 {float(figures['p99LatencyMs']):.1f} ms")
    if figures.get("meanConfidence") is not None:
        parts.append(f"mean confidence {float(figures['meanConfidence']):.3f}")
    return ", ".join(parts)


def analysis_figures(last: dict[str, Any]) -> str:
    """status.lastAnalysis's canary and stable figures in one line (empty when none)."""
    if not last:
        return ""
    text = (
        f"canary {last.get('version', '?')}: {_version_figures(last.get('canary'))} | "
        f"stable: {_version_figures(last.get('stable'))}"
    )
    comparison = last.get("comparison")
    if comparison:
        text += f" | shadow: {_comparison_figures(comparison)}"
    return text


def _comparison_figures(comparison: dict[str, Any]) -> str:
    """status.lastAnalysis.comparison in a few words: rows, agreement, top flips."""
    parts = [f"{comparison.get('rows', 0)} mirrored rows"]
    if comparison.get("agreement") is not None:
        parts.append(f"agreement {float(comparison['agreement']):.3f}")
    if comparison.get("meanConfidenceDelta") is not None:
        parts.append(f"confidence delta {float(comparison['meanConfidenceDelta']):.3f}")
    flips = comparison.get("topFlips") or []
    if flips:
        parts.append(
            "flips " + ", ".join(f"{f.get('from')}->{f.get('to')} x{f.get('count')}" for f in flips)
        )
    if comparison.get("dropped"):
        parts.append(f"{comparison['dropped']} copies dropped")
    return ", ".join(parts)


def ready_condition(model: dict[str, Any] | None) -> str:
    """The Ready condition as one short line, for progress output."""
    for condition in ((model or {}).get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return f"Ready={condition.get('status')} {condition.get('reason')}: {condition.get('message', '')[:90]}"
    return "no status yet" if model else "not created"


def ready(model: dict[str, Any] | None) -> bool:
    for condition in ((model or {}).get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False
