"""The ``kubectl axiom get`` tree: a pure rendering of the objects already read.

The model and its phase on top; under it each version that has a Deployment (stable, canary,
or kept warm for a rollback), its Deployment's ready replicas and its pods; then the weight and
step of the canary, the last analysis with its figures (canary beside stable), and the
certificate verdict and signer of spec.version as the operator's own check gives it.
Everything comes from the status fields the operator publishes (``status.canaryWeight``,
``status.lastAnalysis``, ...), never from ``status.rollout``, whose layout may change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from axiom_operator.resources.labels import VERSION_LABEL
from axiom_operator.values import GateOutcome


@dataclass(frozen=True)
class Verdict:
    """The certificate check of one version (:func:`.verify.verify_version`)."""

    version: str
    outcome: GateOutcome


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _version_of(obj: Mapping[str, Any]) -> str:
    return str((obj["metadata"].get("labels") or {}).get(VERSION_LABEL, "?"))


def _percent(value: Any) -> str:
    return "-" if value is None else f"{float(value):g}%"


def figures_line(figures: Mapping[str, Any] | None) -> str:
    """``120 req, 1 err (0.83%), p99 12.5 ms, confidence 0.93`` of api.AnalysisFigures."""
    if not figures:
        return "no figures"
    parts = [f"{figures.get('requests', 0)} req", f"{figures.get('errors', 0)} err"]
    if figures.get("errorRate") is not None:
        parts[-1] += f" ({100 * float(figures['errorRate']):.2f}%)"
    if figures.get("p99LatencyMs") is not None:
        parts.append(f"p99 {float(figures['p99LatencyMs']):.1f} ms")
    if figures.get("meanConfidence") is not None:
        parts.append(f"confidence {float(figures['meanConfidence']):.3f}")
    return ", ".join(parts)


def _role(version: str, status: Mapping[str, Any], spec_version: str) -> str:
    if version == status.get("stableVersion"):
        return "stable"
    if version == status.get("canaryVersion"):
        return "canary"
    # Out of the split, still running while stable pods may forward to it (docs/rollout.md).
    draining = ", draining" if version in (status.get("drainingVersions") or ()) else ""
    if version in (status.get("blockedVersions") or ()):
        return "blocked" + draining
    if draining:
        return "draining"
    return "spec" if version == spec_version else "warm"


def _branch(lines: list[str], items: Sequence[str], indent: str) -> None:
    for position, item in enumerate(items):
        last = position == len(items) - 1
        first, *rest = item.split("\n")
        lines.append(f"{indent}{'└── ' if last else '├── '}{first}")
        lines.extend(f"{indent}{'    ' if last else '│   '}{line}" for line in rest)


def render(
    model: Mapping[str, Any],
    deployments: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    verdict: Verdict | None,
) -> str:
    meta, spec = model["metadata"], model.get("spec") or {}
    status = model.get("status") or {}
    steps = ((spec.get("rollout") or {}).get("steps")) or ()
    head = (
        f"AxiomModel {meta.get('namespace')}/{meta['name']}  phase {status.get('phase') or '-'}"
        f"  spec.version {spec.get('version')}"
    )
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        head += f"  (operator has not seen generation {meta.get('generation')} yet)"
    items: list[str] = []
    by_version = sorted(
        deployments,
        key=lambda d: (_version_of(d) != status.get("stableVersion"), d["metadata"]["name"]),
    )
    for deployment in by_version:
        version = _version_of(deployment)
        want = (deployment.get("spec") or {}).get("replicas", 0)
        ready = (deployment.get("status") or {}).get("readyReplicas") or 0
        line = (
            f"{_role(version, status, spec.get('version', ''))} {version}  "
            f"Deployment {deployment['metadata']['name']}  {ready}/{want} ready"
        )
        owned = sorted(
            (p for p in pods if _version_of(p) == version),
            key=lambda p: p["metadata"]["name"],
        )
        pod_lines: list[str] = []
        _branch(
            pod_lines,
            [f"Pod {p['metadata']['name']}  {'Ready' if _ready(p) else 'NotReady'}" for p in owned],
            "",
        )
        items.append("\n".join([line, *pod_lines]))
    if status.get("canaryVersion"):
        step = status.get("step")
        step_text = "-" if step is None or not steps else f"{int(step) + 1}/{len(steps)}"
        items.append(
            f"traffic  canary {status['canaryVersion']} weight {_percent(status.get('canaryWeight'))}"
            f" (effective {_percent(status.get('effectiveWeight'))})  step {step_text}"
        )
    else:
        items.append(f"traffic  {status.get('stableVersion') or '-'} 100%")
    if status.get("waitingFor"):
        items.append(f"waiting  for the {status['waitingFor']} gate to answer 2xx")
    items.append(analysis_text(status.get("lastAnalysis")))
    if verdict is not None:
        items.append(certificate_line(verdict))
    if status.get("message"):
        items.append(f"message  {status['message']}")
    lines = [head]
    _branch(lines, items, "")
    return "\n".join(lines)


def analysis_text(last: Mapping[str, Any] | None) -> str:
    if not last:
        return "analysis  none yet"
    step = last.get("step")
    where = f"{last.get('version') or '?'}" + ("" if step is None else f" step {int(step) + 1}")
    text = f"analysis  {last.get('verdict') or '?'} at {last.get('time') or '?'} ({where})"
    rows = [f"canary: {figures_line(last.get('canary'))}"]
    if last.get("stable"):
        rows.append(f"stable: {figures_line(last.get('stable'))}")
    rows += [f"why: {reason}" for reason in last.get("reasons") or ()]
    sub: list[str] = []
    _branch(sub, rows, "")
    return "\n".join([text, *sub])


def certificate_line(verdict: Verdict) -> str:
    outcome = verdict.outcome
    word = {True: "Valid", False: "Refused", None: "Unknown"}[outcome.valid]
    text = f"certificate {verdict.version}  {word} ({outcome.reason})"
    if outcome.signer:
        text += f"  signed by {outcome.signer}"
    if not outcome.valid:
        text += f"\n{outcome.message}"
    return text
