"""The dashboard's memory: per model, its state now and its figures over time (pure).

Each poll of the AxiomModels adds a point to each model's weight series (the weight the
canary should get and the weight it gets: ``status.canaryWeight``, ``effectiveWeight``; 0
without a canary) and, when ``status.lastAnalysis`` is a new one, a point to its analysis
series (error rate, p99 latency, mean confidence of the canary, and of the stable). Series
are bounded (``MAX_POINTS``): the view is a live view, not a store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_POINTS = 600


@dataclass
class ModelSeries:
    weights: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_POINTS))
    analyses: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_POINTS))
    state: dict[str, Any] = field(default_factory=dict)


def versions(model: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every version the model knows, newest outcome first: the live ones, then history."""
    status = model.get("status") or {}
    found: dict[str, str] = {}
    if status.get("canaryVersion"):
        found[status["canaryVersion"]] = "canary"
    if status.get("stableVersion"):
        found.setdefault(status["stableVersion"], "stable")
    for entry in reversed(status.get("history") or ()):
        found.setdefault(entry.get("version", "?"), str(entry.get("outcome", "")))
    return [{"version": v, "role": role} for v, role in found.items()]


def _state(model: Mapping[str, Any]) -> dict[str, Any]:
    status = model.get("status") or {}
    meta = model["metadata"]
    return {
        "namespace": meta.get("namespace"),
        "name": meta["name"],
        "specVersion": (model.get("spec") or {}).get("version"),
        "phase": status.get("phase"),
        "message": status.get("message"),
        "stableVersion": status.get("stableVersion"),
        "canaryVersion": status.get("canaryVersion"),
        "canaryWeight": status.get("canaryWeight") or 0.0,
        "effectiveWeight": status.get("effectiveWeight"),
        "step": status.get("step"),
        "waitingFor": status.get("waitingFor"),
        "lastAnalysis": status.get("lastAnalysis"),
        "versions": versions(model),
    }


def _analysis_point(last: Mapping[str, Any]) -> dict[str, Any]:
    canary, stable = last.get("canary") or {}, last.get("stable") or {}
    return {
        "time": last.get("time"),
        "verdict": last.get("verdict"),
        "version": last.get("version"),
        "canary": {k: canary.get(k) for k in ("errorRate", "p99LatencyMs", "meanConfidence")},
        "stable": {k: stable.get(k) for k in ("errorRate", "p99LatencyMs", "meanConfidence")},
    }


def record(
    memory: dict[tuple[str, str], ModelSeries], models: Iterable[Mapping[str, Any]], now: float
) -> None:
    """Add this poll's points; forget models that are gone."""
    seen = set()
    for model in models:
        key = (model["metadata"].get("namespace", ""), model["metadata"]["name"])
        seen.add(key)
        series = memory.setdefault(key, ModelSeries())
        series.state = _state(model)
        weight = series.state["canaryWeight"] if series.state["canaryVersion"] else 0.0
        effective = series.state["effectiveWeight"]
        series.weights.append({"t": now, "weight": weight, "effective": effective})
        last = series.state["lastAnalysis"]
        if last and (not series.analyses or series.analyses[-1]["time"] != last.get("time")):
            series.analyses.append({"t": now, **_analysis_point(last)})
    for gone in set(memory) - seen:
        del memory[gone]


def snapshot(memory: Mapping[tuple[str, str], ModelSeries], now: float) -> dict[str, Any]:
    return {
        "now": now,
        "models": [
            {**s.state, "weights": list(s.weights), "analyses": list(s.analyses)}
            for _, s in sorted(memory.items())
        ],
    }
